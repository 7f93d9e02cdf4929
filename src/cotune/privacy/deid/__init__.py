"""De-identification: find PII, replace it by policy, keep the way back in an encrypted vault.

    from cotune.privacy.deid import build_detector, redact_file, reidentify_file, Vault, load_key

    detector = build_detector(ner_model=None)  # heuristic names; or a cotune NER artifact folder
    key = load_key(Path("owner.key"), create=True)
    vault = Vault.open(Path("corpus.vault"), key, create=True)
    redact_file(Path("train.conll"), Path("train.redacted.conll"), detector, vault=vault)
    reidentify_file(Path("train.redacted.conll"), Path("train.restored.conll"), vault)

Modules: recognizers (pattern types, validated), dates + birth (calendar dates, and which of them
are dates of birth in context), names (NER artifact + heuristic), engine (the
detector, on Presidio), pseudonymize + surrogates (policies), edits + formats (rewriting text and
token data with tags kept aligned), vault, report, redact (files).
"""

from cotune.privacy.deid.engine import PiiDetector, build_detector
from cotune.privacy.deid.pseudonymize import Pseudonymizer, parse_policies
from cotune.privacy.deid.redact import redact_file, reidentify_file
from cotune.privacy.deid.spans import ALL_TYPES, NAME_TYPES, PATTERN_TYPES, PiiSpan
from cotune.privacy.deid.vault import Vault, load_key

__all__ = [
    "ALL_TYPES",
    "NAME_TYPES",
    "PATTERN_TYPES",
    "PiiDetector",
    "PiiSpan",
    "Pseudonymizer",
    "Vault",
    "build_detector",
    "load_key",
    "parse_policies",
    "redact_file",
    "reidentify_file",
]
