"""The demo data set: Northwind Bank, a fictitious online bank, written by the cotune project
(no real customer data). 22 intents with English and Chinese phrasings and FAQ answers, and
out-of-scope queries, many of them near misses that share words with real intents ("I lost my
keys", "reset my wifi router password").

Per intent and language the first 8 phrasings go to the intents file (the build holds out a
seeded share of them as dev) and the last 3 to the test file; out-of-scope queries are cut
half into the intents file (`intent: null`, used for calibration only) and half into test.
"""

from __future__ import annotations

import json
import random
from importlib import resources
from pathlib import Path
from typing import Any

TRAIN_PHRASINGS = 8
LANGS = ("en", "zh")


def demo_source() -> dict[str, Any]:
    text = resources.files("cotune.apps.assistant").joinpath("demo_bank.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def write_demo(out: Path, seed: int = 13) -> dict[str, int]:
    """Write intents.jsonl, faq.jsonl, test.jsonl and README.md into `out`; returns counts."""
    src = demo_source()
    intents, test, faq = [], [], []
    for intent, spec in src["intents"].items():
        for lang in LANGS:
            faq_id = f"{intent}-{lang}"
            question, answer = spec["faq"][lang]
            faq.append(
                {
                    "id": faq_id,
                    "question": question,
                    "answer": answer,
                    "intent": intent,
                    "lang": lang,
                }
            )
            phrasings = spec[lang]
            intents += [
                {"text": t, "intent": intent, "lang": lang} for t in phrasings[:TRAIN_PHRASINGS]
            ]
            test += [
                {"text": t, "intent": intent, "lang": lang, "faq_id": faq_id}
                for t in phrasings[TRAIN_PHRASINGS:]
            ]
    rng = random.Random(seed)
    for lang in LANGS:
        queries = list(src["out_of_scope"][lang])
        rng.shuffle(queries)
        half = len(queries) // 2
        intents += [{"text": t, "intent": None, "lang": lang} for t in queries[:half]]
        test += [{"text": t, "intent": None, "lang": lang, "faq_id": None} for t in queries[half:]]
    out.mkdir(parents=True, exist_ok=True)
    for name, rows in (("intents", intents), ("faq", faq), ("test", test)):
        with (out / f"{name}.jsonl").open("w", encoding="utf-8") as f:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    (out / "README.md").write_text(_README.format(**_counts(intents, test, faq)), encoding="utf-8")
    return _counts(intents, test, faq)


def _counts(
    intents: list[dict[str, Any]], test: list[dict[str, Any]], faq: list[dict[str, Any]]
) -> dict[str, int]:
    return {
        "intents": len({r["intent"] for r in intents if r["intent"]}),
        "train_rows": sum(1 for r in intents if r["intent"]),
        "train_oos": sum(1 for r in intents if not r["intent"]),
        "test_rows": sum(1 for r in test if r["intent"]),
        "test_oos": sum(1 for r in test if not r["intent"]),
        "faq": len(faq),
    }


_README = """# support-demo: Northwind Bank (the project's own demo data)

Written by the cotune project for the customer-service assistant demo: Northwind Bank is
fictitious and no row comes from real customers. Regenerate with
`cotune assistant demo-data examples/support-demo`
(source: `src/cotune/apps/assistant/demo_bank.json`).

- `intents.jsonl`: {train_rows} labelled utterances of {intents} intents, English and Chinese
  (`lang`), plus {train_oos} out-of-scope examples (`"intent": null`) for calibration.
- `faq.jsonl`: {faq} FAQ entries, one per intent and language, ids `<intent>-<lang>`.
- `test.jsonl`: held out, never read by the build: {test_rows} in-scope utterances (phrasings
  not in the intents file) with their `faq_id`, and {test_oos} out-of-scope queries, many of
  them near misses that share words with real intents.

```bash
cotune assistant build examples/support-demo --out runs/bank-assistant
cotune assistant ask runs/bank-assistant "I lost my card"
```
"""
