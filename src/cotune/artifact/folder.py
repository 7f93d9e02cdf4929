"""An artifact's output folder before it holds an artifact: refuse to clobber a finished run,
resume only the same config, and leave nothing behind when set-up fails."""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from cotune.errors import ConfigError


def prepare_output(out: Path, cfg: BaseModel, *, resume: bool, overwrite: bool) -> None:
    """Refuse to clobber a finished artifact or someone's unfinished run, unless asked (any
    config schema: run, distill, pre-train)."""
    saved = out / "run_config.yaml"
    if out.exists() and any(out.iterdir()):
        if overwrite:
            shutil.rmtree(out)
        elif resume:
            if saved.exists():
                try:
                    old = yaml.safe_load(saved.read_text(encoding="utf-8"))
                except yaml.YAMLError:
                    old = None
                if not isinstance(old, dict):
                    raise ConfigError(
                        "--resume: the run's saved config is not a YAML mapping",
                        where=str(saved),
                        fix="restore the file, or start the run again (--overwrite)",
                    )
                new = cfg.model_dump(mode="json")
                # where the run is tracked does not change what it computes
                old.pop("tracking", None)
                new.pop("tracking", None)
                diff = sorted(_diff(old, new))
                if diff:
                    raise ConfigError(
                        f"--resume with a different config: {', '.join(diff)} changed",
                        where=str(saved),
                        fix="resume with the same config, or start a new run (--name / "
                        "--overwrite)",
                    )
        else:
            raise ConfigError(
                f"{out} already holds a run",
                fix="pass --resume to continue it, --overwrite to replace it, or set --name",
            )
    out.mkdir(parents=True, exist_ok=True)
    if not saved.exists():
        saved.write_text(
            yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False), encoding="utf-8"
        )


@contextmanager
def output_folder(out: Path, cfg: BaseModel, *, resume: bool, overwrite: bool) -> Iterator[Path]:
    """`prepare_output`, under `discard_setup_only`: a run that then fails before writing more
    than its run_config.yaml leaves no folder behind."""
    with discard_setup_only(out, ("run_config.yaml",), overwrite=overwrite):
        prepare_output(out, cfg, resume=resume, overwrite=overwrite)
        yield out


@contextmanager
def discard_setup_only(out: Path, setup: Sequence[str], *, overwrite: bool) -> Iterator[None]:
    """A run that fails while `out` holds only its set-up files (a missing data file, an unknown
    backbone, an option refused at set-up) takes the folder away again: it holds nothing to
    resume, and would refuse the corrected config's rerun ('already holds a run'). A folder that
    held something before is left as it is."""
    held = out.exists() and any(out.iterdir()) and not overwrite
    try:
        yield
    except BaseException:
        if not held and out.is_dir() and {p.name for p in out.iterdir()} <= set(setup):
            shutil.rmtree(out)
        raise


def _diff(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for k in set(a) | set(b):
            out += _diff(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return [] if a == b else [prefix.rstrip(".")]
