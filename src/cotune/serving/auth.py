"""Optional API keys: `X-API-Key: KEY` or `Authorization: Bearer KEY`.

Keys come from an environment variable (comma or newline separated) and/or a file (one per line,
`#` comments). They are kept only as SHA-256 digests and compared with `hmac.compare_digest`
against every key, so neither the match position nor the key length shows in the timing.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable

from cotune.errors import ConfigError
from cotune.serving.errors import ApiError
from cotune.serving.settings import ServeSettings

HEADER = "X-API-Key"


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


class ApiKeys:
    def __init__(self, keys: Iterable[str]) -> None:
        self._digests = [_digest(k) for k in keys]

    def __len__(self) -> int:
        return len(self._digests)

    def check(self, given: str | None) -> bool:
        if not given:
            return False
        digest = _digest(given)
        found = False
        for known in self._digests:  # no early exit: every key is compared every time
            found |= hmac.compare_digest(digest, known)
        return found

    def require(self, *given: str | None) -> None:
        """Pass if any of the presented keys (header, bearer token) is known, else 401."""
        if not any([self.check(g) for g in given]):  # a list: check every one, no short cut
            raise ApiError(
                401,
                "unauthorized",
                f"missing or unknown API key: send it as {HEADER}: KEY "
                "or Authorization: Bearer KEY",
                headers={"WWW-Authenticate": "Bearer"},
            )

    @classmethod
    def from_settings(cls, settings: ServeSettings) -> ApiKeys | None:
        """None when auth is off; a configured source with no key is an error, never open."""
        if not settings.auth_configured:
            return None
        keys: list[str] = []
        if settings.api_keys_env:
            raw = os.environ.get(settings.api_keys_env, "")
            keys += [k.strip() for k in raw.replace("\n", ",").split(",") if k.strip()]
        if settings.api_keys_file:
            try:
                text = settings.api_keys_file.read_text(encoding="utf-8")
            except OSError as e:
                raise ConfigError(
                    f"cannot read the API key file: {e.strerror}",
                    where=str(settings.api_keys_file),
                    fix="point --api-keys-file at a readable file with one key per line",
                ) from None
            keys += [
                line.strip()
                for line in text.splitlines()
                if line.strip() and not line.lstrip().startswith("#")
            ]
        if not keys:
            sources = [
                f"${settings.api_keys_env}" if settings.api_keys_env else "",
                str(settings.api_keys_file or ""),
            ]
            raise ConfigError(
                f"API keys were asked for but {' and '.join(s for s in sources if s)} hold none",
                fix="put at least one key there, or drop --api-keys-env / --api-keys-file",
            )
        return cls(keys)
