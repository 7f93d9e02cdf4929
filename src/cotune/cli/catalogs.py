"""`cotune models list`, `cotune methods list`"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

models_app = typer.Typer(help="Pretrained backbones.", no_args_is_help=True)
methods_app = typer.Typer(help="Adaptation methods.", no_args_is_help=True)


@models_app.command("list", help="List the backbone catalog.\n\n  cotune models list")
def list_models() -> None:
    from cotune.models.catalog import BACKBONES

    table = Table("name", "package", "description")
    for b in BACKBONES.values():
        table.add_row(b.name, b.package, b.description)
    Console().print(table)


@methods_app.command(
    "list", help="List the adaptation methods and their options.\n\n  cotune methods list"
)
def list_methods() -> None:
    from cotune.methods import METHODS

    table = Table("name", "options", "description")
    for m in METHODS.values():
        table.add_row(m.name, ", ".join(m.options.model_fields), m.description)
    Console().print(table)
