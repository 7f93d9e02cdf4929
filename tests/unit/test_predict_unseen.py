"""Predict and evaluate on texts and files the tiny corpora never hold: long texts, odd
characters, mixed rows, malformed files, an --output that already holds something."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer
from transformers.utils import logging as hf_logging
from typer.testing import CliRunner

from cotune.artifact import load_artifact
from cotune.cli.main import app
from cotune.config.schema import ModelConfig
from cotune.data.formats import read_conll, read_csv, read_jsonl
from cotune.errors import DataError
from cotune.recipes.finetune import finetune
from cotune.tasks.token_classification import TokenClassification
from cotune.tasks.words import word_spans
from cotune.uses.evaluate import evaluate_artifact
from cotune.uses.predict import predict_file

from .helpers import flat, tiny_config

runner = CliRunner()


@pytest.fixture(scope="module")
def ner_model(tiny_backbone: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = tiny_config(tiny_backbone, tmp_path_factory.mktemp("ner"), max_steps=2)
    return finetune(cfg, progress=False)


@pytest.fixture(scope="module")
def cls_model(tiny_backbone: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = tiny_config(tiny_backbone, tmp_path_factory.mktemp("cls"), "cls", max_steps=2)
    # trained on a file read as JSONL explicitly, to check that evaluation reads its own format
    cfg = cfg.model_copy(update={"data": cfg.data.model_copy(update={"format": "jsonl"})})
    return finetune(cfg, progress=False)


def write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line]


# ---------------------------------------------------------------- texts


def test_text_longer_than_a_file_name_is_predicted(ner_model: Path) -> None:
    text = "john visited paris . " * 40  # > 255 bytes: no file can have this name
    res = runner.invoke(app, ["predict", str(ner_model), text])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["text"] == text
    for e in out["entities"]:
        assert text[e["start"] : e["end"]] == e["text"]


def test_mistyped_input_file_is_named_not_predicted_as_text(ner_model: Path) -> None:
    res = runner.invoke(app, ["predict", str(ner_model), "reviews.jsonl"])
    assert res.exit_code == 2 and "no such file: reviews.jsonl" in flat(res.output)


def test_batch_size_zero_is_refused(ner_model: Path, tmp_path: Path) -> None:
    inp = write(tmp_path / "in.txt", "john visited paris\n")
    res = runner.invoke(app, ["predict", str(ner_model), str(inp), "--batch-size", "0"])
    assert res.exit_code == 2 and "--batch-size" in res.output


def test_entity_keeps_the_combining_marks_the_tokenizer_strips(tiny_backbone: Path) -> None:
    tok = AutoTokenizer.from_pretrained(tiny_backbone)
    text = "Jose\u0301 visited cafe\u0301s a\u0300\u0300 paris"
    assert [text[s:e] for s, e in word_spans(text, tok)] == [
        "Jose\u0301",
        "visited",
        "cafe\u0301s",
        "a\u0300\u0300",
        "paris",
    ]
    task = TokenClassification(["B-PER", "I-PER", "O"], tok, ModelConfig(max_length=8))
    model = task.build_model(tiny_backbone, task.cfg)
    with torch.no_grad():  # every word opens an entity
        model.classifier.bias.copy_(torch.tensor([9.0, 0, -9]))
    (ents,) = task.predict_text(model, [text])
    assert [e.text for e in ents] == [
        "Jose\u0301",
        "visited",
        "cafe\u0301s",
        "a\u0300\u0300",
        "paris",
    ]
    assert all(text[e.start : e.end] == e.text for e in ents)


def test_long_text_is_windowed_without_an_indexing_errors_warning(tiny_backbone: Path) -> None:
    tok = AutoTokenizer.from_pretrained(tiny_backbone, model_max_length=16)
    task = TokenClassification(["B-PER", "I-PER", "O"], tok, ModelConfig(max_length=16))
    model = task.build_model(tiny_backbone, task.cfg)
    text = " ".join(["john visited paris ."] * 30)
    seen: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = seen.append  # type: ignore[method-assign]
    logging.getLogger("transformers").addHandler(handler)
    previous = hf_logging.get_verbosity()
    hf_logging.set_verbosity_warning()  # the CLI silences it; library users see it
    try:
        (ents,) = task.predict_text(model, [text])
    finally:
        hf_logging.set_verbosity(previous)
        logging.getLogger("transformers").removeHandler(handler)
    assert all(text[e.start : e.end] == e.text for e in ents)
    assert not [r for r in seen if "indexing errors" in r.getMessage()]


# ---------------------------------------------------------------- input files


def test_line_separators_inside_a_text_do_not_split_rows(ner_model: Path, tmp_path: Path) -> None:
    text = "john\u2028visited\x85paris\x0cnow"
    inp = write(tmp_path / "in.jsonl", json.dumps({"text": text}, ensure_ascii=False) + "\r\n")
    out = tmp_path / "out.jsonl"
    assert predict_file(load_artifact(ner_model), inp, out) == 1
    assert [r["text"] for r in jsonl(out)] == [text]
    txt = write(tmp_path / "in.txt", "\ufeffa\u2028b\r\n\r\nc\n")
    assert predict_file(load_artifact(ner_model), txt, tmp_path / "t.jsonl") == 2
    conll = write(tmp_path / "t.conll", "to\u2028ken\tO\nparis\tB-LOC\n")
    assert [s.tokens for s in read_conll(conll)] == [["to\u2028ken", "paris"]]
    labelled = write(tmp_path / "l.jsonl", json.dumps({"text": "a\u2029b", "label": "x"}) + "\n")
    assert read_jsonl(labelled)[0].text == "a\u2029b"


@pytest.mark.parametrize(
    ("row", "needle"),
    [
        ({"text": None}, '"text" must be a string'),
        ({"text": 5}, '"text" must be a string'),
        ({"tokens": "john paris"}, '"tokens" must be a list of strings'),
        ({"tokens": ["john", None]}, '"tokens" must be a list of strings'),
        ({"id": 1}, "keys ['id']"),
    ],
)
def test_a_row_of_the_wrong_type_is_named(
    ner_model: Path, tmp_path: Path, row: dict, needle: str
) -> None:
    inp = write(tmp_path / "in.jsonl", '{"text": "john"}\n' + json.dumps(row) + "\n")
    res = runner.invoke(app, ["predict", str(ner_model), str(inp)])
    assert res.exit_code == 2, res.output
    assert f"{inp}:2" in flat(res.output) and needle in flat(res.output)


def test_rows_answer_the_same_whatever_shares_their_batch(ner_model: Path, tmp_path: Path) -> None:
    rows = [{"tokens": ["mary", "paris"]}, {"text": "john visited paris"}, {"tokens": ["john"]}]
    inp = write(tmp_path / "in.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    pred = load_artifact(ner_model)
    outs = []
    for size in (1, 32):
        out = tmp_path / f"out{size}.jsonl"
        predict_file(pred, inp, out, batch_size=size)
        outs.append(jsonl(out))
    assert outs[0] == outs[1]
    assert ["tags" in r for r in outs[1]] == [True, False, True]


def test_csv_input_reads_quoted_commas_and_line_breaks(cls_model: Path, tmp_path: Path) -> None:
    inp = write(tmp_path / "in.csv", 'id,text\r\n1,"great, film"\r\n2,"a\r\nbad movie"\r\n')
    out = tmp_path / "out.jsonl"
    assert predict_file(load_artifact(cls_model), inp, out) == 2
    got = jsonl(out)
    assert [(r["id"], r["text"]) for r in got] == [("1", "great, film"), ("2", "a\r\nbad movie")]
    assert all(r["label"] in ("pos", "neg") for r in got)


# ---------------------------------------------------------------- the output file


def test_an_output_holding_something_else_is_left_untouched(
    ner_model: Path, tmp_path: Path
) -> None:
    inp = write(tmp_path / "in.txt", "john visited paris\nmary likes apple\n")
    for content in ("my notes\nkept for years", "no newline at all"):
        out = write(tmp_path / "notes.txt", content)
        res = runner.invoke(app, ["predict", str(ner_model), str(inp), "-o", str(out)])
        assert res.exit_code == 2 and "new --output" in flat(res.output)
        assert out.read_text() == content


def test_output_that_is_the_input_is_refused(ner_model: Path, tmp_path: Path) -> None:
    content = '{"text": "john visited paris"}\n'
    inp = write(tmp_path / "in.jsonl", content)
    res = runner.invoke(app, ["predict", str(ner_model), str(inp), "-o", str(inp)])
    assert res.exit_code == 2 and "is the input file" in flat(res.output)
    assert inp.read_text() == content


def test_output_folder_is_created(ner_model: Path, tmp_path: Path) -> None:
    inp = write(tmp_path / "in.txt", "john visited paris\n")
    out = tmp_path / "new" / "dir" / "out.jsonl"
    res = runner.invoke(app, ["predict", str(ner_model), str(inp), "-o", str(out), "-q"])
    assert res.exit_code == 0, res.output
    assert len(jsonl(out)) == 1


# ---------------------------------------------------------------- readers


def test_csv_row_with_the_wrong_cell_count_is_named(tmp_path: Path) -> None:
    for body in ("great film, really,pos\n", "great film\n"):
        p = write(tmp_path / "d.csv", "text,label\n" + body)
        with pytest.raises(DataError, match=r"d\.csv:2: \d cell\(s\) but the header has 2"):
            read_csv(p)


def test_conll_line_with_other_columns_than_the_rest_is_named(tmp_path: Path) -> None:
    p = write(tmp_path / "d.conll", "john\tB-PER\nparis\tB-LOC\tO\n")
    with pytest.raises(DataError, match=r"d\.conll:2: 3 columns, but line 1 has 2"):
        read_conll(p)


# ---------------------------------------------------------------- evaluate


@pytest.mark.parametrize(
    ("row", "needle"),
    [
        ({"text": "a great film", "labels": []}, "has 0"),
        ({"text": "a great film", "labels": ["pos", "neg"]}, "has 2"),
    ],
)
def test_single_label_model_refuses_rows_without_one_label(
    cls_model: Path, tmp_path: Path, row: dict, needle: str
) -> None:
    data = write(tmp_path / "e.jsonl", json.dumps(row) + "\n")
    with pytest.raises(DataError, match=needle) as e:
        evaluate_artifact(cls_model, str(data))
    assert f"{data}:1" in str(e.value)


def test_data_of_the_other_task_is_named(cls_model: Path, ner_model: Path, tmp_path: Path) -> None:
    conll = write(tmp_path / "e.conll", "john\tB-person\n")
    with pytest.raises(DataError, match="sequence-classification model, but the evaluation data"):
        evaluate_artifact(cls_model, str(conll))
    texts = write(tmp_path / "e.jsonl", '{"text": "a great film", "label": "pos"}\n')
    with pytest.raises(DataError, match="token-classification model, but the evaluation data"):
        evaluate_artifact(ner_model, str(texts))


def test_evaluation_file_is_read_in_its_own_format(cls_model: Path, tmp_path: Path) -> None:
    data = write(tmp_path / "e.csv", 'text,label\n"a great film, really",pos\nawful movie,neg\n')
    assert evaluate_artifact(cls_model, str(data))["n"] == 2


def test_unknown_split_is_refused_for_any_data(cls_model: Path) -> None:
    with pytest.raises(DataError, match="unknown split 'foo'"):
        evaluate_artifact(cls_model, "wnut16", split="foo")


def test_evaluate_can_repair_a_tag_that_continues_no_entity(
    ner_model: Path, tmp_path: Path
) -> None:
    data = write(tmp_path / "e.conll", "john\tI-person\nvisited\tO\nparis\tB-geo-loc\n")
    result = runner.invoke(app, ["evaluate", str(ner_model), "--data", str(data)])
    assert result.exit_code == 2, result.output
    assert "--repair-tags for cotune evaluate" in flat(result.output)
    args = ["evaluate", str(ner_model), "--data", str(data), "--repair-tags"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    metrics = evaluate_artifact(ner_model, str(data), repair_tags=True)
    assert 0.0 <= metrics["f1"] <= 1.0
