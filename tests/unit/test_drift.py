"""Drift detection: the statistics against reference computations, the effect-size gate on
large same-distribution samples, and the whole check on a tiny trained model."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cotune.artifact import load_artifact
from cotune.cli.main import app
from cotune.data.examples import TextExample, TokenExample
from cotune.drift import DriftOptions, detect_drift, from_examples, from_texts, load_sample
from cotune.drift.stats import classifier_auc, distribution_shift, mmd_test, rbf_kernel
from cotune.errors import DataError
from cotune.recipes.finetune import finetune

from .helpers import tiny_config

MOVIE = [
    "a",
    "the",
    "film",
    "movie",
    "great",
    "good",
    "bad",
    "awful",
    "terrible",
    "fine",
    "likes",
    "loves",
    "hates",
    "this",
    "that",
]
CITY = [
    "paris",
    "london",
    "berlin",
    "new",
    "york",
    "city",
    "john",
    "mary",
    "obama",
    "visited",
    "went",
    "saw",
    "today",
]


def sentences(words: list[str], n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(words) for _ in range(rng.randint(3, 8))) for _ in range(n)]


def mmd2_by_loops(x: np.ndarray, y: np.ndarray, sigma2: float) -> float:
    """The unbiased MMD^2 estimator written out term by term (Gretton et al. 2012, eq. 3)."""

    def k(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.exp(-np.sum((a - b) ** 2) / (2 * sigma2)))

    n, m = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(n) for j in range(m)) / (n * m)
    return xx + yy - 2 * xy


def test_mmd_matches_the_estimator_written_out() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(9, 3)), rng.normal(0.5, 1, size=(7, 3))
    value, _, sigma2 = mmd_test(x, y, permutations=100)
    _, check = rbf_kernel(np.concatenate([x, y]))
    assert sigma2 == pytest.approx(check)
    assert value == pytest.approx(mmd2_by_loops(x, y, sigma2), rel=1e-9, abs=1e-12)


def test_mmd_p_values_hold_their_level_and_find_a_shift() -> None:
    rng = np.random.default_rng(1)
    null_p = [
        mmd_test(rng.normal(size=(40, 5)), rng.normal(size=(40, 5)), permutations=200, seed=s)[1]
        for s in range(30)
    ]
    assert sum(p < 0.05 for p in null_p) <= 4  # ~1.5 expected at the 5% level
    shifted = mmd_test(rng.normal(size=(40, 5)), rng.normal(0.8, 1, size=(40, 5)), seed=0)[1]
    assert shifted < 0.01


def test_large_same_distribution_sample_is_significant_but_not_drift() -> None:
    """A tiny real difference on a big sample: p < alpha, yet the classifier can barely tell
    the sets apart, so the practical threshold keeps it from being called drift."""
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(1000, 4)), rng.normal(size=(1000, 4))
    y[:, 0] += 0.2
    _, p, _ = mmd_test(x, y, permutations=200)
    auc = classifier_auc(x, y)
    assert p < 0.01
    assert 0.5 < auc < 0.6
    assert classifier_auc(x, rng.normal(2, 1, size=(1000, 4))) > 0.95


def test_class_shift_is_total_variation() -> None:
    _, p, tvd, detail = distribution_shift([["a"]] * 60 + [["b"]] * 40, [["a"]] * 20 + [["b"]] * 80)
    assert tvd == pytest.approx(0.4)
    assert p is not None and p < 0.001
    assert detail["current"]["b"] == pytest.approx(0.8)


@pytest.fixture(scope="module")
def cls_model(tiny_backbone: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = tiny_config(tiny_backbone, tmp_path_factory.mktemp("drift"), "cls", epochs=5, lr=5e-3)
    return finetune(cfg, progress=False)


def test_domain_change_is_flagged_and_a_resample_is_not(cls_model: Path) -> None:
    predictor = load_artifact(cls_model)
    opts = DriftOptions(permutations=200, min_samples=30)
    ref = from_texts("ref", sentences(MOVIE, 80, 0))
    same = detect_drift(predictor, ref, from_texts("same", sentences(MOVIE, 80, 1)), opts)
    assert not same.drift, same.to_dict()["checks"]
    # other words, and a third of them unknown to the vocabulary
    other = [t + " zzqx ####" for t in sentences(CITY, 80, 2)]
    moved = detect_drift(predictor, ref, from_texts("new", other), opts)
    emb = moved.check("embeddings")
    assert emb.flagged and emb.p_value is not None and emb.p_value < 0.01 and emb.effect > 0.9
    assert moved.check("oov").flagged
    assert moved.drift


def test_label_shift_is_measured_where_labels_exist(cls_model: Path) -> None:
    predictor = load_artifact(cls_model)
    pos = [TextExample(t, ["pos"]) for t in sentences(MOVIE, 60, 3)]
    neg = [TextExample(t, ["neg"]) for t in sentences(MOVIE, 60, 4)]
    ref = from_examples("ref", pos[:30] + neg[:30])
    cur = from_examples("cur", pos[30:] + neg[30:35])
    report = detect_drift(predictor, ref, cur, DriftOptions(permutations=100))
    labels = report.check("labels")
    assert labels.effect == pytest.approx(0.5 - 5 / 35)
    assert labels.flagged


def test_too_small_and_mismatched_sets_are_refused(cls_model: Path) -> None:
    predictor = load_artifact(cls_model)
    ref = from_texts("ref.txt", sentences(MOVIE, 40, 0))
    with pytest.raises(DataError, match="fewer than the 30") as err:
        detect_drift(predictor, ref, from_texts("tiny.txt", sentences(MOVIE, 12, 1)))
    assert err.value.where == "tiny.txt"
    tokens = from_examples("ner.conll", [TokenExample(["paris"], ["B-LOC"])] * 40)
    texts = from_examples("cls.jsonl", [TextExample("a film", ["pos"])] * 40)
    with pytest.raises(DataError, match="different tasks"):
        detect_drift(predictor, texts, tokens)
    with pytest.raises(DataError, match="sequence-classification model"):
        detect_drift(predictor, ref, tokens)


def test_unknown_labels_are_named(cls_model: Path) -> None:
    predictor = load_artifact(cls_model)
    ref = from_examples("ref", [TextExample(t, ["pos"]) for t in sentences(MOVIE, 40, 5)])
    cur = from_examples("cur", [TextExample(t, ["mixed"]) for t in sentences(MOVIE, 40, 6)])
    report = detect_drift(predictor, ref, cur, DriftOptions(permutations=100))
    assert any("'mixed'" in n and "grow_head" in n for n in report.notes)


def test_sample_references(cls_model: Path, tmp_path: Path) -> None:
    meta = load_artifact(cls_model).meta
    test = load_sample("test", own_data=meta.config["data"])
    assert test.kind == "text" and len(test) == 12
    plain = tmp_path / "week.jsonl"
    plain.write_text("".join(json.dumps({"text": t}) + "\n" for t in ["a b", "c"]))
    assert load_sample(str(plain)).texts == ["a b", "c"]
    with pytest.raises(DataError, match="neither a file"):
        load_sample("no-such-thing.txt")
    with pytest.raises(DataError, match="unknown split"):
        load_sample("rt-polarity:val")


def test_cli_writes_json_and_png_and_fails_on_drift(cls_model: Path, tmp_path: Path) -> None:
    ref, cur = tmp_path / "ref.txt", tmp_path / "cur.txt"
    ref.write_text("\n".join(sentences(MOVIE, 60, 0)) + "\n")
    cur.write_text("\n".join(t + " zzqx" for t in sentences(CITY, 60, 1)) + "\n")
    out = tmp_path / "report"
    args = ["drift", str(cls_model), "--reference", str(ref), "--current", str(cur)]
    res = CliRunner().invoke(app, [*args, "--out", str(out), "--permutations", "100", "-q"])
    assert res.exit_code == 0, res.output
    report = json.loads((out / "drift.json").read_text())
    assert report["drift"] and "embeddings" in report["flagged"]
    assert (out / "drift.png").read_bytes()[:4] == b"\x89PNG"
    res = CliRunner().invoke(app, [*args, "--out", str(out), "--fail-on-drift", "-q"])
    assert res.exit_code == 3
    res = CliRunner().invoke(app, [*args, "--alpha", "2", "-q"])
    assert res.exit_code == 2 and "--alpha" in res.output


def test_cli_reads_a_time_range_of_the_monitor_store(cls_model: Path, tmp_path: Path) -> None:
    from sqlalchemy import create_engine, insert

    from cotune.apps.monitor.store import events, meta

    db = tmp_path / "monitor.db"
    engine = create_engine(f"sqlite:///{db}")
    meta.create_all(engine)
    day = 86400.0
    base = 1_764_547_200.0  # 2025-12-01 00:00 UTC
    texts = [(base + i * 60, t) for i, t in enumerate(sentences(MOVIE, 60, 0))]
    texts += [(base + day + i * 60, t + " zzqx") for i, t in enumerate(sentences(CITY, 60, 1))]
    row = dict(win=0, topic="acme", sentiment="pos", negative=0, p_negative=0.1, score=0.0)
    row |= dict(orgs=[], truncated=False, late=False, stored_at=base)
    with engine.begin() as conn:
        for i, (ts, text) in enumerate(texts):
            conn.execute(insert(events).values(id=f"e{i}", ts=ts, text=text, **row))
    out = tmp_path / "r"
    args = ["drift", str(cls_model), "--store", str(db), "--reference-since", "2025-12-01"]
    args += ["--reference-until", "2025-12-02", "--since", "2025-12-02", "--out", str(out), "-q"]
    res = CliRunner().invoke(app, [*args, "--permutations", "100"])
    assert res.exit_code == 0, res.output
    report = json.loads((out / "drift.json").read_text())
    assert report["reference"]["n"] == 60 and report["current"]["n"] == 60
    assert report["drift"] and "embeddings" in report["flagged"]
    res = CliRunner().invoke(app, [*args[:-3], "--until", "yesterday", "-q"])
    assert res.exit_code == 2 and "--until" in res.output
    res = CliRunner().invoke(app, ["drift", str(cls_model), "--since", "2025-12-02", "-q"])
    assert res.exit_code == 2 and "--store" in res.output
