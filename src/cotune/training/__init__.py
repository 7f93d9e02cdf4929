"""The one training loop, with batching, optimiser/schedule, checkpoints and callbacks."""
