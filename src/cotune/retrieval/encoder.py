"""Sentence embeddings: mean pooling over a BERT-family encoder, L2-normalised.

all-MiniLM-L6-v2 (cotune's `minilm-l6`) was trained as a sentence encoder with exactly this
pooling, so `SentenceEncoder("minilm-l6")` reproduces sentence-transformers' vectors without
that package. Vectors are unit length, so an inner product is a cosine: every index backend
relies on that. The torch model and tokenizer are exposed so that `contrastive.fine_tune` can
adapt them to a domain; `save`/`load` keep the result in one folder.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cotune.errors import ArtifactError, DataError

ENCODER_FILE = "sentence_encoder.json"


class SentenceEncoder:
    """Texts -> float32 unit vectors of shape (n, dim).

    `backbone` is a catalog name (`minilm-l6`), a model folder, or a folder written by
    `SentenceEncoder.save`. `max_length` caps tokens per text: longer texts are cut (FAQ
    questions and chat messages are short; all-MiniLM-L6-v2 was trained at 128).
    """

    def __init__(self, backbone: str | Path = "minilm-l6", *, max_length: int = 128) -> None:
        from transformers import AutoModel, AutoTokenizer

        from cotune.models.catalog import resolve_backbone

        self.source = str(backbone)
        self.max_length = int(max_length)
        path = resolve_backbone(str(backbone))
        try:
            self.tokenizer: Any = AutoTokenizer.from_pretrained(str(path))
            self.model: Any = AutoModel.from_pretrained(str(path))
        except (OSError, ValueError) as e:
            raise ArtifactError(
                f"cannot load a sentence encoder from {path}: {e}",
                fix="point at a catalog name (minilm-l6) or a Hugging Face model folder",
            ) from None
        self.model.eval()

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def embed(self, texts: Sequence[str]) -> torch.Tensor:
        """Differentiable unit vectors for one batch (the contrastive trainer calls this)."""
        batch = self.tokenizer(
            list(texts),
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )
        batch = {k: v.to(self.device) for k, v in batch.items() if k != "token_type_ids"}
        hidden = self.model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, p=2, dim=-1)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Unit float32 vectors, one row per text, in order. Texts are sorted by length into
        batches so that short ones do not pay for a long one's padding."""
        texts = list(texts)
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise DataError(
                    f"text {i} is {type(text).__name__}, not a string",
                    where=f"texts[{i}]",
                    fix="pass strings only",
                )
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        was_training = self.model.training
        self.model.eval()
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                vecs = self.embed([texts[i] for i in idx])
                out[idx] = vecs.float().cpu().numpy()
        self.model.train(was_training)
        return out

    def save(self, folder: str | Path) -> Path:
        """Write the model, tokenizer and pooling settings into `folder` (created)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)
        meta = {"pooling": "mean", "normalize": True, "max_length": self.max_length}
        meta["source"] = self.source
        (folder / ENCODER_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> SentenceEncoder:
        """Read a folder written by `save` (or any model folder: mean pooling, 128 tokens)."""
        folder = Path(folder)
        meta_path = folder / ENCODER_FILE
        max_length = 128
        if meta_path.is_file():
            try:
                meta = json.loads(meta_path.read_text(encoding="utf-8"))
                max_length = int(meta.get("max_length", 128))
            except (ValueError, TypeError, AttributeError) as e:
                raise ArtifactError(
                    f"{meta_path} is not a valid encoder description: {e}",
                    where=str(meta_path),
                    fix="re-save the encoder with SentenceEncoder.save",
                ) from None
        return cls(folder, max_length=max_length)
