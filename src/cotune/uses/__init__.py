"""Uses of an artifact: evaluate, predict (texts and files), data summaries."""
