"""Pretrained backbones: a catalog of named encoders, loading offline, and importers."""
