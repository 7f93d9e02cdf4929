"""Readers, tag schemes and the errors bad data gets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cotune.config.schema import DataConfig
from cotune.data.formats import read_conll, read_csv, read_jsonl
from cotune.data.load import load_splits
from cotune.data.tagging import detect_scheme, to_iob2
from cotune.errors import DataError


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return p


def test_conll_tab_space_docstart_and_lone_tab_breaks(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "a.conll",
        "-DOCSTART- O\n\nJohn\tB-PER\nruns\tO\n\t\nParis B-LOC\nis O\n\n\n",
    )
    sents = read_conll(p)
    assert [s.tokens for s in sents] == [["John", "runs"], ["Paris", "is"]]
    assert [s.tags for s in sents] == [["B-PER", "O"], ["B-LOC", "O"]]
    assert sents[1].origin == f"{p}:6"


def test_conll_multi_column_takes_first_and_last(tmp_path: Path) -> None:
    p = write(tmp_path, "c.conll", "EU NNP B-NP B-ORG\nrejects VBZ B-VP O\n")
    (s,) = read_conll(p)
    assert s.tokens == ["EU", "rejects"] and s.tags == ["B-ORG", "O"]


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("John\tB-PER\nruns\n", ":2"),  # missing tag column
        ("John\tB-PERSON\nruns\tX-FOO\n", "X-FOO"),  # unknown tag
        ("", "empty"),
        (b"caf\xe9\tO\n", "not UTF-8"),
    ],
)
def test_conll_errors_name_file_and_line(tmp_path: Path, content: str | bytes, needle: str) -> None:
    p = write(tmp_path, "bad.conll", content)
    with pytest.raises(DataError) as e:
        read_conll(p)
    assert str(p) in str(e.value) and needle in str(e.value) and "Fix:" in str(e.value)


def test_undecodable_bytes_report_the_line(tmp_path: Path) -> None:
    p = write(tmp_path, "bad.conll", b"ok\tO\n\nfine\tO\ncaf\xe9\tO\n")
    with pytest.raises(DataError, match=r"bad\.conll:4"):
        read_conll(p)


def test_jsonl_tokens_and_text_rows(tmp_path: Path) -> None:
    p = write(tmp_path, "t.jsonl", json.dumps({"tokens": ["a", "b"], "tags": ["B-X", "I-X"]}))
    assert read_jsonl(p)[0].tags == ["B-X", "I-X"]
    q = write(
        tmp_path,
        "c.jsonl",
        '{"text": "hi", "label": "pos"}\n{"text": "yo", "labels": ["a", "b"]}\n',
    )
    rows = read_jsonl(q)
    assert rows[0].labels == ["pos"] and rows[1].labels == ["a", "b"]


def test_jsonl_count_mismatch_and_bad_json(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "t.jsonl",
        '{"tokens": ["a"], "tags": ["O"]}\n{"tokens": ["a", "b"], "tags": ["O"]}\n',
    )
    with pytest.raises(DataError, match=r"t\.jsonl:2: 2 tokens but 1 tags"):
        read_jsonl(p)
    q = write(tmp_path, "j.jsonl", '{"text": "a", "label": "x"}\n{"text": \n')
    with pytest.raises(DataError, match=r"j\.jsonl:2: not valid JSON"):
        read_jsonl(q)


def test_csv_columns_and_multilabel(tmp_path: Path) -> None:
    p = write(tmp_path, "d.csv", 'text,label\n"hello, world",a|b\nbye,c\n')
    rows = read_csv(p, label_separator="|")
    assert rows[0].text == "hello, world" and rows[0].labels == ["a", "b"]
    with pytest.raises(DataError, match="no column 'sentence'"):
        read_csv(p, text_column="sentence")


def test_schemes_detected_and_converted() -> None:
    iob1 = [["I-PER", "I-PER", "B-PER", "O", "I-LOC"]]
    assert detect_scheme(iob1) == "IOB1"
    assert to_iob2(iob1[0], "IOB1") == ["B-PER", "I-PER", "B-PER", "O", "B-LOC"]
    iobes = [["S-PER", "O", "B-LOC", "I-LOC", "E-LOC"]]
    assert detect_scheme(iobes) == "IOBES"
    assert to_iob2(iobes[0], "IOBES") == ["B-PER", "O", "B-LOC", "I-LOC", "I-LOC"]
    assert detect_scheme([["B-PER", "I-PER", "O"]]) == "IOB2"


def test_i_without_b_is_an_error_or_repaired(tmp_path: Path) -> None:
    p = write(tmp_path, "r.conll", "a\tB-X\nb\tO\nc\tI-X\n\nd\tB-X\n")
    with pytest.raises(
        DataError, match=r"r\.conll:1: .I-X. at token 3 continues no X entity(.|\n)*repair_tags"
    ):
        load_splits(DataConfig(train=p, dev=p, test=p, tag_scheme="IOB2"))
    splits, _ = load_splits(DataConfig(train=p, dev=p, test=p, tag_scheme="IOB2", repair_tags=True))
    assert splits.train[0].tags == ["B-X", "O", "B-X"]


def test_unknown_label_in_dev_is_refused(tmp_path: Path) -> None:
    train = write(
        tmp_path, "train.jsonl", '{"text": "a", "label": "pos"}\n{"text": "b", "label": "neg"}\n'
    )
    dev = write(tmp_path, "dev.jsonl", '{"text": "c", "label": "neutral"}\n')
    with pytest.raises(
        DataError, match=r"dev\.jsonl:1: label 'neutral' in dev never occurs in train"
    ):
        load_splits(DataConfig(train=train, dev=dev))
