"""Small builders shared by the unit tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import BertConfig, BertTokenizer, PreTrainedModel

from cotune.config.schema import RunConfig
from cotune.training.loop import TrainState

ASSETS = Path(__file__).resolve().parent.parent / "assets"
NER = ASSETS / "ner_tiny.conll"
CLS = ASSETS / "cls_tiny.jsonl"

# the smallest valid run config, for the config tests to break one key at a time
BASE = """\
task: token-classification
data:
  source: wnut16
train:
  lr: 5.0e-5
"""


def tiny_config(backbone: Path, out: Path, task: str = "ner", **train: Any) -> RunConfig:
    data = NER if task == "ner" else CLS
    return RunConfig(
        task="token-classification" if task == "ner" else "sequence-classification",
        data={"train": data, "dev": data, "test": data},
        model={"backbone": str(backbone), "max_length": 16, "window_context": 2},
        train={"epochs": 2, "batch_size": 2, "lr": 1e-3, "seed": 7, **train},
        output_dir=out,
    )


class Crash(Exception):
    pass


class CrashAt:
    """Simulates a kill right after step `step` (after its checkpoint was written)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, state: TrainState, model: torch.nn.Module) -> None:
        if state.step == self.step:
            raise Crash


# a 2-layer, 32-wide BERT over word_tokenizer's 100 ids
TINY_BERT: dict[str, Any] = dict(
    vocab_size=100,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=64,
    max_position_embeddings=64,
)


def word_tokenizer() -> BertTokenizer:
    """A word-level tokenizer over [PAD] [UNK] [CLS] [SEP] [MASK] word0..word94."""
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"word{i}" for i in range(95)]
    return BertTokenizer(vocab={t: i for i, t in enumerate(vocab)})


def tiny_classifier(head: type[PreTrainedModel], num_labels: int = 5) -> PreTrainedModel:
    """Random tiny BERT with every weight perturbed: default init has zero biases, which would
    let a dropped bias or a wrong input go unnoticed."""
    torch.manual_seed(0)
    config = BertConfig(**TINY_BERT)
    config.num_labels = num_labels
    model = head(config).eval()
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.1 * torch.randn_like(param))
    return model


def random_batch(batch: int, sequence: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Token ids, a padded tail on the first row, and both token types."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, 100, (batch, sequence), generator=generator)
    mask = torch.ones_like(ids)
    mask[0, sequence // 2 + 1 :] = 0
    types = torch.zeros_like(ids)
    types[:, sequence // 2 :] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def flat(output: str) -> str:
    """CLI output on one line: Rich wraps messages at the console width, which moves with the
    length of the paths they name (tmp folders differ between machines)."""
    return " ".join(output.split())
