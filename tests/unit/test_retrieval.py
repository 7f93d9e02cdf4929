"""cotune.retrieval: encoder, contrastive trainer, index backends, BM25, fusion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from cotune.errors import ArtifactError, DataError
from cotune.retrieval import (
    ContrastiveConfig,
    LexicalIndex,
    SentenceEncoder,
    build_index,
    fine_tune,
    fuse,
    open_index,
    tokenize,
)
from cotune.retrieval.contrastive import _batches


def _unit(n: int, d: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_encoder_is_mean_pooling_normalised(tiny_backbone: Path) -> None:
    enc = SentenceEncoder(tiny_backbone)
    texts = ["paris is a city", "the film was great and good", "x"]
    vecs = enc.encode(texts, batch_size=2)
    assert vecs.shape == (3, enc.dim) and vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    # reference: one text at a time, no padding, plain mean over tokens
    for text, vec in zip(texts, vecs, strict=True):
        batch = enc.tokenizer(text, return_tensors="pt")
        with torch.no_grad():
            hidden = enc.model(**batch).last_hidden_state[0]
        ref = hidden.mean(0)
        ref = (ref / ref.norm()).numpy()
        np.testing.assert_allclose(vec, ref, atol=1e-5)


def test_encoder_save_load_roundtrip(tiny_backbone: Path, tmp_path: Path) -> None:
    enc = SentenceEncoder(tiny_backbone, max_length=16)
    enc.save(tmp_path / "enc")
    back = SentenceEncoder.load(tmp_path / "enc")
    assert back.max_length == 16
    np.testing.assert_allclose(back.encode(["apple and google"]), enc.encode(["apple and google"]))


def test_encoder_refuses_non_strings(tiny_backbone: Path) -> None:
    with pytest.raises(DataError, match=r"texts\[1\]"):
        SentenceEncoder(tiny_backbone).encode(["ok", None])  # type: ignore[list-item]


def test_batches_never_repeat_a_positive() -> None:
    import random

    pairs = [(f"a{i}", f"p{i % 4}") for i in range(40)]
    batches = _batches(pairs, 8, random.Random(0))
    assert sorted(i for b in batches for i in b) == list(range(40))  # all 4-per-batch fit
    for batch in batches:
        positives = [pairs[i][1] for i in batch]
        assert len(positives) == len(set(positives))


def test_contrastive_fine_tune_learns_the_pairs(tiny_backbone: Path) -> None:
    """Anchors and positives share no words; only training can link them."""
    enc = SentenceEncoder(tiny_backbone)
    words = ["paris", "london", "berlin", "york", "john", "mary", "obama", "apple"]
    others = ["google", "microsoft", "amazon", "city", "company", "film", "movie", "person"]
    pairs = [(f"{a} {a}", f"{b} {b}") for a, b in zip(words, others, strict=True)]

    def hit_rate() -> float:
        a = enc.encode([p[0] for p in pairs])
        b = enc.encode([p[1] for p in pairs])
        return float(np.mean((a @ b.T).argmax(1) == np.arange(len(pairs))))

    before = hit_rate()
    cfg = ContrastiveConfig(epochs=30, batch_size=8, lr=3e-3, seed=0)
    losses = fine_tune(enc, pairs, config=cfg, progress=False)
    assert losses[-1] < losses[0]
    assert hit_rate() == 1.0 > before


def test_contrastive_with_hard_negatives_and_refuses_one_pair(tiny_backbone: Path) -> None:
    enc = SentenceEncoder(tiny_backbone)
    pairs = [("paris", "london"), ("apple", "google"), ("film", "movie")]
    negs = ["berlin", None, "person"]
    losses = fine_tune(enc, pairs, hard_negatives=negs, config=ContrastiveConfig(epochs=2))
    assert len(losses) == 2 and all(np.isfinite(losses))
    with pytest.raises(DataError, match="at least 2 pairs"):
        fine_tune(enc, pairs[:1])


@pytest.mark.parametrize("kind", ["flat", "hnsw", "qdrant"])
def test_index_matches_brute_force_and_roundtrips(kind: str, tmp_path: Path) -> None:
    vecs, queries = _unit(300, 16, 0), _unit(20, 16, 1)
    ids = [f"doc-{i}" for i in range(300)]
    options = {"path": tmp_path / "live"} if kind == "qdrant" else {}
    index = build_index(kind, 16, **options)
    index.add(ids[:100], vecs[:100])
    index.add(ids[100:], vecs[100:])
    assert len(index) == 300
    truth = np.argsort(-(queries @ vecs.T), axis=1)[:, :5]
    hits = index.search(queries, 5)
    found = [[ids.index(i) for i, _ in row] for row in hits]
    recall = np.mean([len(set(f) & set(t)) / 5 for f, t in zip(found, truth, strict=True)])
    assert recall >= (0.95 if kind == "hnsw" else 1.0)
    for row in hits:
        scores = [s for _, s in row]
        assert scores == sorted(scores, reverse=True)
        for id_, s in row:
            assert s == pytest.approx(float(queries[hits.index(row)] @ vecs[ids.index(id_)]), 1e-4)
    with pytest.raises(DataError, match="already in the index"):
        index.add(["doc-3"], vecs[:1])
    with pytest.raises(DataError, match="dim"):
        index.search(np.ones((1, 8), dtype=np.float32), 3)
    index.save(tmp_path / "saved")
    if kind == "qdrant":
        index.close()  # type: ignore[attr-defined]
    back = open_index(tmp_path / "saved")
    assert back.kind == kind and len(back) == 300
    assert [i for i, _ in back.search(queries[:1], 5)[0]] == [i for i, _ in hits[0]]
    if kind == "qdrant":
        back.close()  # type: ignore[attr-defined]


def test_index_edge_cases(tmp_path: Path) -> None:
    index = build_index("flat", 4)
    assert index.search(np.ones((2, 4), dtype=np.float32), 3) == [[], []]
    index.add(["a", "b"], _unit(2, 4))
    assert len(index.search(_unit(1, 4), 10)[0]) == 2  # k beyond the size: all of them
    with pytest.raises(DataError, match="ids for"):
        index.add(["c"], _unit(2, 4))
    with pytest.raises(DataError, match="NaN"):
        index.add(["c"], np.full((1, 4), np.nan))
    with pytest.raises(ArtifactError, match="index.json"):
        open_index(tmp_path)
    from cotune.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown index backend"):
        build_index("annoy", 4)


def test_tokenize_english_chinese_and_mixed() -> None:
    assert tokenize("How do I block my CARD?") == ["block", "card"]
    assert tokenize("挂失银行卡", "chars") == ["挂", "失", "银", "行", "卡"]
    assert tokenize("挂失卡", "bigrams") == ["挂", "失", "卡", "挂失", "失卡"]
    assert "银行卡" in tokenize("我要挂失银行卡", "jieba") or "银行" in tokenize(
        "我要挂失银行卡", "jieba"
    )
    assert tokenize("ＰＩＮ码 reset", "chars") == ["pin", "码", "reset"]  # NFKC: full-width


def test_bm25_ranks_exact_words_and_drops_non_matches(tmp_path: Path) -> None:
    ids = ["card", "transfer", "pin", "zh"]
    texts = ["block a lost card", "send money abroad by SWIFT", "reset my PIN", "挂失银行卡"]
    lex = LexicalIndex(ids, texts)
    hits = lex.search(["what is a swift code", "I lost my card", "qwerty", "银行卡丢了"], 3)
    assert hits[0][0][0] == "transfer" and hits[1][0][0] == "card"
    assert hits[2] == []
    assert hits[3][0][0] == "zh"
    lex.save(tmp_path)
    assert LexicalIndex.load(tmp_path).search(["reset pin"], 1)[0][0][0] == "pin"


def test_fusion_rules() -> None:
    dense = [("a", 0.9), ("b", 0.8), ("c", 0.1)]
    lexical = [("c", 12.0), ("b", 6.0)]
    rrf = fuse([dense, lexical], "rrf")
    # ranks (3, 1) edge out (2, 2): 1/63 + 1/61 > 2/62; a is in one list only
    assert [i for i, _ in rrf] == ["c", "b", "a"]
    assert dict(rrf) == pytest.approx({"a": 1 / 61, "b": 2 / 62, "c": 1 / 63 + 1 / 61})
    mix = fuse([dense, lexical], "mix", weights=[1.0, 0.5])
    assert dict(mix)["c"] == pytest.approx(0.1 / 0.9 + 0.5)
    with pytest.raises(ValueError):
        fuse([dense], "max")  # type: ignore[arg-type]
