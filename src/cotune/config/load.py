"""Load a run config from YAML, apply `--section.key value` overrides, validate.

Errors name the file, the line of the offending key where it has one, the key and the fix.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from cotune.config.schema import RunConfig
from cotune.errors import ConfigError


def _line_of(node: Any, loc: Sequence[str | int]) -> int | None:
    """Line (1-based) of the YAML key at `loc`, if present in the file."""
    line = None
    for key in loc:
        if not isinstance(node, yaml.MappingNode):
            break
        for k, v in node.value:
            if k.value == str(key):
                line, node = k.start_mark.line + 1, v
                break
        else:
            break
    return line


M = TypeVar("M", bound=BaseModel)


def parse_overrides(args: Sequence[str]) -> dict[str, Any]:
    """['--train.lr', '3e-5', '--data.limit=10'] -> {'train.lr': 3e-05, 'data.limit': 10}."""
    out: dict[str, Any] = {}
    it = iter(args)
    for arg in it:
        if not arg.startswith("--") or len(arg) == 2:
            raise ConfigError(
                f"unexpected argument {arg!r}", fix="overrides look like --train.lr 3e-5"
            )
        key, eq, value = arg[2:].partition("=")
        if not eq:
            try:
                value = next(it)
            except StopIteration:
                raise ConfigError(f"--{key} needs a value", fix=f"--{key} VALUE") from None
        try:
            parsed = yaml.safe_load(value) if value != "" else None
        except yaml.YAMLError as e:
            raise ConfigError(
                f"value {value!r} is not valid YAML ({getattr(e, 'problem', e)})",
                where=f"--{key}",
                fix=f"quote a value meant as text (--{key} \"'{value}'\"), or close its "
                "brackets ([1, 2], {a: 1})",
            ) from None
        out[key.replace("-", "_")] = parsed
    return out


def apply_overrides(raw: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    for dotted, value in overrides.items():
        node = raw
        *parents, leaf = dotted.split(".")
        for i, p in enumerate(parents):
            child = node.setdefault(p, {})
            if not isinstance(child, dict):
                value_key = ".".join(parents[: i + 1])
                raise ConfigError(
                    f"{value_key!r} is a value, not a section with keys",
                    where=f"--{dotted}",
                    fix=f"set it with --{value_key} VALUE",
                )
            node = child
        node[leaf] = value
    return raw


def _suggest(model: type[BaseModel], loc: Sequence[str | int]) -> str:
    fields: Any = model.model_fields
    for key in loc[:-1]:
        f = fields.get(str(key))
        ann = getattr(f, "annotation", None)
        if f is None or not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return ""
        fields = ann.model_fields
    close = difflib.get_close_matches(str(loc[-1]), list(fields), n=1)
    return f"did you mean {close[0]!r}? " if close else ""


# keys whose relative paths are read relative to the config file, as users expect
RELATIVE_PATHS: dict[str, tuple[str, ...]] = {"data": ("train", "dev", "test", "source")}


def check_schema(
    raw: dict[str, Any], schema: type[M], source: str = "<config>", tree: Any = None
) -> M:
    """Check `raw` against any config schema; an error names the key, its line in `source`
    and the fix (a close key name for a typo)."""
    try:
        return schema.model_validate(raw)
    except ValidationError as e:
        err = e.errors()[0]
        loc = [x for x in err["loc"] if not str(x).startswith("function-after")]
        key = ".".join(str(x) for x in loc) or "(top level)"
        line = _line_of(tree, loc) if tree is not None else None
        where = f"{source}:{line}" if line else source
        if err["type"] == "extra_forbidden":
            what, fix = f"unknown key {key!r}", _suggest(schema, loc) + "remove or rename it"
        elif err["type"] == "missing":  # its input is the whole enclosing section: not shown
            what, fix = f"missing required key {key!r}", f"add {key} (README.md lists the keys)"
        elif not loc:  # a rule across sections: the message names its keys
            what = str(err["msg"]).removeprefix("Value error, ")
            fix = "change the keys the message names"
        else:
            what = f"{key}: {err['msg']} (got {err.get('input')!r})"
            fix = f"set {key} to a valid value (the config table in README.md lists the keys)"
        raise ConfigError(what, where=where, fix=fix) from None


def validate(
    raw: dict[str, Any],
    source: str = "<config>",
    tree: Any = None,
    schema: type[RunConfig] = RunConfig,
) -> RunConfig:
    """Check `raw` against `schema` (RunConfig or a recipe's extension of it) and the method's
    own options; errors name the key, its line in `source` and the fix."""
    cfg = check_schema(raw, schema, source, tree)
    from cotune.methods import get_method

    get_method(cfg.method.name).parse(cfg.method.options())
    return cfg


def _refuse_duplicate_keys(node: Any, path: Path, prefix: str = "") -> None:
    """YAML keeps the last of two equal keys and drops the first without a word (a second
    `train:` section silently discards the whole first one); cotune refuses instead."""
    if isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _refuse_duplicate_keys(item, path, prefix)
    if not isinstance(node, yaml.MappingNode):
        return
    first: dict[str, int] = {}
    for k, v in node.value:
        if not isinstance(k, yaml.ScalarNode) or k.tag == "tag:yaml.org,2002:merge":
            continue
        line = k.start_mark.line + 1
        if k.value in first:
            raise ConfigError(
                f"key {prefix + k.value!r} is given twice (lines {first[k.value]} and {line}); "
                "YAML would silently keep only the second",
                where=f"{path}:{line}",
                fix="keep one of them (merge the two into one section)",
            )
        first[k.value] = line
        _refuse_duplicate_keys(v, path, f"{prefix}{k.value}.")


def read_config(
    path: str | Path, overrides: dict[str, Any] | None = None
) -> tuple[dict[str, Any], Any]:
    """A YAML config file with `--section.key value` overrides applied: (mapping, YAML node
    tree for error lines)."""
    path = Path(path)
    if not path.exists():
        raise ConfigError("no such config file", where=str(path), fix="check the path")
    text = path.read_text(encoding="utf-8")
    try:
        tree = yaml.compose(text)
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"not valid YAML: {getattr(e, 'problem', e)}", where=where) from None
    _refuse_duplicate_keys(tree, path)
    if not isinstance(raw, dict):
        raise ConfigError("a config is a YAML mapping", where=str(path))
    return apply_overrides(raw, overrides or {}), tree


def relative_to_config(path: Path, value: Any) -> Any:
    """A relative path that exists beside the config file (and not from the working
    directory) is read from there, as users expect."""
    if isinstance(value, str) and not Path(value).is_absolute():
        cand = path.parent / value
        if cand.exists() and not Path(value).exists():
            return str(cand)
    return value


def load_config(
    path: str | Path,
    overrides: dict[str, Any] | None = None,
    schema: type[RunConfig] = RunConfig,
    relative_paths: dict[str, tuple[str, ...]] = RELATIVE_PATHS,
) -> RunConfig:
    """A config file + `--section.key value` overrides, validated against `schema`."""
    path = Path(path)
    raw, tree = read_config(path, overrides)
    for section_name, keys in relative_paths.items():
        section = raw.get(section_name)
        if not isinstance(section, dict):
            continue
        for key in keys:
            if key in section:
                section[key] = relative_to_config(path, section[key])
    return validate(raw, str(path), tree, schema)
