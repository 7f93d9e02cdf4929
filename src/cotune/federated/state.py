"""What the server keeps on disk: a resumable checkpoint after every round, and every accepted
update (the ledger re-aggregates coalitions from them).

Files are written to a temp name and renamed; `state.json` is replaced last and names the
weights file it belongs to, so a crash at any moment leaves the previous round's checkpoint
intact and consistent.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cotune.errors import ArtifactError
from cotune.federated.aggregate import Update
from cotune.federated.exchange import Arrays
from cotune.files import atomic_path, atomic_write_text

STATE_FILE = "state.json"


def save_arrays(path: Path, arrays: Arrays) -> None:
    with atomic_path(path) as tmp, tmp.open("wb") as f:
        np.savez(f, *arrays.values())  # arr_0, arr_1, ... in name order
        atomic_write_text(path.with_suffix(".names.json"), json.dumps(list(arrays)))


def load_arrays_file(path: Path) -> Arrays:
    names = json.loads(path.with_suffix(".names.json").read_text(encoding="utf-8"))
    with np.load(path) as data:
        return {name: data[f"arr_{i}"].copy() for i, name in enumerate(names)}


def safe_name(party: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", party)[:80] or "party"


@dataclass
class ServerState:
    """The federation's position: next round to run, global weights, and what happened."""

    round: int = 0  # rounds finished
    arrays: Arrays = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    base_dev: dict[str, float] = field(default_factory=dict)  # the model before round 1
    # names this federation across restarts (a resumed run is a new Flower run): parties key
    # their privacy accounting by it
    federation_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        weights = folder / f"global-{self.round:04d}.npz"
        save_arrays(weights, self.arrays)
        meta = {
            "round": self.round,
            "weights": weights.name,
            "history": self.history,
            "base_dev": self.base_dev,
            "federation_id": self.federation_id,
        }
        atomic_write_text(folder / STATE_FILE, json.dumps(meta, indent=1))
        for old in folder.glob("global-*.npz"):  # keep only the weights state.json names
            if old.name != weights.name:
                old.unlink(missing_ok=True)
                old.with_suffix(".names.json").unlink(missing_ok=True)

    @classmethod
    def load(cls, folder: Path) -> ServerState:
        path = folder / STATE_FILE
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
            arrays = load_arrays_file(folder / meta["weights"])
        except (OSError, ValueError, KeyError) as e:
            raise ArtifactError(
                f"cannot read the server checkpoint: {e}",
                where=str(path),
                fix="start the federation again without --resume",
            ) from None
        return cls(meta["round"], arrays, meta["history"], meta["base_dev"], meta["federation_id"])

    @staticmethod
    def exists(folder: Path) -> bool:
        return (folder / STATE_FILE).exists()


class UpdateStore:
    """Accepted updates, one folder per round: `round-0003/<party>.npz` + manifest.json."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _round_dir(self, server_round: int) -> Path:
        return self.folder / f"round-{server_round:04d}"

    def save(self, server_round: int, updates: list[Update]) -> None:
        d = self._round_dir(server_round)
        manifest: dict[str, Any] = {}
        for u in updates:
            fname = f"{safe_name(u.party)}.npz"
            save_arrays(d / fname, u.delta)
            manifest[u.party] = {"file": fname, "n_examples": u.n_examples}
        d.mkdir(parents=True, exist_ok=True)
        atomic_write_text(d / "manifest.json", json.dumps(manifest, indent=1))

    def load(self, server_round: int) -> list[Update]:
        d = self._round_dir(server_round)
        manifest_path = d / "manifest.json"
        if not manifest_path.exists():
            return []
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        return [
            Update(party, load_arrays_file(d / entry["file"]), int(entry["n_examples"]))
            for party, entry in manifest.items()
        ]
