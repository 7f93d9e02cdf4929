"""The assistant: input checks, calibration, the build (atomic), answers and hand-off, the
query log and review export, and the CLI; on a tiny assistant built once per session."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cotune.apps.assistant.build import build_assistant, split_dev
from cotune.apps.assistant.calibrate import (
    calibrate,
    calibrate_by_language,
    choose_threshold,
    score_values,
)
from cotune.apps.assistant.config import AssistantConfig
from cotune.apps.assistant.data import (
    IntentRow,
    check_intent_counts,
    detect_lang,
    read_faq,
    read_intents,
)
from cotune.apps.assistant.engine import Assistant
from cotune.apps.assistant.handoff import HandoffRequest
from cotune.apps.assistant.lexical_intent import LexicalIntents, choose_weight, mix
from cotune.apps.assistant.log import QueryLog
from cotune.errors import ConfigError, DataError
from tests.unit.assistant_helpers import FAQ, built, tiny_config, write_data, write_jsonl

__all__ = ["built"]  # the session fixture, shared with test_assistant_serving.py


# inputs -------------------------------------------------------------------------------


def test_intents_and_faq_errors_name_file_line_and_fix(tmp_path: Path) -> None:
    path = tmp_path / "intents.jsonl"
    path.write_text('{"text": "a", "intent": "x"}\n{"text": "b", "intnet": "x"}\n', "utf-8")
    with pytest.raises(
        DataError, match=r"(?s)intents.jsonl:2.*unknown key 'intnet'.*did you mean 'intent'"
    ) as e:
        read_intents(path)
    path.write_text('{"text": "a", "intent": "x"}\n{"text": "b", "intent": \n', "utf-8")
    with pytest.raises(DataError, match=r"(?s)intents.jsonl:2: not valid JSON"):
        read_intents(path)
    path.write_text('{"text": "A", "intent": "x"}\n{"text": "a", "intent": "y"}\n', "utf-8")
    with pytest.raises(DataError, match=r"(?s):2: .*labelled 'y' here and 'x' at .*:1"):
        read_intents(path)
    rows = [IntentRow(f"t{i}", "card" if i < 5 else "pin", "en", f"f:{i + 1}") for i in range(7)]
    with pytest.raises(
        DataError, match=r"(?s)f:6: intent 'pin' has 2 example\(s\); at least 4"
    ) as e:
        check_intent_counts(rows, 4, tmp_path)
    assert "add 2 more" in str(e.value)

    faq = tmp_path / "faq.jsonl"
    write_jsonl(
        faq,
        [{"id": "a", "question": "q", "answer": "x"}, {"id": "a", "question": "q2", "answer": "y"}],
    )
    with pytest.raises(
        DataError, match=r"(?s)faq.jsonl:2: duplicate FAQ id 'a' \(first at .*faq.jsonl:1\)"
    ):
        read_faq(faq, set())
    write_jsonl(faq, [{"id": "a", "question": "q", "answer": ""}])
    with pytest.raises(DataError, match=r"(?s)faq.jsonl:1: FAQ 'a' has no answer"):
        read_faq(faq, set())
    write_jsonl(faq, [{"id": "a", "question": "q", "answer": "x", "intent": "card_lots"}])
    with pytest.raises(DataError, match=r"(?s)card_lots.*did you mean 'card_lost'"):
        read_faq(faq, {"card_lost", "pin"})


def test_csv_inputs_and_comment_keys(tmp_path: Path) -> None:
    path = tmp_path / "intents.csv"
    path.write_text('text,intent\n"hello, there",greet\nwhat is this,\n', "utf-8")
    rows = read_intents(path)
    assert [(r.text, r.intent) for r in rows] == [("hello, there", "greet"), ("what is this", None)]
    jsonl = tmp_path / "i.jsonl"
    jsonl.write_text('{"text": "我的卡丢了", "intent": "lost", "_confidence": 0.2}\n', "utf-8")
    assert read_intents(jsonl)[0].lang == "zh"


def test_detect_lang_mixed_scripts() -> None:
    assert detect_lang("I lost my card") == "en"
    assert detect_lang("我的银行卡丢了") == "zh"
    assert detect_lang("PIN 码忘了") == "zh"  # 3 CJK of 6 letters: at least a third
    assert detect_lang("my 银行卡 is lost") == "en"  # 3 of 11
    assert detect_lang("PIN 🙂 123") == "en"


def test_split_dev_is_seeded_stratified_and_keeps_one() -> None:
    rows = [IntentRow(f"{i}-{j}", i, "en", "") for i in ("a", "b") for j in range(10)]
    rows.append(IntentRow("lonely", "c", "en", ""))
    train, dev = split_dev(rows, 0.2, 13)
    assert sorted(r.intent for r in dev) == ["a", "a", "b", "b"]
    assert any(r.text == "lonely" for r in train)
    assert split_dev(rows, 0.2, 13) == (train, dev)
    assert split_dev(rows, 0.2, 14) != (train, dev)


# calibration ----------------------------------------------------------------------------


def test_threshold_reaches_target_recall_with_least_loss() -> None:
    values = np.array([0.9, 0.8, 0.7, 0.6, 0.3, 0.2, 0.5, 0.65])
    is_oos = np.array([False] * 6 + [True, True])
    correct = np.array([True, True, True, False, True, True, False, False])
    t = choose_threshold("max_prob", values, is_oos, correct, target_recall=1.0)
    assert t.value == pytest.approx(0.65) and t.oos_recall == 1.0  # both refused
    assert t.in_scope_accuracy == pytest.approx(3 / 6)  # 0.9, 0.8, 0.7 accepted and right
    half = choose_threshold("max_prob", values, is_oos, correct, target_recall=0.5)
    assert half.oos_recall == 0.5 and half.in_scope_accuracy == pytest.approx(3 / 6)
    assert half.value == pytest.approx(0.5)


def test_calibrate_picks_the_score_that_keeps_most_in_scope() -> None:
    probs = np.array([[0.9, 0.1], [0.55, 0.45], [0.6, 0.4], [0.5, 0.5]])
    knn = np.array([0.9, 0.9, 0.2, 0.1])  # the two out-of-scope rows are far from training
    scores = score_values(probs, knn)
    np.testing.assert_allclose(scores["margin"], [0.8, 0.1, 0.2, 0.0])
    chosen, table = calibrate(scores, [False, False, True, True], [True, True, False, False], 1.0)
    assert chosen.score == "knn" and chosen.in_scope_accuracy == 1.0
    assert table["max_prob"].in_scope_accuracy == 0.5
    forced, _ = calibrate(
        scores, [False, False, True, True], [True, True, False, False], 1.0, "margin"
    )
    assert forced.score == "margin"


def test_each_language_gets_its_own_threshold_when_it_has_out_of_scope_rows() -> None:
    # English is sure of itself (in scope 0.9, out of scope 0.5), Chinese is not (0.45 / 0.2):
    # one shared threshold at full recall would refuse every in-scope Chinese query
    en_in, en_oos, zh_in, zh_oos = [0.9] * 6, [0.5] * 5, [0.45] * 6, [0.2] * 5
    values = np.array(en_in + en_oos + zh_in + zh_oos)
    is_oos = [False] * 6 + [True] * 5 + [False] * 6 + [True] * 5
    langs = ["en"] * 11 + ["zh"] * 11
    scores = {"max_prob": values}
    out = calibrate_by_language(scores, is_oos, [not o for o in is_oos], langs, 1.0)
    assert set(out) == {"*", "en", "zh"}
    assert out["*"][0].value > 0.5 and out["*"][0].in_scope_accuracy == 0.5
    assert 0.5 < out["en"][0].value <= 0.9 and out["en"][0].in_scope_accuracy == 1.0
    assert 0.2 < out["zh"][0].value <= 0.45 and out["zh"][0].in_scope_accuracy == 1.0
    # too few out-of-scope rows in a language: it is left to the shared threshold
    few = calibrate_by_language(scores, is_oos, [not o for o in is_oos], langs, 1.0, min_oos=6)
    assert set(few) == {"*"}


def test_lexical_member_reads_characters_of_both_languages(tmp_path: Path) -> None:
    texts = ["我的卡丢了", "银行卡被偷了", "卡不见了", "怎么开户", "我想开个账户", "开户需要什么"]
    texts += ["lost my card", "card stolen", "open an account", "new account please"]
    intents = ["lost"] * 3 + ["open"] * 3 + ["lost", "lost", "open", "open"]
    member = LexicalIntents(texts, intents)
    probs = member.probs(["卡丢了怎么办", "I want to open an account"], ["open", "other", "lost"])
    assert probs.shape == (2, 3) and (probs[:, 1] == 0).all()  # an intent it never saw: 0
    assert probs[0].argmax() == 2 and probs[1].argmax() == 0
    member.save(tmp_path)
    again = LexicalIntents.load(tmp_path)
    assert again is not None
    np.testing.assert_allclose(
        again.probs(["卡丢了"], ["lost", "open"]), member.probs(["卡丢了"], ["lost", "open"])
    )
    assert LexicalIntents.load(tmp_path / "nothing-here") is None


def test_mix_and_the_weight_chosen_on_dev() -> None:
    model, lexical = np.array([[0.8, 0.2]]), np.array([[0.2, 0.8]])
    np.testing.assert_allclose(mix(model, lexical, 0.25), [[0.65, 0.35]])
    assert mix(model, None, 0.5) is model and mix(model, lexical, 0.0) is model
    best, table = choose_weight(lambda w: {0.0: 0.5, 0.25: 0.7, 0.5: 0.7, 0.75: 0.6}[w])
    assert best == 0.25 and table[0.75] == 0.6  # ties go to the smaller weight


def test_calibrate_without_out_of_scope_data_says_so() -> None:
    t = choose_threshold(
        "max_prob", np.linspace(0.5, 1, 100), np.zeros(100, bool), np.ones(100, bool), 0.85
    )
    assert not t.reached_target and "no out-of-scope" in t.note
    assert t.in_scope_accuracy == pytest.approx(0.97)


def test_handoff_requests_both_languages() -> None:
    wants = HandoffRequest(["mensch"])
    for text in [
        "I want to talk to a real person",
        "speak with an agent please",
        "AGENT!",
        "connect me to someone",
        "转人工",
        "我要找人工客服",
        "Mensch bitte",
    ]:
        assert wants(text), text
    for text in [
        "my agent number is wrong",
        "a person stole my card",
        "I lost my card",
        "我的卡丢了",
    ]:
        assert not wants(text), text


# the build and the answers --------------------------------------------------------------


def test_built_folder_holds_everything_and_a_card(built: Path) -> None:
    meta = json.loads((built / "assistant.json").read_text())
    for part in (
        "intent",
        "encoder",
        "faq_index",
        "utterances",
        "faq.jsonl",
        "lexical.json",
        "card.md",
    ):
        assert (built / part).exists(), part
    card = meta["card"]
    assert card["per_intent"] == {"company": 8, "film": 8, "travel": 8}
    assert len(card["data"]["intents"]["sha256_16"]) == 16
    assert set(meta["thresholds"]) == {"max_prob", "margin", "knn"}
    assert meta["threshold"]["score"] in meta["thresholds"]
    assert 0 <= card["dev"]["oos_recall"] <= 1
    assert card["dev"]["in_scope"] + card["dev"]["out_of_scope"] == sum(
        f["in_scope"] + f["out_of_scope"] for f in card["dev"]["by_lang"].values()
    )
    assert "| all | max_prob" in (built / "card.md").read_text()
    mixed = meta["intent_mix"]
    assert mixed["lexical_weight"] in (0.0, 0.25, 0.5, 0.75)
    assert set(mixed["dev_accuracy_at_threshold_by_weight"]) == {"0.0", "0.25", "0.5", "0.75"}
    assert (built / "intent_lexical.jsonl").is_file()


def test_answers_have_the_documented_shape(built: Path) -> None:
    bot = Assistant.load(built)
    answer = bot.ask("he went to paris")
    assert set(answer) >= {"intent", "confidence", "answer", "faq_id", "handoff", "candidates"}
    assert answer["candidates"] and all(set(c) == {"faq_id", "score"} for c in answer["candidates"])
    assert len(answer["candidates"]) <= 5
    if answer["intent"] is None:
        assert answer["handoff"] and answer["answer"] is None and answer["reason"] == "out of scope"
    else:
        assert answer["faq_id"] in {e["id"] for e in FAQ}
        assert answer["answer"] == bot.faq[answer["faq_id"]].answer
    # the intent decision is the threshold's, applied to the score it names
    score = answer["scores"][answer["scores"]["score"]]
    assert (answer["intent"] is None) == (score < answer["scores"]["threshold"])


def test_answer_follows_the_intent_and_disagreement_costs_confidence(built: Path) -> None:
    bot = Assistant.load(built)
    bot.threshold_by_lang, bot.threshold = {}, {"score": "max_prob", "value": 0.0}
    labels, probs = ["travel", "film", "company"], np.array([0.9, 0.05, 0.05])

    def decide(dense: list[tuple[str, float]]) -> dict[str, object]:
        return bot._decide("going to paris", labels, probs, 1.0, dense, [])

    # the travel entry is ranked second: still among the shown candidates, so no penalty
    agree = decide([("cinema", 0.9), ("trip", 0.8), ("firm", 0.1)])
    assert agree["faq_id"] == "trip" and agree["confidence"] == 0.9 and agree["reason"] is None
    # ranked below the top_k shown: the intent's entry is answered, at half the confidence
    bot.config.retrieval.top_k = 1
    far = decide([("cinema", 0.9), ("firm", 0.5), ("trip", 0.1)])
    assert far["faq_id"] == "trip" and far["reason"] == "answer disagrees with intent"
    assert far["confidence"] == pytest.approx(0.9 * bot.config.oos.agreement_penalty)


def test_person_request_hands_off_whatever_the_intent(built: Path) -> None:
    bot = Assistant.load(built)
    for text in ["the film was great but i want to talk to a person", "转人工"]:
        answer = bot.ask(text)
        assert answer["handoff"] and answer["reason"] == "asked for a person"


def test_bad_queries_are_refused_and_odd_ones_answered(built: Path) -> None:
    bot = Assistant.load(built)
    with pytest.raises(DataError, match="empty"):
        bot.ask("   ")
    with pytest.raises(DataError, match="at most 1000"):
        bot.ask("paris " * 500)
    with pytest.raises(DataError, match="not text"):
        bot.ask_many([None])  # type: ignore[list-item]
    for text in ["🙂🙂🙂", "paris 巴黎 🚆", "\u200b film \u200b"]:
        answer = bot.ask(text)
        assert isinstance(answer["handoff"], bool)


def test_rebuild_is_atomic_and_keeps_the_log(
    built: Path, tiny_backbone: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    import cotune.retrieval

    copy = tmp_path / "bot"
    shutil.copytree(built, copy)
    QueryLog(copy / "queries.db").record([Assistant.load(copy).ask("a good movie")], "test")
    before = {p.name: p.stat().st_mtime_ns for p in copy.iterdir()}
    cfg = AssistantConfig.model_validate(tiny_config(tmp_path / "data", tiny_backbone))
    write_data(tmp_path / "data")
    with pytest.raises(ConfigError, match="--overwrite"):
        build_assistant(cfg, copy)

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("killed mid-build")

    monkeypatch.setattr(cotune.retrieval, "fine_tune", crash)
    with pytest.raises(RuntimeError, match="mid-build"):
        build_assistant(cfg, copy, overwrite=True, progress=False)
    assert {p.name: p.stat().st_mtime_ns for p in copy.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    monkeypatch.undo()
    cfg2 = cfg.model_copy(
        update={"retrieval": cfg.retrieval.model_copy(update={"contrastive_epochs": 0})}
    )
    build_assistant(cfg2, copy, overwrite=True, progress=False)
    assert QueryLog(copy / "queries.db").count() == 1
    assert Assistant.load(copy).meta["card"]["encoder_tuned_on_pairs"] == 0


def test_out_of_step_folder_is_refused(built: Path, tmp_path: Path) -> None:
    import shutil

    from cotune.errors import ArtifactError

    copy = tmp_path / "bot"
    shutil.copytree(built, copy)
    lines = (copy / "faq.jsonl").read_text().splitlines()
    (copy / "faq.jsonl").write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(ArtifactError, match="out of step"):
        Assistant.load(copy)


def test_log_and_review_export_feed_the_next_build(built: Path, tmp_path: Path) -> None:
    bot = Assistant.load(built)
    log = QueryLog(tmp_path / "q.db")
    answers = bot.ask_many(["i want to talk to a person", "转人工", "he went to paris", "转人工"])
    log.record(answers, "test")
    assert log.count() == 4
    out = tmp_path / "label.jsonl"
    n = log.export_review(out, below=1.01)  # everything is below 1.01
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert n == len(rows) == 3  # the repeated text once
    assert {r["text"] for r in rows} == {"i want to talk to a person", "转人工", "he went to paris"}
    assert all(r["_reason"] is not None or r["_confidence"] < 1.01 for r in rows)
    assert read_intents(out)[0].text == "i want to talk to a person"  # appendable as is
    assert log.export_review(tmp_path / "again.jsonl", below=1.01) == 0  # marked as exported
    assert log.export_review(tmp_path / "all.jsonl", below=1.01, include_reviewed=True) == 3


# CLI ------------------------------------------------------------------------------------


def test_cli_ask_review_and_errors(built: Path, tmp_path: Path) -> None:
    import shutil

    from cotune.cli.main import app

    copy = tmp_path / "bot"
    shutil.copytree(built, copy)
    runner = CliRunner()
    result = runner.invoke(app, ["assistant", "ask", str(copy), "he went to paris"])
    assert result.exit_code == 0, result.output
    assert set(json.loads(result.stdout)) >= {"intent", "faq_id", "handoff", "candidates"}
    queries = tmp_path / "q.jsonl"
    queries.write_text('{"text": "a good movie"}\n\n{"text": "转人工"}\n', "utf-8")
    out = tmp_path / "answers.jsonl"
    result = runner.invoke(
        app, ["assistant", "ask", str(copy), "--input", str(queries), "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    answers = [json.loads(x) for x in out.read_text().splitlines()]
    assert [a["text"] for a in answers] == ["a good movie", "转人工"] and answers[1]["handoff"]
    queries.write_text('{"text": "ok"}\n{"text": ""}\n', "utf-8")
    result = runner.invoke(app, ["assistant", "ask", str(copy), "--input", str(queries)])
    assert result.exit_code == 2 and "q.jsonl:2" in result.output and "empty" in result.output
    queries.write_text(json.dumps({"text": "paris " * 500}) + "\n", "utf-8")
    result = runner.invoke(app, ["assistant", "ask", str(copy), "--input", str(queries)])
    assert (
        result.exit_code == 2 and "q.jsonl:1" in result.output and "at most 1000" in result.output
    )
    result = runner.invoke(
        app, ["assistant", "review", str(copy), "--out", str(tmp_path / "r.jsonl")]
    )
    assert result.exit_code == 0, result.output
    assert "转人工" in (tmp_path / "r.jsonl").read_text()
    result = runner.invoke(app, ["assistant", "ask", str(tmp_path), "hello"])
    assert result.exit_code == 2 and "not a built assistant" in result.output


def test_cli_build_flags_and_refusals(tiny_backbone: Path, tmp_path: Path) -> None:
    import yaml

    from cotune.cli.main import app

    data = write_data(tmp_path / "data")
    cfg = tiny_config(data, tiny_backbone)
    cfg["intent"]["train"]["epochs"] = 1
    cfg["retrieval"]["contrastive_epochs"] = 0
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(cfg))
    runner = CliRunner()
    args = ["assistant", "build", str(tmp_path / "a.yaml"), "--out", str(tmp_path / "bot"), "-q"]
    result = runner.invoke(app, [*args, "--retrieval.index", "hnsw", "--oos.target_recall", "0.5"])
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "bot" / "assistant.json").read_text())
    assert (
        meta["config"]["retrieval"]["index"] == "hnsw"
        and meta["config"]["oos"]["target_recall"] == 0.5
    )
    result = runner.invoke(app, [*args, "--overwrite", "--oos.target_recal", "0.5"])
    assert result.exit_code == 2 and "target_recall" in result.output  # typo: the close key named
    result = runner.invoke(app, ["assistant", "build", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and "no intents file" in result.output
    help_text = runner.invoke(app, ["assistant", "build", "--help"]).output
    assert "cotune assistant build examples/support-demo" in help_text


def test_config_reads_yaml_on_off_as_the_words() -> None:
    """`--intent.extend_vocab off` arrives as YAML's False; it must mean "off", not fail."""
    for value, word in ((False, "off"), (True, "on"), ("auto", "auto")):
        cfg = AssistantConfig(intents=Path("i"), faq=Path("f"), intent={"extend_vocab": value})
        assert cfg.intent.extend_vocab == word
    with pytest.raises(ValueError, match="extend_vocab"):
        AssistantConfig(intents=Path("i"), faq=Path("f"), intent={"extend_vocab": "maybe"})


def test_setting_one_train_key_keeps_the_intent_defaults() -> None:
    cfg = AssistantConfig.model_validate(
        {"intents": "i", "faq": "f", "intent": {"train": {"threads": 1}}}
    )
    train = cfg.intent.train
    assert (train.threads, train.epochs, train.lr, train.head_lr) == (1, 10, 3e-4, 3e-3)
