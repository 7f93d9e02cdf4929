"""Augmentation bench (issue 26): does `data.augment` help a model trained on a few hundred
sentences, and does it cost anything at 500?

Training subsets are the first N sentences of each corpus's seeded training split (WNUT-16 and
People's Daily: seed 13, 80/10/10; rt-polarity: stratified, seed 13), the same N sentences for
every variant and seed. Every run trains MiniLM-L6 (full fine-tuning) for a fixed number of
optimizer steps (the same for a variant and its baseline, so augmentation buys variety, not
compute), evaluates dev once at the end and the test split once. Variants:

* ``none``          no augmentation
* ``all``           every operation of the task (NER: Dai & Adel's four; text: EDA's four)
* ``op:NAME``       one operation alone
* ``syn:SOURCE``    synonym replacement alone with another synonym source (wordnet/embeddings)

Each variant runs with 3 seeds (training seed = augmentation seed). The paired bootstrap
(bench/paired_bootstrap.py's counts and resampling) compares a variant with ``none`` on the
test sentences, each sentence's counts summed over the seeds (pooled F1 / accuracy).

Runs are appended to the JSON as they finish; a rerun skips the runs already there, so the
bench can be stopped and continued. Groups, in priority order: core (all vs none at every
size), single (each operation alone at one size), synonyms (wordnet vs embeddings).

    nice -n 10 .venv/bin/python bench/augment.py                       # everything, in order
    nice -n 10 .venv/bin/python bench/augment.py --groups core          # the target first
    .venv/bin/python bench/augment.py --report                          # tables from the JSON
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from paired_bootstrap import example_counts, metric_from_sums, paired_bootstrap

RESULTS = Path(__file__).resolve().parent / "results"
SEEDS = (1, 2, 3)

# corpus -> (catalog source, task, dev sentences kept, test sentences kept (None: all))
CORPORA: dict[str, tuple[str, str, int, int | None]] = {
    "wnut16": ("wnut16", "token-classification", 100, None),
    "rt-polarity": ("rt-polarity", "sequence-classification", 100, None),
    "peoples-daily": ("peoples-daily-1998", "token-classification", 100, 300),
}
# (corpus, training sentences) -> optimizer steps, batch 16
STEPS = {
    ("wnut16", 50): 60,
    ("wnut16", 150): 90,
    ("wnut16", 500): 150,
    ("rt-polarity", 100): 50,
    ("rt-polarity", 500): 90,
    ("peoples-daily", 100): 60,
}
NER_OPS = ("label_wise", "synonym", "mention", "shuffle")
EDA_OPS = ("synonym", "insert", "swap", "delete")


def plan(groups: list[str]) -> list[list[tuple[str, int, str]]]:
    """Blocks of (corpus, size, variant) in priority order; a block runs seed by seed, so a
    bench cut short still holds complete pairs."""
    blocks: list[list[tuple[str, int, str]]] = []
    if "core" in groups:
        blocks += [[(corpus, size, "none"), (corpus, size, "all")] for corpus, size in STEPS]
    if "single" in groups:
        blocks.append([("wnut16", 150, f"op:{op}") for op in NER_OPS])
        blocks.append([("rt-polarity", 100, f"op:{op}") for op in EDA_OPS])
    if "synonyms" in groups:  # op:synonym runs the default (wordnet for English)
        blocks.append([("wnut16", 150, "syn:embeddings"), ("rt-polarity", 100, "syn:embeddings")])
    return blocks


def prepare(corpus: str, size: int, folder: Path) -> dict[str, Path]:
    """Write the N-sentence training subset, dev and test of `corpus` as files."""
    from cotune.config.schema import DataConfig
    from cotune.data import load_splits
    from cotune.data.examples import TokenExample

    source, _, n_dev, n_test = CORPORA[corpus]
    splits, _ = load_splits(DataConfig(source=source))
    parts = {
        "train": splits.train[:size],
        "dev": splits.dev[:n_dev],
        "test": splits.test[:n_test] if n_test else splits.test,
    }
    # a type absent from a small training subset cannot be predicted, and cotune refuses dev/test
    # data holding it: its tags become O in this size's dev and test (the same for every variant)
    known = {t[2:] for ex in parts["train"] if isinstance(ex, TokenExample) for t in ex.tags}
    for name in ("dev", "test"):
        parts[name] = [
            TokenExample(ex.tokens, [t if t[2:] in known else "O" for t in ex.tags], ex.origin)
            if isinstance(ex, TokenExample)
            else ex
            for ex in parts[name]
        ]
    paths: dict[str, Path] = {}
    for name, rows in parts.items():
        if isinstance(rows[0], TokenExample):
            path = folder / f"{corpus}-{size}-{name}.conll"
            text = "".join(
                "".join(f"{t}\t{g}\n" for t, g in zip(ex.tokens, ex.tags, strict=True)) + "\n"
                for ex in rows
                if isinstance(ex, TokenExample)
            )
        else:
            path = folder / f"{corpus}-{size}-{name}.jsonl"
            text = "".join(
                json.dumps({"text": ex.text, "label": ex.labels[0]}, ensure_ascii=False) + "\n"
                for ex in rows
                if not isinstance(ex, TokenExample)
            )
        path.write_text(text, encoding="utf-8")
        paths[name] = path
    return paths


def augment_section(corpus: str, variant: str, seed: int) -> dict[str, Any] | None:
    if variant == "none":
        return None
    if variant == "all":
        return {"seed": seed}
    if variant.startswith("op:"):
        return {"seed": seed, "operations": [variant[3:]]}
    return {"seed": seed, "operations": ["synonym"], "synonyms": variant[4:]}


def run_one(
    corpus: str,
    size: int,
    variant: str,
    seed: int,
    files: dict[str, Path],
    work: Path,
    threads: int = 2,
) -> dict[str, Any]:
    from cotune.artifact import load_artifact
    from cotune.config.schema import RunConfig
    from cotune.recipes.finetune import finetune

    _, task, _, _ = CORPORA[corpus]
    steps = STEPS[(corpus, size)]
    cfg = RunConfig(
        name=f"{corpus}-{size}-{variant.replace(':', '-')}-s{seed}",
        task=task,  # type: ignore[arg-type]
        data={
            "train": files["train"],
            "dev": files["dev"],
            "test": files["test"],
            "augment": augment_section(corpus, variant, seed),
        },
        model={"backbone": "minilm-l6", "max_length": 64},
        train={
            "epochs": 10_000,  # max_steps decides
            "max_steps": steps,
            "eval_every": steps,  # dev once, at the end
            "lr": 1e-4,
            "head_lr": 1e-3,
            "batch_size": 16,
            "seed": seed,
            "threads": threads,
        },
        tracking={"backend": "none"},
        output_dir=work,
    )
    t0 = time.perf_counter()
    out = finetune(cfg, overwrite=True, progress=False, evaluate_test=False)
    seconds = time.perf_counter() - t0
    predictor = load_artifact(out)
    from cotune.data.load import read_labelled

    test = read_labelled(files["test"], cfg.data)
    predictions = predictor.predict(test)
    metrics = predictor.task.metrics(predictions, test)
    key = "f1" if task == "token-classification" else "accuracy"
    counts = example_counts(key, predictions, test)
    meta = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    record = predictor.meta.data.get("split", {}).get("augment")
    shutil.rmtree(out)
    return {
        "corpus": corpus,
        "size": size,
        "variant": variant,
        "seed": seed,
        "steps": steps,
        "metric": key,
        "test": float(metrics[key]),
        "dev": float(meta["dev"].get(key, float("nan"))),
        "train_sentences": record.get("sentences_out", size) if record else size,
        "augment": record,
        "seconds": round(seconds, 1),
        "counts": counts.tolist(),
    }


def _key(r: dict[str, Any]) -> tuple[str, int, str, int]:
    return (r["corpus"], r["size"], r["variant"], r["seed"])


def fidelity(artifact: Path, sources: list[str], ratio: float, seed: int = 0) -> dict[str, Any]:
    """Does a synonym source keep the label? A model trained on the full corpus (an artifact of
    `make train`) scores its own test split as it is and with synonym replacement (the synonym
    operation alone, at `ratio`) from each source; inference only. A source whose replacements
    keep the meaning keeps the score; antonyms ('good' -> 'bad') or wrong senses lower it."""
    from cotune.artifact import load_artifact
    from cotune.augment.apply import build_context, operations_for
    from cotune.config.augment import AugmentConfig
    from cotune.config.schema import DataConfig
    from cotune.data import load_splits
    from cotune.data.examples import TokenExample

    predictor = load_artifact(artifact)
    data = {k: v for k, v in predictor.meta.config["data"].items() if k != "augment"}
    splits, _ = load_splits(DataConfig(**data))
    test = splits.test
    kind = "tokens" if isinstance(test[0], TokenExample) else "text"
    key = "f1" if kind == "tokens" else "accuracy"
    original = predictor.task.metrics(predictor.predict(test), test)[key]
    out: dict[str, Any] = {
        "artifact": str(artifact),
        "metric": key,
        "ratio": ratio,
        "examples": len(test),
        "original": round(100 * float(original), 2),
    }
    for source in sources:
        cfg = AugmentConfig(operations=["synonym"], ratio=ratio, synonyms=source, seed=seed)
        ops = operations_for(kind, cfg.operations)  # type: ignore[arg-type]
        ctx, _ = build_context(splits.train, cfg, kind, ops)  # type: ignore[arg-type]
        import random

        changed = [ops[0].fn(ex, ctx, random.Random(f"{seed}|{i}")) for i, ex in enumerate(test)]
        pairs = [(ex, new) for ex, new in zip(test, changed, strict=True) if new is not None]
        olds, news = [p[0] for p in pairs], [p[1] for p in pairs]
        before = predictor.task.metrics(predictor.predict(olds), olds)[key]
        after = predictor.task.metrics(predictor.predict(news), news)[key]
        out[source] = {
            "changed_examples": len(pairs),
            "score_on_them_before": round(100 * float(before), 2),
            "score_on_them_after": round(100 * float(after), 2),
            "drop": round(100 * (float(before) - float(after)), 2),
        }
        print(artifact.name, source, out[source], flush=True)
    return out


def load_results(path: Path) -> dict[str, Any]:
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    return {"runs": []}


def save_results(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (corpus, size, variant): mean and sd over seeds, and the paired bootstrap vs none."""
    groups: dict[tuple[str, int, str], list[dict[str, Any]]] = {}
    for r in runs:
        groups.setdefault((r["corpus"], r["size"], r["variant"]), []).append(r)
    rows = []
    for (corpus, size, variant), rs in groups.items():
        rs = sorted(rs, key=lambda r: r["seed"])
        scores = np.array([r["test"] for r in rs]) * 100
        row: dict[str, Any] = {
            "corpus": corpus,
            "size": size,
            "variant": variant,
            "metric": rs[0]["metric"],
            "seeds": [r["seed"] for r in rs],
            "test_mean": round(float(scores.mean()), 2),
            "test_sd": round(float(scores.std(ddof=1)), 2) if len(rs) > 1 else None,
            "train_sentences": rs[0]["train_sentences"],
            "seconds_mean": round(float(np.mean([r["seconds"] for r in rs])), 1),
        }
        base = {r["seed"]: r for r in groups.get((corpus, size, "none"), [])}
        paired = [r for r in rs if r["seed"] in base]
        if variant != "none" and paired:
            a = np.sum([np.array(r["counts"]) for r in paired], axis=0)
            b = np.sum([np.array(base[r["seed"]]["counts"]) for r in paired], axis=0)
            boot = paired_bootstrap(rs[0]["metric"], a, b, samples=10_000, seed=0)
            row["paired_seeds"] = [r["seed"] for r in paired]
            row["delta_mean"] = round(
                float(np.mean([100 * (r["test"] - base[r["seed"]]["test"]) for r in paired])), 2
            )
            row["pooled_a"] = round(100 * boot["a"], 2)
            row["pooled_b"] = round(100 * boot["b"], 2)
            row["pooled_delta"] = round(100 * boot["diff"], 2)
            row["ci95"] = [round(100 * x, 2) for x in boot["ci95"]]
            row["p_not_better"] = round(boot["p_a_not_better"], 4)
            assert abs(float(metric_from_sums(rs[0]["metric"], a.sum(axis=0))) - boot["a"]) < 1e-9
        rows.append(row)
    order = {v: i for i, v in enumerate(["none", "all"])}
    rows.sort(key=lambda r: (r["corpus"], r["size"], order.get(r["variant"], 9), r["variant"]))
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| corpus | train sentences | variant | sentences after augmentation | test (mean ± sd, "
        "3 seeds) | Δ vs none (mean of seeds) | pooled Δ [95% CI] | P(not better) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        sd = f" ± {r['test_sd']:.2f}" if r["test_sd"] is not None else ""
        delta = f"{r['delta_mean']:+.2f}" if "delta_mean" in r else ""
        pooled = (
            f"{r['pooled_delta']:+.2f} [{r['ci95'][0]:+.2f}, {r['ci95'][1]:+.2f}]"
            if "pooled_delta" in r
            else ""
        )
        p = f"{r['p_not_better']:.3f}" if "p_not_better" in r else ""
        lines.append(
            f"| {r['corpus']} | {r['size']} | {r['variant']} | {r['train_sentences']} | "
            f"{r['metric']} {r['test_mean']:.2f}{sd} | {delta} | {pooled} | {p} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--groups", default="core,single,synonyms")
    ap.add_argument("--corpora", default=",".join(CORPORA), help="only these corpora")
    ap.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    ap.add_argument("--out", type=Path, default=RESULTS / "augment.json")
    ap.add_argument("--report", action="store_true", help="only write the tables from the JSON")
    ap.add_argument("--threads", type=int, default=2, help="torch threads per run")
    ap.add_argument(
        "--shard",
        default="0/1",
        help="K/N: run every N-th planned run from the K-th, into OUT's .shardK.json (N "
        "niced processes use the cycles the machine's other jobs leave); --report merges them",
    )
    ap.add_argument(
        "--fidelity",
        nargs="*",
        type=Path,
        help="instead of training: score these trained artifacts on their test split with "
        "synonym replacement from wordnet and from embeddings (inference only)",
    )
    ap.add_argument("--budget-minutes", type=float, default=None, help="stop starting runs after")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from machine import machine  # type: ignore[import-not-found]

    if args.fidelity:
        path = args.out.with_name("augment_synonyms.json")
        results = [
            fidelity(a, ["wordnet", "embeddings"], ratio) for a in args.fidelity for ratio in (0.3,)
        ]
        save_results(
            path,
            {"machine": machine(), "command": "python " + " ".join(sys.argv), "results": results},
        )
        return
    data = load_results(args.out)
    for shard_file in sorted(args.out.parent.glob(args.out.stem + ".shard*.json")):
        known = {_key(r) for r in data["runs"]}
        data["runs"] += [r for r in load_results(shard_file)["runs"] if _key(r) not in known]
    data["machine"] = machine()
    data["command"] = "python " + " ".join(sys.argv)
    if not args.report:
        k, n = (int(x) for x in args.shard.split("/"))
        out = args.out if n == 1 else args.out.with_suffix(f".shard{k}.json")
        mine = load_results(out) if n > 1 else data
        done = {_key(r) for r in data["runs"]}
        seeds = [int(s) for s in args.seeds.split(",")]
        corpora = args.corpora.split(",")
        todo = [
            (corpus, size, variant, seed)
            for block in plan(args.groups.split(","))
            for seed in seeds
            for corpus, size, variant in block
            if corpus in corpora
        ]
        todo = [r for i, r in enumerate(todo) if i % n == k and r not in done]
        work = Path(tempfile.mkdtemp(prefix="cotune-augment-bench-"))
        files: dict[tuple[str, int], dict[str, Path]] = {}
        started = time.monotonic()
        try:
            for corpus, size, variant, seed in todo:
                if args.budget_minutes and time.monotonic() - started > 60 * args.budget_minutes:
                    print("budget spent: stopping before", corpus, size, variant, seed)
                    break
                if (corpus, size) not in files:
                    files[(corpus, size)] = prepare(corpus, size, work)
                r = run_one(corpus, size, variant, seed, files[(corpus, size)], work, args.threads)
                mine["runs"].append(r)
                if mine is not data:
                    data["runs"].append(r)
                mine["machine"], mine["command"] = data["machine"], data["command"]
                save_results(out, mine)
                print(
                    f"{corpus} {size} {variant} seed {seed}: test {r['metric']} "
                    f"{100 * r['test']:.2f} ({r['train_sentences']} sentences, {r['seconds']} s)",
                    flush=True,
                )
        finally:
            shutil.rmtree(work, ignore_errors=True)
        if n > 1:
            return  # --report merges the shards into OUT
    data["summary"] = summarise(data["runs"])
    save_results(args.out, data)
    table = markdown(data["summary"])
    args.out.with_suffix(".md").write_text(table, encoding="utf-8")
    print(table)


if __name__ == "__main__":
    main()
