"""The artifact: one folder with the model (HF format), tokenizer, label map, config,
provenance, split, metrics, training curve and model card."""

from cotune.artifact.load import Predictor, load_artifact

__all__ = ["Predictor", "load_artifact"]
