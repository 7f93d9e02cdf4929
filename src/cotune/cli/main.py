"""The `cotune` command."""

from __future__ import annotations

import os

import typer

from cotune.cli import assistant as assistant_cli
from cotune.cli import catalogs, data, evaluate, predict, serve, train
from cotune.cli import distill as distill_cli
from cotune.cli import drift as drift_cli
from cotune.cli import explain as explain_cli
from cotune.cli import export as export_cli
from cotune.cli import federate as federate_cli
from cotune.cli import merge as merge_cli
from cotune.cli import monitor as monitor_cli
from cotune.cli import pretrain as pretrain_cli
from cotune.cli import recommend as recommend_cli
from cotune.cli import redact as redact_cli
from cotune.cli import registry as registry_cli
from cotune.cli import reproduce as reproduce_cli
from cotune.cli import runs as runs_cli
from cotune.cli import tune as tune_cli
from cotune.cli import vocab as vocab_cli

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
app.command("explain", help=explain_cli.HELP)(explain_cli.explain)
app.command("merge", help=merge_cli.HELP)(merge_cli.merge)
app.command(
    "distill",
    help=distill_cli.HELP,
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)(distill_cli.distill)
app.command("export", help=export_cli.HELP)(export_cli.export)
app.command("serve", help=serve.HELP)(serve.serve)
app.command(
    "tune",
    help=tune_cli.HELP,
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)(tune_cli.tune)
app.command("reproduce", help=reproduce_cli.HELP)(reproduce_cli.reproduce)
app.command(
    "recommend",
    help=recommend_cli.HELP,
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)(recommend_cli.recommend)
app.command("drift", help=drift_cli.HELP)(drift_cli.drift)
app.command("redact", help=redact_cli.REDACT_HELP)(redact_cli.redact)
app.command("reidentify", help=redact_cli.REIDENTIFY_HELP)(redact_cli.reidentify)
app.command(
    "pretrain",
    help=pretrain_cli.HELP,
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)(pretrain_cli.pretrain)
app.add_typer(vocab_cli.app, name="vocab")
app.add_typer(assistant_cli.app, name="assistant")
app.add_typer(monitor_cli.app, name="monitor")
app.add_typer(federate_cli.app, name="federate")
app.add_typer(runs_cli.app, name="runs")
app.add_typer(registry_cli.app, name="registry")
app.add_typer(data.app, name="data")
app.add_typer(catalogs.models_app, name="models")
app.add_typer(catalogs.methods_app, name="methods")

if __name__ == "__main__":
    app()
