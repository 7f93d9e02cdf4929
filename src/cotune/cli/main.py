"""The `cotune` command."""

from __future__ import annotations

import os

import typer

from cotune.cli import catalogs, data, evaluate, predict, train

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _quiet_libraries() -> None:
    """transformers' load reports and shard bars drown cotune's own output."""
    from huggingface_hub.utils import disable_progress_bars
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    disable_progress_bars()


_quiet_libraries()

app = typer.Typer(
    help="cotune: adapt pretrained encoders into evaluated, shippable task models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.command(
    "train",
    help=train.HELP,
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)(train.train)
app.command("evaluate", help=evaluate.HELP)(evaluate.evaluate)
app.command("predict", help=predict.HELP)(predict.predict)
app.add_typer(data.app, name="data")
app.add_typer(catalogs.models_app, name="models")
app.add_typer(catalogs.methods_app, name="methods")

if __name__ == "__main__":
    app()
