"""Shared fixtures: a tiny random BERT (2 layers, hidden 32) with a locally built tokenizer.

Everything is built in code, offline and deterministic; tests never touch the Hub.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# runs of unrelated tests are not tracked (tests of tracking pick a backend and a temp store)
os.environ.setdefault("COTUNE_TRACKING", "none")
torch.set_num_threads(1)

WORDS = [
    "the",
    "a",
    "of",
    "and",
    "to",
    "in",
    "is",
    "was",
    "he",
    "she",
    "it",
    "they",
    "we",
    "you",
    "i",
    "on",
    "at",
    "by",
    "for",
    "with",
    "from",
    "this",
    "that",
    "paris",
    "london",
    "berlin",
    "new",
    "york",
    "john",
    "mary",
    "obama",
    "apple",
    "google",
    "microsoft",
    "amazon",
    "city",
    "company",
    "visited",
    "went",
    "saw",
    "likes",
    "loves",
    "hates",
    "film",
    "movie",
    "great",
    "bad",
    "good",
    "terrible",
    "awful",
    "fine",
    "person",
    "place",
    "thing",
    "today",
    "yesterday",
    "tomorrow",
    ".",
    ",",
    "!",
    "?",
    "'",
    "-",
    "@",
    "#",
    ":",
    "(",
    ")",
    "&",
    "$",
    "%",
    "1",
    "2",
    "3",
    "##s",
    "##ed",
    "##ing",
    "##er",
    "##ly",
    "##y",
    "##a",
    "##e",
    "##o",
    "##n",
    "##t",
    "##r",
    "##l",
]
ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
CHARS = list(ALNUM) + [f"##{c}" for c in ALNUM]
CJK = list("北京上海中国人民日报江泽民新华社记者李鹏好差很")


def build_tokenizer(folder: Path):
    from transformers import BertTokenizerFast

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    for tok in WORDS + CHARS + CJK:
        if tok not in vocab:
            vocab.append(tok)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tok = BertTokenizerFast(vocab={t: i for i, t in enumerate(vocab)}, do_lower_case=True)
    tok.save_pretrained(folder)
    return tok


def build_tiny_backbone(folder: Path, seed: int = 0) -> Path:
    """A 2-layer, 32-hidden BertModel saved as a HF folder, with its tokenizer."""
    from transformers import BertConfig, BertModel

    tok = build_tokenizer(folder)
    torch.manual_seed(seed)
    cfg = BertConfig(
        vocab_size=len(tok),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(cfg).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_backbone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_backbone(tmp_path_factory.mktemp("tiny-bert"))
