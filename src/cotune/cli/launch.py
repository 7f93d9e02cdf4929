"""`--nproc N`: run the same command as N data-parallel processes under torchrun.

The command line is rebuilt from what click parsed (every option that differs from its default,
plus the config overrides), so an option added to a command later travels without edits here.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import click
import typer

from cotune.cli.common import console

NPROC_HELP = (
    "Train as N data-parallel processes on this machine (torchrun; gloo on the CPU, NCCL on "
    "GPUs, one GPU each). Several machines: docs/scale.md."
)


def nproc_option() -> Any:
    return typer.Option(1, "--nproc", min=1, help=NPROC_HELP)


def relaunch(ctx: typer.Context, nproc: int) -> None:
    """With nproc > 1 (and not already under torchrun): start torchrun on this very command,
    wait for it and exit with its status. Otherwise return and let the command run here."""
    from cotune.training import distributed  # torch: only when a command runs, not at start-up

    if nproc <= 1 or distributed.launched_by_torchrun():
        return
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",  # a rendezvous on this machine, on a free port
        f"--nproc-per-node={nproc}",
        "-m",
        "cotune",
        *_command_line(ctx),
    ]
    console.print(f"starting {nproc} processes: {' '.join(cmd[1:])}", highlight=False)
    raise typer.Exit(subprocess.call(cmd))


def is_worker() -> bool:
    """A rank other than 0: it trained its share; rank 0 reports."""
    from cotune.training import distributed

    return not distributed.current().is_main


def _command_line(ctx: click.Context) -> list[str]:
    names: list[str] = []
    c: click.Context | None = ctx
    while c is not None and c.parent is not None:  # sub-command path below `cotune`
        names.insert(0, c.info_name or "")
        c = c.parent
    args: list[str] = []
    for param in ctx.command.params:
        value = ctx.params.get(param.name or "")
        if param.name == "nproc":
            continue
        if isinstance(param, click.Argument):
            args += [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]
        elif isinstance(param, click.Option) and value is not None and value != param.default:
            flag = param.opts[0]
            if param.is_flag:
                args.append(flag if value else (param.secondary_opts or [flag])[0])
            else:
                args += [flag, str(value)]
    return [*names, *args, *ctx.args]
