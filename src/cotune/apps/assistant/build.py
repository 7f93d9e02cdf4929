"""`cotune assistant build`: one command, one folder.

Reads and checks the files, holds out dev (or takes the dev file), fine-tunes the intent model
with cotune's fine-tune recipe, tunes the sentence encoder contrastively on (utterance, FAQ
question) pairs, indexes the FAQ (vectors + BM25) and the training utterances, calibrates the
out-of-scope threshold on dev and writes a card. Everything is written to a sibling temp folder
that replaces the old one only when complete: the index and the FAQ are never out of step, and
a failed rebuild leaves the previous assistant serving. The query log is carried over.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cotune.apps.assistant.calibrate import accepted, calibrate_by_language, score_values
from cotune.apps.assistant.config import AssistantConfig
from cotune.apps.assistant.data import (
    FaqEntry,
    IntentRow,
    check_intent_counts,
    detect_lang,
    read_faq,
    read_intents,
)
from cotune.apps.assistant.engine import MARKER, Assistant, model_probs
from cotune.apps.assistant.lexical_intent import LexicalIntents, choose_weight, mix
from cotune.errors import ConfigError, DataError

LOG_FILE = "queries.db"


def split_dev(
    rows: Sequence[IntentRow], share: float, seed: int
) -> tuple[list[IntentRow], list[IntentRow]]:
    """Per intent (and language), a seeded share of the rows goes to dev; at least one stays."""
    groups: dict[tuple[str | None, str], list[IntentRow]] = defaultdict(list)
    for row in rows:
        groups[(row.intent, row.lang)].append(row)
    rng = random.Random(seed)
    train: list[IntentRow] = []
    dev: list[IntentRow] = []
    for key in sorted(groups, key=str):
        group = list(groups[key])
        rng.shuffle(group)
        n_dev = min(len(group) - 1, round(share * len(group))) if len(group) > 1 else 0
        dev += group[:n_dev]
        train += group[n_dev:]
    return train, dev


def _read_oos_file(path: Path) -> list[IntentRow]:
    if path.suffix.lower() in (".jsonl", ".csv"):
        rows = read_intents(path)
        bad = next((r for r in rows if r.intent is not None), None)
        if bad is not None:
            raise DataError(
                f"an out-of-scope file row has the intent {bad.intent!r}",
                where=bad.where,
                fix="use null intents here, or move the row to the intents file",
            )
        return rows
    from cotune.data.formats import read_text, text_lines

    lines = text_lines(read_text(path))
    return [
        IntentRow(t.strip(), None, detect_lang(t), f"{path}:{n}")
        for n, t in enumerate(lines, start=1)
        if t.strip()
    ]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def build_assistant(
    cfg: AssistantConfig, out: Path, *, overwrite: bool = False, progress: bool | None = None
) -> dict[str, Any]:
    """Build the assistant folder `out` from `cfg`; returns the card's figures."""
    out = Path(out)
    if out.exists() and not (out / MARKER).is_file() and any(out.iterdir()):
        raise ConfigError(
            f"{out} exists and is not an assistant folder",
            where=str(out),
            fix="choose a new --out folder (an existing assistant is replaced with --overwrite)",
        )
    if (out / MARKER).is_file() and not overwrite:
        raise ConfigError(
            f"{out} already holds an assistant",
            where=str(out),
            fix="pass --overwrite to rebuild it (atomically: the old one serves until done)",
        )
    started = time.time()
    rows = read_intents(cfg.intents)
    in_scope = [r for r in rows if r.intent is not None]
    oos = [r for r in rows if r.intent is None]
    if cfg.dev is not None:
        dev_rows = read_intents(cfg.dev)
        dev_in = [r for r in dev_rows if r.intent is not None]
        oos += [r for r in dev_rows if r.intent is None]
        train = in_scope
    else:
        train, dev_in = split_dev(in_scope, cfg.dev_share, cfg.seed)
    if cfg.out_of_scope is not None:
        oos += _read_oos_file(cfg.out_of_scope)
    counts = check_intent_counts(in_scope, cfg.min_examples, cfg.intents)
    intents = set(counts)
    unknown_dev = next((r for r in dev_in if r.intent not in intents), None)
    if unknown_dev is not None:
        raise DataError(
            f"dev intent {unknown_dev.intent!r} is not in the intents file",
            where=unknown_dev.where,
            fix="use the intents of the intents file (or null for out of scope)",
        )
    faq = read_faq(cfg.faq, intents)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.building-", dir=out.parent))
    try:
        figures = _build_into(tmp, cfg, train, dev_in, oos, faq, counts, progress)
        figures["seconds"] = round(time.time() - started, 1)
        meta = json.loads((tmp / MARKER).read_text(encoding="utf-8"))
        meta["card"]["build_seconds"] = figures["seconds"]
        (tmp / MARKER).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", "utf-8")
        if (out / LOG_FILE).is_file():
            shutil.copy2(out / LOG_FILE, tmp / LOG_FILE)
        _swap(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return figures


def _swap(new: Path, out: Path) -> None:
    """Replace `out` by `new` with two renames; `out` is never half-written."""
    if out.exists():
        old = out.with_name(f".{out.name}.old-{int(time.time() * 1000)}")
        out.rename(old)
        new.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        new.rename(out)


def _build_into(
    tmp: Path,
    cfg: AssistantConfig,
    train: list[IntentRow],
    dev: list[IntentRow],
    oos: list[IntentRow],
    faq: list[FaqEntry],
    counts: Counter[str],
    progress: bool | None,
) -> dict[str, Any]:
    from cotune.artifact import load_artifact
    from cotune.config.schema import RunConfig
    from cotune.recipes.finetune import finetune
    from cotune.retrieval import (
        ContrastiveConfig,
        LexicalIndex,
        SentenceEncoder,
        build_index,
        fine_tune,
    )

    data = tmp / "data"
    data.mkdir()
    _write_jsonl(data / "train.jsonl", [{"text": r.text, "label": r.intent} for r in train])
    dev_for_training = dev or train[:1]
    _write_jsonl(
        data / "dev.jsonl", [{"text": r.text, "label": r.intent} for r in dev_for_training]
    )
    extend = cfg.intent.extend_vocab == "on" or (
        cfg.intent.extend_vocab == "auto" and any(r.lang == "zh" for r in train)
    )
    run = RunConfig(
        name="intent",
        task="sequence-classification",
        data={"train": data / "train.jsonl", "dev": data / "dev.jsonl"},
        model={
            "backbone": cfg.intent.backbone,
            "max_length": cfg.intent.max_length,
            "extend_vocab": {"min_freq": 1} if extend else None,
        },
        method=cfg.intent.method.model_dump(),
        train=cfg.intent.train.model_dump(),
        output_dir=tmp,
        tracking={"backend": "none"},
    )
    finetune(run, progress=progress, evaluate_test=False)
    shutil.rmtree(data)
    shutil.rmtree(tmp / "intent" / "checkpoints", ignore_errors=True)
    predictor = load_artifact(tmp / "intent")

    encoder = SentenceEncoder(cfg.retrieval.encoder)
    by_intent: dict[tuple[str | None, str], list[FaqEntry]] = defaultdict(list)
    for entry in faq:
        by_intent[(entry.intent, entry.lang)].append(entry)
        by_intent[(entry.intent, "*")].append(entry)
    pairs = [
        (r.text, e.question)
        for r in train
        for e in (by_intent.get((r.intent, r.lang)) or by_intent.get((r.intent, "*")) or [])[:1]
    ]
    tuned = cfg.retrieval.contrastive_epochs > 0 and len(pairs) >= 2
    if tuned:
        contrastive = ContrastiveConfig(
            epochs=cfg.retrieval.contrastive_epochs, lr=cfg.retrieval.contrastive_lr, seed=cfg.seed
        )
        fine_tune(encoder, pairs, config=contrastive, progress=progress)
    encoder.save(tmp / "encoder")

    options: dict[str, Any] = {}
    if cfg.retrieval.index == "qdrant":
        options = {"url": cfg.retrieval.index_url} if cfg.retrieval.index_url else {}
        if not options:
            options = {"path": tmp / "faq_index" / "qdrant"}
    faq_index = build_index(cfg.retrieval.index, encoder.dim, **options)
    faq_index.add([e.id for e in faq], encoder.encode([e.question for e in faq]))
    faq_index.save(tmp / "faq_index")
    if hasattr(faq_index, "close"):
        faq_index.close()
    utterances = build_index("flat", encoder.dim)
    utterances.add([str(i) for i in range(len(train))], encoder.encode([r.text for r in train]))
    utterances.save(tmp / "utterances")
    lexical_texts = [f"{e.question} {e.answer}" for e in faq]
    LexicalIndex([e.id for e in faq], lexical_texts, cjk=cfg.retrieval.cjk_tokens).save(tmp)
    _write_jsonl(tmp / "faq.jsonl", [e.to_json() for e in faq])

    # the character n-gram member, and the out-of-scope thresholds, chosen on dev (in scope +
    # every out-of-scope example)
    calib = dev + oos
    if not calib:
        raise DataError(
            "nothing to calibrate the out-of-scope threshold on",
            where=str(cfg.intents),
            fix="give more examples per intent (some are held out) or a --dev file",
        )
    lexical = LexicalIntents([r.text for r in train], [str(r.intent) for r in train])
    lexical.save(tmp)
    # grouped by the script the assistant routes on at answer time, not a file's lang column
    texts, langs = [r.text for r in calib], [detect_lang(r.text) for r in calib]
    labels, model = model_probs(predictor, texts)
    from_lexical = lexical.probs(texts, labels)
    vecs = encoder.encode(texts)
    knn = np.array([h[0][1] if h else 0.0 for h in utterances.search(vecs, 1)])
    is_oos = [r.intent is None for r in calib]
    wanted = np.array([r.intent for r in calib], dtype=object)

    def thresholds(weight: float) -> tuple[dict[str, Any], dict[str, np.ndarray], np.ndarray]:
        probs = mix(model, from_lexical, weight)
        correct = np.asarray(labels, dtype=object)[probs.argmax(1)] == wanted
        scores = score_values(probs, knn)
        by_lang = calibrate_by_language(
            scores, is_oos, correct, langs, cfg.oos.target_recall, cfg.oos.score
        )
        return by_lang, scores, correct

    def accuracy_at_threshold(weight: float) -> float:
        by_lang, scores, correct = thresholds(weight)
        kept = accepted(by_lang, scores, langs) & correct
        return float(kept[~np.asarray(is_oos)].mean()) if not all(is_oos) else 0.0

    if cfg.intent.lexical_weight == "auto":
        weight, by_weight = choose_weight(accuracy_at_threshold)
    else:
        weight, by_weight = float(cfg.intent.lexical_weight), {}
    by_lang = thresholds(weight)[0]
    chosen, table = by_lang["*"]
    figures: dict[str, Any] = {}
    meta: dict[str, Any] = {
        "kind": "cotune-assistant",
        "schema_version": 1,
        "name": cfg.intents.parent.name,
        "config": cfg.model_dump(mode="json"),
        "threshold": chosen.to_dict(),
        "intent_mix": {
            "lexical_weight": weight,
            "chosen": "given" if not by_weight else "on dev: in-scope accuracy at the threshold",
            "dev_accuracy_at_threshold_by_weight": {str(w): v for w, v in by_weight.items()},
        },
        "thresholds": {k: t.to_dict() for k, t in table.items()},
        # per language: the threshold applied to queries in it, and its table of scores
        "threshold_by_lang": {
            lang: {"chosen": t.to_dict(), "table": {k: v.to_dict() for k, v in tab.items()}}
            for lang, (t, tab) in by_lang.items()
            if lang != "*"
        },
        "card": {
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "data": {
                "intents": {"path": str(cfg.intents), "sha256_16": _digest(cfg.intents)},
                "faq": {"path": str(cfg.faq), "sha256_16": _digest(cfg.faq)},
                **(
                    {"dev": {"path": str(cfg.dev), "sha256_16": _digest(cfg.dev)}}
                    if cfg.dev
                    else {}
                ),
            },
            "split": {
                "dev": "file"
                if cfg.dev
                else f"seeded split, seed {cfg.seed}, share {cfg.dev_share}",
                "train": len(train),
                "dev_in_scope": len(dev),
                "out_of_scope": len(oos),
            },
            "per_intent": dict(sorted(counts.items())),
            "faq_entries": len(faq),
            "languages": dict(Counter(r.lang for r in train)),
            "extend_vocab": extend,
            "encoder_tuned_on_pairs": len(pairs) if tuned else 0,
        },
    }
    (tmp / MARKER).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", "utf-8")
    # the card's figures come from the built assistant itself, asked every calibration row
    bot = Assistant.load(tmp)
    meta["card"]["dev"] = _dev_figures(bot, calib)
    (tmp / MARKER).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", "utf-8")
    (tmp / "card.md").write_text(_card_markdown(meta), encoding="utf-8")
    figures.update(meta["card"]["dev"], threshold=chosen.to_dict())
    return figures


def _dev_figures(bot: Assistant, calib: Sequence[IntentRow]) -> dict[str, Any]:
    """What the built assistant does on the calibration rows, overall and per language:
    in-scope accuracy without and with the threshold, out-of-scope recall, and the share of
    in-scope answers whose FAQ entry has the query's intent (among intents that have one)."""
    answers = bot.ask_many([r.text for r in calib])
    answerable = {e.intent for e in bot.faq.values()}

    def figures(rows: list[tuple[IntentRow, dict[str, Any]]]) -> dict[str, Any]:
        ins = [(r, a) for r, a in rows if r.intent is not None]
        out = [a for r, a in rows if r.intent is None]
        with_faq = [(r, a) for r, a in ins if r.intent in answerable]

        def share(hits: list[bool]) -> float | None:
            return round(float(np.mean(hits)), 4) if hits else None

        return {
            "in_scope": len(ins),
            "out_of_scope": len(out),
            "in_scope_accuracy": share([a["top_intent"] == r.intent for r, a in ins]),
            "in_scope_accuracy_at_threshold": share([a["intent"] == r.intent for r, a in ins]),
            "oos_recall": share([a["intent"] is None for a in out]),
            "answer_matches_intent": share(
                [
                    a["faq_id"] is not None and bot.faq[a["faq_id"]].intent == r.intent
                    for r, a in with_faq
                ]
            ),
        }

    pairs = list(zip(calib, answers, strict=True))
    langs = sorted({a["lang"] for a in answers})
    return figures(pairs) | {
        "by_lang": {
            lang: figures([(r, a) for r, a in pairs if a["lang"] == lang]) for lang in langs
        }
    }


def _card_markdown(meta: dict[str, Any]) -> str:
    card, th = meta["card"], meta["threshold"]
    lines = [
        f"# Assistant card: {meta['name']}",
        "",
        f"Built {card['built_at']} by `cotune assistant build`.",
        "",
        "## Data",
        "",
        *(f"- {k}: `{v['path']}` (sha256 {v['sha256_16']})" for k, v in card["data"].items()),
        "- split: " + ", ".join(f"{k} {v}" for k, v in card["split"].items()),
        f"- FAQ entries: {card['faq_entries']}; training languages: {card['languages']}",
        f"- vocabulary extended with CJK characters: {card['extend_vocab']}",
        "",
        "## Examples per intent",
        "",
        "| intent | examples |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in card["per_intent"].items()),
        "",
        "## Measured on the calibration rows (dev in scope + out-of-scope examples)",
        "",
        "| rows | in scope | out of scope | in-scope accuracy | at the threshold | "
        "out-of-scope recall | answer has the intent |",
        "|---|---|---|---|---|---|---|",
        *(
            f"| {name} | {f['in_scope']} | {f['out_of_scope']} | {f['in_scope_accuracy']} | "
            f"{f['in_scope_accuracy_at_threshold']} | {f['oos_recall']} | "
            f"{f['answer_matches_intent']} |"
            for name, f in [("all", card["dev"]), *card["dev"]["by_lang"].items()]
        ),
        "",
        f"Intent probabilities: the fine-tuned model's mixed with the character n-gram "
        f"classifier's at weight {meta['intent_mix']['lexical_weight']} "
        f"({meta['intent_mix']['chosen']}; by weight: "
        + ", ".join(
            f"{w}: {v:.3f}"
            for w, v in meta["intent_mix"]["dev_accuracy_at_threshold_by_weight"].items()
        )
        + ").",
        "",
        "## Out-of-scope thresholds (the one applied is marked; a language without enough "
        "out-of-scope rows of its own uses `all`)",
        "",
        "| rows | score | threshold | out-of-scope recall | in-scope accuracy | target reached |",
        "|---|---|---|---|---|---|",
        *(
            f"| {rows} | {k}{' (applied)' if k == chosen['score'] else ''} | {t['value']:.4f} | "
            f"{t['oos_recall']:.3f} | {t['in_scope_accuracy']:.3f} | {t['reached_target']} |"
            for rows, chosen, table in [
                ("all", th, meta["thresholds"]),
                *(
                    (lang, v["chosen"], v["table"])
                    for lang, v in meta.get("threshold_by_lang", {}).items()
                ),
            ]
            for k, t in table.items()
        ),
        "",
    ]
    return "\n".join(lines)
