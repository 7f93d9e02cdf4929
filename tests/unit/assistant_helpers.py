"""A tiny assistant for the assistant tests: three intents in the tiny tokenizer's words, out-
of-scope rows, an FAQ, built once on the 2-layer test BERT (intent model and encoder)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

INTENTS = {
    "travel": [
        "he went to paris",
        "she visited london",
        "we went to berlin",
        "they visited new york",
        "i went to paris today",
        "she went to london yesterday",
        "he visited berlin",
        "we saw paris",
    ],
    "film": [
        "the film was great",
        "a good movie",
        "the movie was bad",
        "the film was terrible",
        "a fine film",
        "the movie was awful",
        "she loves the film",
        "he hates the movie",
    ],
    "company": [
        "apple is a company",
        "google is a company",
        "microsoft and amazon",
        "the company google",
        "amazon is a company",
        "apple and google",
        "microsoft is a company",
        "the company apple",
    ],
}
OUT_OF_SCOPE = ["the person", "a thing", "it is a place", "1 2 3", "tomorrow", "# @ !"]
FAQ = [
    {
        "id": "trip",
        "question": "how do i go to paris",
        "answer": "Take the train.",
        "intent": "travel",
    },
    {"id": "cinema", "question": "is the film good", "answer": "It is great.", "intent": "film"},
    {
        "id": "firm",
        "question": "what company is apple",
        "answer": "A company.",
        "intent": "company",
    },
    {"id": "misc", "question": "what is new", "answer": "Nothing new."},
]


def write_data(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = [
        {"text": t, "intent": i} for i, texts in INTENTS.items() for t in texts
    ] + [{"text": t, "intent": None} for t in OUT_OF_SCOPE]
    write_jsonl(folder / "intents.jsonl", rows)
    write_jsonl(folder / "faq.jsonl", FAQ)
    return folder


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")


def tiny_config(data: Path, backbone: Path, **extra: Any) -> dict[str, Any]:
    """The build config of the tests: every model is the tiny BERT, trained briefly."""
    cfg: dict[str, Any] = {
        "intents": str(data / "intents.jsonl"),
        "faq": str(data / "faq.jsonl"),
        "intent": {
            "backbone": str(backbone),
            "max_length": 16,
            "train": {"epochs": 8, "batch_size": 8, "lr": 3e-3, "seed": 3},
        },
        "retrieval": {"encoder": str(backbone), "contrastive_epochs": 1, "contrastive_lr": 1e-3},
    }
    for key, value in extra.items():
        cfg[key] = value
    return cfg


@pytest.fixture(scope="session")
def built(tiny_backbone: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny assistant folder, built once per session."""
    from cotune.apps.assistant.build import build_assistant
    from cotune.apps.assistant.config import AssistantConfig

    root = tmp_path_factory.mktemp("assistant")
    data = write_data(root / "data")
    cfg = AssistantConfig.model_validate(tiny_config(data, tiny_backbone))
    build_assistant(cfg, root / "bot", progress=False)
    return root / "bot"
