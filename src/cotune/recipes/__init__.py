"""Recipes: read top to bottom, call only the library."""
