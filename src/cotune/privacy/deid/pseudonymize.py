"""What each detected value becomes, by policy per entity type.

- pseudonym: `<PERSON_1>`, the same for every mention of the same value in the corpus (matched
  after normalising case, spacing and separators: "+86 138 1234 5678" and "13812345678" are one
  phone). Reversible through the vault.
- surrogate: a realistic fake of the same type and form (surrogates.py), deterministic per value
  given the vault's secret seed. Reversible through the vault.
- mask: every non-space character becomes `*` (the token count is kept). Reversible only for the
  exact file that was written, through the vault's per-occurrence record.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import re
import secrets
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, cast

from cotune.errors import ConfigError
from cotune.privacy.deid import spans as T
from cotune.privacy.deid.dates import find_dates
from cotune.privacy.deid.surrogates import make_surrogate

Policy = Literal["pseudonym", "surrogate", "mask"]
POLICIES: tuple[Policy, ...] = ("pseudonym", "surrogate", "mask")

# Short names accepted on the command line (`--policy EMAIL=mask`).
TYPE_ALIASES = {
    "EMAIL": T.EMAIL, "PHONE": T.PHONE, "CARD": T.CREDIT_CARD, "IBAN": T.IBAN, "IP": T.IP,
    "SSN": T.US_SSN, "CN_ID": T.CN_ID, "ID": T.CN_ID, "DOB": T.DOB, "ORG": T.ORG,
    "LOC": T.LOCATION, "PER": T.PERSON, "NAME": T.PERSON,
}  # fmt: skip


def canonical_type(name: str) -> str:
    key = name.strip().upper()
    key = TYPE_ALIASES.get(key, key)
    if key not in T.ALL_TYPES and key != "*":
        raise ConfigError(
            f"unknown entity type {name!r}",
            where="--policy",
            fix=f"use one of {', '.join(T.ALL_TYPES)} (or a short name such as EMAIL, PHONE, or *)",
        )
    return key


def parse_policies(pairs: Sequence[str]) -> dict[str, Policy]:
    """`["PERSON=surrogate", "*=mask"]` -> {type: policy}; "*" sets the default."""
    out: dict[str, Policy] = {}
    for pair in pairs:
        kind, sep, policy = pair.partition("=")
        policy = policy.strip().lower()
        if not sep or policy not in POLICIES:
            raise ConfigError(
                f"bad policy {pair!r}",
                where="--policy",
                fix="write TYPE=pseudonym, TYPE=surrogate or TYPE=mask (TYPE may be *)",
            )
        out[canonical_type(kind)] = cast(Policy, policy)
    return out


def plain(value: str) -> str:
    """NFKC without invisible characters: ４４０３… is 4403…, NBSP a space, alice\u200b@ alice@
    (the recognisers see through these forms, so keys and surrogates must too)."""
    value = "".join(ch for ch in value if unicodedata.category(ch) != "Cf")
    return unicodedata.normalize("NFKC", value)


def normalise(kind: str, value: str) -> str:
    """The matching key of a value: the same person/number written differently maps together."""
    v = " ".join(plain(value).split())
    if kind in (T.PHONE,):
        digits = re.sub(r"\D", "", v)
        return digits[2:] if digits.startswith("86") and len(digits) == 13 else digits
    if kind in (T.CREDIT_CARD, T.IBAN, T.US_SSN, T.CN_ID):
        return re.sub(r"[^0-9A-Za-z]", "", v).upper()
    if kind == T.DOB:
        found = find_dates(v)
        return found[0].key if found else v.casefold()  # "March 1985" is not 1 March
    if kind in (T.EMAIL, T.URL, T.IP):
        return v.casefold().rstrip("/")
    return v.casefold().rstrip(".")


@dataclass(frozen=True)
class VaultEntry:
    """What the vault keeps for one replacement string."""

    type: str
    original: str  # the first spelling seen; per-occurrence spellings live in the file record
    policy: str


def mask(value: str) -> str:
    return "".join(ch if ch.isspace() else "*" for ch in value)


class Pseudonymizer:
    """Decides replacements and remembers them; its state is what the vault stores."""

    def __init__(
        self,
        policies: Mapping[str, Policy] | None = None,
        *,
        state: Mapping[str, Any] | None = None,
    ) -> None:
        policies = dict(policies or {})
        self.default: Policy = policies.pop("*", "pseudonym")
        self.policies = policies
        state = state or {}
        self.secret: bytes = (
            bytes.fromhex(state["secret"]) if "secret" in state else secrets.token_bytes(32)
        )
        self.counters: dict[str, int] = dict(state.get("counters", {}))
        self.keys: dict[str, str] = dict(state.get("keys", {}))  # "policy|TYPE|norm" -> replacement
        self.entries: dict[str, VaultEntry] = {
            k: VaultEntry(**v) for k, v in state.get("entries", {}).items()
        }

    def policy_for(self, kind: str) -> Policy:
        return self.policies.get(kind, self.default)

    def replace(self, kind: str, original: str) -> str:
        policy = self.policy_for(kind)
        if policy == "mask":
            return mask(original)
        key = f"{policy}|{kind}|{normalise(kind, original)}"
        if key in self.keys:
            return self.keys[key]
        if policy == "pseudonym":
            self.counters[kind] = self.counters.get(kind, 0) + 1
            new = f"<{kind}_{self.counters[kind]}>"
        else:
            new = self._surrogate(kind, original, key)
        self.keys[key] = new
        self.entries[new] = VaultEntry(kind, original, policy)
        return new

    def _surrogate(self, kind: str, original: str, key: str) -> str:
        # Different values must not share a surrogate, or re-identification would be ambiguous;
        # a clash re-draws from the next stream (rare: the fake spaces are large).
        for attempt in range(100):
            digest = hmac.new(self.secret, f"{key}|{attempt}".encode(), hashlib.sha256).digest()
            new = make_surrogate(kind, plain(original), random.Random(digest))
            if new not in self.entries and new != original:
                return new
        raise AssertionError(f"no free surrogate for a {kind} after 100 draws")

    def state(self) -> dict[str, Any]:
        return {
            "secret": self.secret.hex(),
            "counters": dict(self.counters),
            "keys": dict(self.keys),
            "entries": {k: asdict(v) for k, v in self.entries.items()},
        }
