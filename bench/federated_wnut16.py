"""Federated LoRA on WNUT-16 (issue 9): federated vs centralised vs each party alone.

The WNUT-16 train split (seed 13, 80/10/10: 1,915 sentences) is cut into N parties, IID and
Dirichlet-skewed by main entity type. For each partition:

* ``federated``  `cotune federate simulate`'s code path: a real Flower SuperLink + N SuperNodes
                 on loopback (TLS), configs/federated-wnut16-lora.yaml (LoRA r=8, FedAvg,
                 8 rounds x 4 local epochs: a party makes as many steps as the centralised
                 recipe), with its ledger;
* ``alone``      each party training by itself with the same schedule (a one-party federation
                 in process: same rounds, same local steps, same last-round model);

both named by their schedule, ROUNDS x LOCAL_EPOCHS (``federated-iid-8x1``), so runs with other
``--rounds``/``--local-epochs`` sit beside them in one results file;

with `--jobs ...,secure` (opt-in, ~1.5-2 h a partition at 8 x 4):

* ``secure``     the same federation under Flower's SecAgg+
                 (configs/federated-wnut16-lora-secagg.yaml: the server sees only each round's
                 weighted mean): its cost in bytes and time, its F1 beside the plain one's;

and once:

* ``centralised`` the ordinary fine-tune recipe on the whole train split (LoRA, same lr,
                 ``--central-epochs`` 8, best dev epoch kept; named by its epochs:
                 ``centralised-8ep``).

Test entity F1 on the same 240 test sentences, bytes per round, wall time. Results go to
bench/results/federated_wnut16.{json,md}; every finished job is saved at once and skipped by a
rerun (resumable; a federated run killed half-way resumes from its server checkpoint).

    .venv/bin/python bench/federated_wnut16.py                       # full (~3.5 h on 2 cores)
    .venv/bin/python bench/federated_wnut16.py --local-epochs 1      # the 8 x 1 rows (~1.5 h)
    .venv/bin/python bench/federated_wnut16.py --schemes dirichlet --strategy fedprox \
        --jobs federated                                             # FedProx beside FedAvg
    .venv/bin/python bench/federated_wnut16.py --limit 60 --rounds 1 --parties 2 \\
        --out /tmp/fed_smoke.json --work /tmp/fed_smoke                # smoke (~3 min)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "federated-wnut16-lora.yaml"
SECURE_CONFIG = ROOT / "configs" / "federated-wnut16-lora-secagg.yaml"
RESULTS = ROOT / "bench" / "results"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--parties", type=int, default=4)
    p.add_argument("--schemes", default="iid,dirichlet", help="comma-separated: iid, dirichlet")
    p.add_argument("--alpha", type=float, default=0.5, help="Dirichlet concentration")
    p.add_argument("--rounds", type=int, default=None, help="default: the config's")
    p.add_argument("--local-epochs", type=float, default=None, help="default: the config's")
    p.add_argument(
        "--strategy",
        choices=("fedavg", "fedprox"),
        default=None,
        help="default: the config's; a FedProx run is named -fedprox<mu> and compared with the "
        "parties alone of its schedule (a party alone always trains plainly)",
    )
    p.add_argument("--proximal-mu", type=float, default=None, help="default: the config's")
    p.add_argument(
        "--central-epochs",
        type=float,
        default=8.0,
        help="epochs of the centralised LoRA recipe (best dev epoch kept)",
    )
    p.add_argument("--limit", type=int, default=None, help="examples per split (smoke runs)")
    p.add_argument("--backbone", default=None, help="default: the config's (minilm-l6)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per process")
    p.add_argument(
        "--jobs", default="centralised,alone,federated", help="and secure (SecAgg+, opt-in)"
    )
    p.add_argument("--insecure", action="store_true", help="no TLS on loopback")
    p.add_argument("--out", type=Path, default=RESULTS / "federated_wnut16.json")
    p.add_argument("--work", type=Path, default=ROOT / "runs" / "bench-federated-wnut16")
    p.add_argument("--force", action="store_true", help="rerun finished jobs")
    return p.parse_args(argv)


def base_config(
    args: argparse.Namespace, scheme: str, config: Path = CONFIG, *, plain: bool = False
) -> Any:
    """The federated config of `scheme`, with the flags applied (`plain`: FedAvg whatever the
    flags and config say, for a party alone)."""
    from cotune.federated.config import load_federated_config

    overrides: dict[str, Any] = {
        "federation.parties": args.parties,
        "federation.partition.scheme": scheme,
        "federation.partition.alpha": args.alpha,
        "train.threads": args.threads,
        "tracking.backend": "none",
    }
    if args.rounds is not None:
        overrides["federation.rounds"] = args.rounds
    if args.local_epochs is not None:
        overrides["federation.local_epochs"] = args.local_epochs
    if plain:
        overrides["federation.strategy"] = "fedavg"
    else:
        if args.strategy is not None:
            overrides["federation.strategy"] = args.strategy
        if args.proximal_mu is not None:
            overrides["federation.proximal_mu"] = args.proximal_mu
    if args.limit is not None:
        overrides["data.limit"] = args.limit
    if args.backbone is not None:
        overrides["model.backbone"] = args.backbone
    cfg = load_federated_config(config, overrides)
    # one folder per partition, schedule and strategy: a federated run resumes from its own
    # checkpoint
    out = args.work / f"{scheme}-{schedule_name(cfg)}{strategy_suffix(cfg)}"
    return cfg.model_copy(update={"output_dir": out})


def schedule_name(cfg: Any) -> str:
    return f"{cfg.federation.rounds}x{cfg.federation.local_epochs:g}"


def strategy_suffix(cfg: Any) -> str:
    """'' for FedAvg (the names runs had before FedProx was benched), '-fedprox<mu>' else."""
    fed = cfg.federation
    return "" if fed.strategy == "fedavg" else f"-{fed.strategy}{fed.proximal_mu:g}"


def centralised(args: argparse.Namespace) -> dict[str, Any]:
    """The ordinary recipe on all the training data, LoRA, `--central-epochs` epochs."""
    import torch

    from cotune.config.schema import RunConfig
    from cotune.recipes.finetune import finetune

    fed = base_config(args, "iid")
    torch.set_num_threads(max(2, args.threads))
    raw = fed.model_dump(mode="json")
    raw.pop("federation")
    raw["train"]["epochs"] = args.central_epochs
    raw["train"]["threads"] = max(2, args.threads)
    raw["output_dir"] = str(args.work / "centralised")
    raw["name"] = "centralised"
    cfg = RunConfig.model_validate(raw)
    t0 = time.perf_counter()
    out = finetune(cfg, overwrite=True, progress=False)
    m = json.loads((out / "metrics.json").read_text())
    return {
        "schedule": f"{cfg.train.epochs:g} epochs",
        "test_f1": m["test"]["f1"],
        "dev_f1": m["dev"]["f1"],
        "epochs": m["training"]["epochs"],
        "wall_seconds": round(time.perf_counter() - t0, 1),
        "bytes_per_round": None,
    }


def alone(args: argparse.Namespace, scheme: str, party: dict[str, Any]) -> dict[str, Any]:
    """One party by itself: a one-party federation in process (same rounds and local steps)."""
    import torch

    from cotune.data import load_splits
    from cotune.data.load import read_labelled
    from cotune.federated.inprocess import run_inprocess
    from cotune.federated.local import LocalParty
    from cotune.federated.server import ServerModel

    torch.set_num_threads(max(2, args.threads))
    cfg = base_config(args, scheme, plain=True)
    fed = cfg.federation.model_copy(
        update={
            "min_clients": 1,
            "ledger": cfg.federation.ledger.model_copy(update={"shapley": "off"}),
        }
    )
    train = cfg.train.model_copy(update={"threads": max(2, args.threads)})  # runs alone
    cfg = cfg.model_copy(
        update={"federation": fed, "train": train, "name": f"alone-{party['name']}"}
    )
    splits, _ = load_splits(cfg.data)
    model = ServerModel(cfg, splits)
    examples = read_labelled(Path(party["path"]), cfg.data.model_copy(update={"limit": None}))
    local = LocalParty(cfg, examples, model.labels, name=party["name"], task_model=model.tm)
    t0 = time.perf_counter()
    run_dir = cfg.output_dir / cfg.run_name()
    result = run_inprocess(model, {party["name"]: local}, run_dir)
    return {
        "scheme": scheme,
        "schedule": schedule_name(cfg),
        "party": party["name"],
        "examples": party["examples"],
        "test_f1": result["test"]["f1"],
        "dev_f1": result["dev"]["f1"],
        "wall_seconds": round(time.perf_counter() - t0, 1),
        "bytes_per_round": None,
    }


def federated(args: argparse.Namespace, scheme: str, secure: bool = False) -> dict[str, Any]:
    from cotune.federated.deploy import simulate
    from cotune.federated.state import ServerState

    cfg = base_config(args, scheme, SECURE_CONFIG if secure else CONFIG)
    run_dir = cfg.output_dir / cfg.run_name()
    resume = ServerState.exists(run_dir / "server") and not args.force
    t0 = time.perf_counter()
    result = simulate(cfg, insecure=args.insecure, resume=resume, overwrite=not resume)
    ledger = json.loads(Path(result["ledger"]).read_text())
    return {
        "scheme": scheme,
        "schedule": schedule_name(cfg),
        "strategy": cfg.federation.strategy,
        "proximal_mu": cfg.federation.proximal_mu if cfg.federation.strategy == "fedprox" else None,
        "test_f1": result["test"]["f1"],
        "dev_f1": result["dev"]["f1"],
        "dev_per_round": result["dev_per_round"],
        "wall_seconds": round(time.perf_counter() - t0, 1),
        "resumed": resume,
        "bytes_per_round": {
            "up": result["bytes_up_per_round"],
            "down": result["bytes_down_per_round"],
            "per_update": result["bytes_per_update"],
            "full_model": result["full_model_bytes"],
        },
        "ledger": ledger,
    }


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {"jobs": {}}


def save(path: Path, results: dict[str, Any], central_job: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=2))
    os.replace(tmp, path)
    path.with_suffix(".md").write_text(markdown(results, central_job))


def markdown(results: dict[str, Any], central_job: str) -> str:
    jobs = results["jobs"]
    lines = [
        "# Federated LoRA on WNUT-16",
        "",
        f"On {results.get('machine', '')}; last run `{results.get('command', '')}`.",
        "",
        "| job | partition | rounds x local epochs | test F1 | dev F1 | MB up / round "
        "| MB per update (full model) | wall s |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for name, j in sorted(jobs.items()):
        b = j.get("bytes_per_round") or {}
        up = f"{sum(b['up']) / len(b['up']) / 1e6:.2f}" if b.get("up") else "-"
        per = (
            f"{b['per_update'] / 1e6:.3f} ({b['full_model'] / 1e6:.1f})"
            if b.get("per_update")
            else "-"
        )
        lines.append(
            f"| {name} | {j.get('scheme', '-')} | {j.get('schedule', '-')} | "
            f"{100 * j['test_f1']:.2f} | "
            f"{100 * j['dev_f1']:.2f} | {up} | {per} | {j['wall_seconds']:.0f} |"
        )
    commands = sorted({j["command"] for j in jobs.values() if "command" in j})
    lines += ["", *verdict(jobs, central_job), "", "Commands:", ""]
    lines += [f"- `{c}`" for c in commands]
    for name, j in sorted(jobs.items()):
        if "ledger" in j:
            from cotune.federated.report import ledger_markdown

            lines += [
                "",
                f"## Ledger of {name}",
                "",
                ledger_markdown(j["ledger"]).split("\n", 2)[2],
            ]
    return "\n".join(lines) + "\n"


def verdict(jobs: dict[str, Any], central_job: str) -> list[str]:
    """Each federated run against the centralised recipe and its own schedule's parties alone."""
    out = []
    central = jobs.get(central_job)
    for name, fed in sorted(jobs.items()):
        if not name.startswith("federated-"):
            continue
        scheme, schedule = fed["scheme"], fed["schedule"]
        alone = [
            j
            for j in jobs.values()
            if "party" in j and j["scheme"] == scheme and j["schedule"] == schedule
        ]
        best_alone = max((j["test_f1"] for j in alone), default=None)
        strategy = "" if fed.get("strategy", "fedavg") == "fedavg" else f" {fed['strategy']}"
        line = f"- {scheme}, {schedule}{strategy}: federated {100 * fed['test_f1']:.2f}"
        if central:
            gap = 100 * (central["test_f1"] - fed["test_f1"])
            ok = gap <= 3 if scheme == "iid" else None
            line += (
                f", {gap:+.2f} F1 behind centralised {100 * central['test_f1']:.2f} "
                f"({central['epochs']:g} epochs)"
            )
            if ok is not None:
                line += " (target <= 3: " + ("met" if ok else "NOT met") + ")"
        if best_alone is not None:
            above = fed["test_f1"] > best_alone
            line += f"; best party alone {100 * best_alone:.2f} ("
            line += "federated above every party alone" if above else "NOT above every party"
            line += ")"
        out.append(line)
    return out


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    os.environ.setdefault("COTUNE_TRACKING", "none")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # the head-missing load report, once per model built
    from cotune.federated.deploy import split_parties

    results = load(args.out)
    results["command"] = "python " + " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])
    results["machine"] = (
        f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}"
    )
    results["date"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    jobs: dict[str, Any] = results["jobs"]
    wanted = set(args.jobs.split(","))
    central_job = f"centralised-{args.central_epochs:g}ep"

    def run(name: str, fn: Any, *fn_args: Any) -> None:
        if name in jobs and not args.force:
            print(f"{name}: done (skipped)")
            return
        print(f"{name}: running ...", flush=True)
        jobs[name] = {
            "job": name,
            **fn(*fn_args),
            "command": results["command"],
            "date": results["date"],
        }
        save(args.out, results, central_job)
        print(f"{name}: test F1 {100 * jobs[name]['test_f1']:.2f}", flush=True)

    if "centralised" in wanted:
        run(central_job, centralised, args)
    for scheme in args.schemes.split(","):
        cfg = base_config(args, scheme)
        sched, strategy = schedule_name(cfg), strategy_suffix(cfg)
        parties = split_parties(cfg, args.work / scheme / "parties")
        if "alone" in wanted:
            for party in parties:
                run(f"alone-{scheme}-{sched}-{party['name']}", alone, args, scheme, party)
        if "federated" in wanted:
            run(f"federated-{scheme}-{sched}{strategy}", federated, args, scheme)
        if "secure" in wanted:
            run(f"secure-{scheme}-{sched}{strategy}", federated, args, scheme, True)
    save(args.out, results, central_job)
    print("\n".join(verdict(jobs, central_job)))


if __name__ == "__main__":
    main()
