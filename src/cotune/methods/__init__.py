"""Adaptation methods: one module each, registered in `catalog.METHODS`."""

from cotune.methods.catalog import METHODS, Method, MethodContext, get_method, register

# Importing the modules registers them.
from cotune.methods import full, freeze, lora, adalora, ia3, prefix, adapter  # noqa: F401  isort: skip

__all__ = ["METHODS", "Method", "MethodContext", "get_method", "register"]
