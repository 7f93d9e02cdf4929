"""Interaction readers, their bad-input errors, and the recommender's splits and metrics."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cotune.apps.recommend.metrics import case_metrics, sklearn_ndcg
from cotune.apps.recommend.splits import make_split
from cotune.data.interactions import load_files, read_interactions, read_items
from cotune.errors import DataError


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def items_file(tmp_path: Path, n: int = 6) -> Path:
    return write_jsonl(
        tmp_path / "items.jsonl",
        [{"item": f"i{k}", "text": f"film {k}", "tags": ["a" if k % 2 else "b"]} for k in range(n)],
    )


# ------------------------------------------------------------------ readers


def test_csv_and_jsonl_read_the_same_interactions(tmp_path: Path) -> None:
    csv = tmp_path / "x.csv"
    csv.write_text("user,item,ts,rating\nu1,i1,10,4\nu1,i2,1997-01-01T00:00:00Z,\n")
    jsonl = write_jsonl(
        tmp_path / "x.jsonl",
        [
            {"user": "u1", "item": "i1", "ts": 10, "rating": 4},
            {"user": "u1", "item": "i2", "ts": "1997-01-01T00:00:00Z"},
        ],
    )
    a, b = read_interactions(csv), read_interactions(jsonl)
    assert a == b
    assert a[1].ts == 852076800.0 and a[1].rating is None and a[0].rating == 4.0


def test_integer_ids_are_read_as_strings(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "x.jsonl", [{"user": 7, "item": 42, "ts": 1}])
    assert read_interactions(path)[0].user == "7" and read_interactions(path)[0].item == "42"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"user": 1.0, "item": "i", "ts": 1}, "'user' is float"),
        ({"user": "u", "item": True, "ts": 1}, "'item' is bool"),
        ({"user": "u", "item": None, "ts": 1}, "'item' is NoneType"),
        ({"user": "u", "item": "i"}, "missing 'ts'"),
        ({"user": "u", "item": "i", "ts": "last tuesday"}, "neither seconds"),
        ({"user": "u", "item": "i", "ts": 1, "rating": "good"}, "not a number"),
    ],
)
def test_bad_rows_name_file_line_and_fix(tmp_path: Path, row: dict, message: str) -> None:
    path = write_jsonl(tmp_path / "x.jsonl", [{"user": "u", "item": "i", "ts": 0}, row])
    with pytest.raises(DataError) as e:
        read_interactions(path)
    assert message in str(e.value)
    assert e.value.where == f"{path}:2" and e.value.fix


def test_csv_without_a_ts_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("user,item\nu,i\n")
    with pytest.raises(DataError, match=r"lacks \['ts'\]"):
        read_interactions(path)


def test_items_without_text_and_duplicate_items_are_refused(tmp_path: Path) -> None:
    empty = write_jsonl(
        tmp_path / "a.jsonl", [{"item": "1", "text": "x"}, {"item": "2", "text": " "}]
    )
    with pytest.raises(DataError, match="has no text") as e:
        read_items(empty)
    assert e.value.where == f"{empty}:2"
    twice = write_jsonl(
        tmp_path / "b.jsonl", [{"item": "1", "text": "x"}, {"item": 1, "text": "y"}]
    )
    with pytest.raises(DataError, match=r"given twice \(lines 1 and 2\)"):
        read_items(twice)


def test_unknown_items_are_refused_and_repeats_dropped(tmp_path: Path) -> None:
    items = items_file(tmp_path)
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"user": "u", "item": "nope", "ts": 1}])
    with pytest.raises(DataError, match="no entry in the items file") as e:
        load_files(bad, items)
    assert "nope" in str(e.value)
    rows = [
        {"user": "u", "item": "i1", "ts": 5},
        {"user": "u", "item": "i1", "ts": 2},
        {"user": "u", "item": "i2", "ts": 3},
    ]
    data = load_files(write_jsonl(tmp_path / "dup.jsonl", rows), items)
    assert [(x.item, x.ts) for x in data.interactions] == [("i1", 2.0), ("i2", 3.0)]
    assert "1 repeated" in data.notes[0]


# ------------------------------------------------------------------ splits


def synthetic(tmp_path: Path, users: int = 12, per_user: int = 6):
    items = items_file(tmp_path, 20)
    rows = []
    for u in range(users):
        for j in range(per_user):  # written newest first: the split must sort by ts
            rows.append({"user": f"u{u}", "item": f"i{(u + 3 * j) % 20}", "ts": 100 - j})
    rows.append({"user": "solo", "item": "i0", "ts": 5})  # one interaction: train only
    return load_files(write_jsonl(tmp_path / "x.jsonl", rows), items)


def test_temporal_split_leaves_last_out_per_user(tmp_path: Path) -> None:
    data = synthetic(tmp_path)
    split = make_split(data, "temporal")
    dev = {c.user: c for c in split.cases["dev"]}
    test = {c.user: c for c in split.cases["test"]}
    # u0's items by time (ts 95..100): i15, i12, i9, i6, i3, i0
    assert test["u0"].target == "i0" and dev["u0"].target == "i3"
    assert split.train["u0"] == ["i15", "i12", "i9", "i6"]
    assert test["u0"].history == ("i15", "i12", "i9", "i6", "i3")
    assert "solo" not in test and split.train["solo"] == ["i0"]
    assert not split.cold_items and not split.cases["cold_test"]


def test_cold_split_keeps_a_seeded_fifth_out_of_training(tmp_path: Path) -> None:
    data = synthetic(tmp_path)
    split = make_split(data, "cold", cold_fraction=0.2, seed=3)
    assert len(split.cold_items) == 4  # a fifth of the 20 interacted items
    assert not split.cold_items & split.warm_items
    assert all(c.target in split.cold_items for c in split.cases["cold_test"])
    assert all(c.target not in split.cold_items for c in split.cases["test"])
    assert split.cases["cold_test"]
    again = make_split(data, "cold", cold_fraction=0.2, seed=3)
    assert again.record["sha256"] == split.record["sha256"]
    assert make_split(data, "cold", seed=4).cold_items != split.cold_items


# ------------------------------------------------------------------ metrics


def test_metrics_match_hand_computed_cases() -> None:
    pool = np.arange(4)
    m = case_metrics(np.array([3.0, 2.0, 1.0, 0.0]), 2, pool)
    assert m == pytest.approx({"recall@10": 1.0, "ndcg@10": 0.5, "mrr": 1 / 3})
    # target tied with one other item at the top: position 1 or 2, each with chance 1/2
    tied = case_metrics(np.array([1.0, 1.0, 0.0]), 0, np.arange(3), k=1)
    assert tied == pytest.approx({"recall@1": 0.5, "ndcg@1": 0.5, "mrr": 0.75})
    # beyond k: nothing for recall and nDCG, 1/11 for MRR
    far = case_metrics(-np.arange(20.0), 10, np.arange(20))
    assert far == pytest.approx({"recall@10": 0.0, "ndcg@10": 0.0, "mrr": 1 / 11})
    # items outside the pool (seen ones) do not count
    assert case_metrics(np.array([9.0, 1.0, 0.0]), 1, np.array([1, 2]))["mrr"] == 1.0


def test_ndcg_agrees_with_scikit_learn_under_ties() -> None:
    rng = np.random.default_rng(0)
    for _ in range(100):
        scores = rng.integers(0, 4, size=40).astype(float)
        pool = np.sort(rng.choice(40, 25, replace=False))
        target = int(pool[rng.integers(25)])
        ours = case_metrics(scores, target, pool)["ndcg@10"]
        assert ours == pytest.approx(sklearn_ndcg(scores, target, pool), abs=1e-12)


def test_ml100k_reads_the_whole_set_from_the_recbole_wheel() -> None:
    from cotune.data.interactions import load_ml100k

    try:
        data = load_ml100k()
    except DataError as e:  # set-up has not fetched the wheel on this machine
        pytest.skip(str(e))
    assert len(data.interactions) == 100_000 and len(data.items) == 1682
    assert len({x.user for x in data.interactions}) == 943
    toy = data.items["1"]
    assert toy.text == "Toy Story (1995). Genres: Animation, Children's, Comedy."
    assert toy.tags == ("Animation", "Children's", "Comedy") and toy.year == 1995
