"""cotune: adapt pretrained encoders into evaluated, shippable task models."""

__version__ = "0.1.0"
