"""Adaptation methods: one module each, registered in `registry.METHODS`."""

from cotune.methods.registry import METHODS, Method, get_method, register

# Importing the modules registers them.
from cotune.methods import full, freeze  # noqa: F401  isort: skip

__all__ = ["METHODS", "Method", "get_method", "register"]
