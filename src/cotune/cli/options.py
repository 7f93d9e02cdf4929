"""Commands whose flags are a typed schema's keys (export, predict, redact, serve), validated the
same way as a run config's: the flag `--max-drop` is the field `max_drop`, its default and help
are the field's, and a bad value is a ConfigError naming the flag and the fix.

(`train`, `distill`, `pretrain`, `federate` take a YAML config whose keys are dotted flags; these
commands have no config file, so each flag is one typer option generated from the schema.)
"""

from __future__ import annotations

from typing import Any, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticUndefined

from cotune.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def flag_of(field: str) -> str:
    return "--" + field.replace("_", "-")


def option(schema: type[BaseModel], field: str, *aliases: str, **typer_options: Any) -> Any:
    """The typer option for `schema.field`: its flag, default and help come from the schema."""
    info = schema.model_fields[field]
    default = ... if info.default is PydanticUndefined else info.default
    if info.default_factory is not None:
        default = None  # computed by the schema when the flag is absent
    return typer.Option(default, flag_of(field), *aliases, help=info.description, **typer_options)


def build(schema: type[M], given: dict[str, Any], command: str) -> M:
    """The schema from the flags given (None: not given, the schema's default applies)."""
    try:
        return schema(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as e:
        err = e.errors()[0]
        loc = [str(p) for p in err["loc"] if not isinstance(p, int)]
        where = flag_of(loc[0]) if loc else "an option"
        value = err.get("input")
        got = f" (got {value!r})" if loc and not isinstance(value, dict) else ""
        field = schema.model_fields.get(loc[0]) if loc else None
        what = f"{where} is: {field.description} " if field and field.description else ""
        raise ConfigError(
            f"{where}: {err['msg']}{got}", fix=f"{what}(see `cotune {command} --help`)"
        ) from None
