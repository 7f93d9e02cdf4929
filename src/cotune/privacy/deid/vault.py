"""The re-identification vault: the only place where pseudonyms meet the originals.

A Fernet-encrypted (AES-128-CBC + HMAC-SHA256) JSON document holding
- the pseudonymiser's state: replacement -> original, the matching keys, counters, and the secret
  seed of the surrogates (so a second file of the same corpus gets the same pseudonyms);
- per written file (keyed by the SHA-256 of its bytes), every replacement with its position and
  the original as written, so that file is restored exactly, masks included.
The key stays with the data owner: a key file (`--key-file`, created 0600 on first use) or the
COTUNE_VAULT_KEY environment variable. Without the key the vault is opaque bytes.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from cotune.errors import ConfigError
from cotune.files import atomic_write_bytes

KEY_ENV = "COTUNE_VAULT_KEY"
FORMAT = "cotune-vault"
VERSION = 1


def load_key(key_file: Path | None, *, create: bool = False) -> bytes:
    """The vault key from `key_file`, else $COTUNE_VAULT_KEY; with `create`, a missing key file
    gets a new key (written owner-only)."""
    if key_file is not None:
        if key_file.exists():
            key = key_file.read_bytes().strip()
        elif create:
            key = Fernet.generate_key()
            atomic_write_bytes(key_file, key + b"\n", private=True)
        else:
            raise ConfigError(
                "no such key file", where=str(key_file), fix="pass the key file used by `redact`"
            )
    elif os.environ.get(KEY_ENV):
        key = os.environ[KEY_ENV].strip().encode()
    else:
        raise ConfigError(
            "a vault needs a key",
            where="--key-file",
            fix=f"pass --key-file FILE (created if missing when redacting) or set {KEY_ENV}",
        )
    try:
        Fernet(key)
    except ValueError:
        raise ConfigError(
            "not a Fernet key (32 url-safe base64-encoded bytes)",
            where=str(key_file) if key_file else KEY_ENV,
            fix="use the key file that `cotune redact` created",
        ) from None
    return key


@dataclass
class Vault:
    path: Path
    key: bytes
    pseudonymizer: dict[str, Any] = field(default_factory=dict)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def open(cls, path: Path, key: bytes, *, create: bool = False) -> Vault:
        if not path.exists():
            if create:
                return cls(path, key)
            raise ConfigError(
                "no such vault", where=str(path), fix="pass the vault written by `redact`"
            )
        try:
            raw = Fernet(key).decrypt(path.read_bytes())
        except InvalidToken:
            raise ConfigError(
                "this key does not open this vault (or the vault file is damaged)",
                where=str(path),
                fix="use the key file that was used when the vault was written",
            ) from None
        doc = json.loads(raw)
        if doc.get("format") != FORMAT or doc.get("version") != VERSION:
            raise ConfigError(
                f"not a version-{VERSION} cotune vault", where=str(path), fix="check the path"
            )
        return cls(path, key, doc["pseudonymizer"], doc["files"])

    def save(self) -> None:
        doc = {
            "format": FORMAT,
            "version": VERSION,
            "pseudonymizer": self.pseudonymizer,
            "files": self.files,
        }
        data = json.dumps(doc, ensure_ascii=False).encode()
        atomic_write_bytes(self.path, Fernet(self.key).encrypt(data), private=True)

    def originals(self) -> dict[str, str]:
        """replacement -> original for every pseudonym and surrogate (not masks)."""
        return {k: v["original"] for k, v in self.pseudonymizer.get("entries", {}).items()}
