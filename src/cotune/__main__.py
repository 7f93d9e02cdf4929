"""`python -m cotune ...`: what torchrun starts (`torchrun --nproc-per-node N -m cotune train`)."""

from cotune.cli.main import app

app()
