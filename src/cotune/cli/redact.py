"""`cotune redact INPUT --out OUTPUT` and `cotune reidentify INPUT --vault V --out OUTPUT`"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import typer

from cotune.cli.common import console, print_json, reports_errors
from cotune.errors import ConfigError

REDACT_HELP = """Find PII in a data set and replace it: pseudonyms, surrogates or masks, by type.

Formats: CoNLL (tags stay aligned; gold person/org/location entities are redacted too), JSONL
(text fields and token rows), CSV (text columns) and plain text. Types: EMAIL_ADDRESS,
PHONE_NUMBER, CREDIT_CARD, IBAN_CODE, IP_ADDRESS, URL, US_SSN, CN_RESIDENT_ID, DATE_OF_BIRTH,
PERSON, ORGANIZATION, LOCATION. With --vault the way back is kept, encrypted with the key in
--key-file (created on first use: keep it with the data owner).

\b
  cotune redact train.conll --out train.redacted.conll --vault corpus.vault --key-file owner.key
  cotune redact notes.csv --out notes.redacted.csv --policy PERSON=surrogate --policy '*=mask'
  cotune redact chats.jsonl --out chats.redacted.jsonl --ner-model runs/wnut16-full
"""

REIDENTIFY_HELP = """Restore the originals of a redacted file with its vault and key.

The file written by `cotune redact` comes back exactly; any other text (edited data, model output
on redacted data) has each pseudonym and surrogate the vault knows replaced by its original.

\b
  cotune reidentify train.redacted.conll --vault corpus.vault --key-file owner.key \\
      --out train.restored.conll
"""


def _csv_option(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


@reports_errors
def redact(
    input_path: Path = typer.Argument(..., help="File to redact."),
    out: Path = typer.Option(..., "--out", "-o", help="Redacted file (never the input)."),
    fmt: str = typer.Option("auto", "--format", help="auto, conll, jsonl, csv or text."),
    policy: list[str] = typer.Option(
        [], "--policy", help="TYPE=pseudonym|surrogate|mask; * sets the default."
    ),
    ner_model: Path = typer.Option(None, "--ner-model", help="cotune NER artifact for names."),
    label_map: list[str] = typer.Option(
        [], "--label-map", help="Artifact/gold LABEL=PERSON|ORGANIZATION|LOCATION."
    ),
    names: str = typer.Option("auto", "--names", help="auto, model, heuristic, both or none."),
    entities: str = typer.Option(
        None, "--entities", help="Comma-separated types to look for (default: all)."
    ),
    threshold: float = typer.Option(0.5, "--threshold", help="Minimum detection score."),
    vault_path: Path = typer.Option(None, "--vault", help="Encrypted vault for re-identification."),
    key_file: Path = typer.Option(None, "--key-file", help="Vault key (created if missing)."),
    report: Path = typer.Option(
        None, "--report", help="Report JSON (+ .md); default OUTPUT.report.json."
    ),
    columns: str = typer.Option(None, "--columns", help="JSONL fields / CSV columns to redact."),
    no_tags: bool = typer.Option(
        False, "--no-tags", help="Do not treat gold name entities as PII."
    ),
    sample: int = typer.Option(20, "--sample", help="Units shown in the report's review sample."),
    report_originals: bool = typer.Option(
        False, "--report-originals", help="Put originals in the report sample."
    ),
    backend: str = typer.Option(
        "presidio", "--backend", help="presidio or cotune (same spans, no Presidio import)."
    ),
) -> None:
    from cotune.privacy.deid import Vault, build_detector, load_key, parse_policies, redact_file
    from cotune.privacy.deid.engine import Backend, NameSource
    from cotune.privacy.deid.names import parse_label_map
    from cotune.privacy.deid.pseudonymize import canonical_type

    if names not in ("auto", "model", "heuristic", "both", "none"):
        raise ConfigError(
            f"unknown --names {names!r}", fix="use auto, model, heuristic, both or none"
        )
    if backend not in ("presidio", "cotune"):
        raise ConfigError(f"unknown --backend {backend!r}", fix="use presidio or cotune")
    if key_file is not None and vault_path is None:
        raise ConfigError("--key-file without --vault", fix="add --vault FILE to keep the mapping")
    lmap = parse_label_map(label_map)
    types = [canonical_type(t) for t in _csv_option(entities) or []] or None
    detector = build_detector(
        ner_model=ner_model,
        label_map=lmap,
        names=cast(NameSource, names),
        entities=types,
        threshold=threshold,
        backend=cast(Backend, backend),
    )
    vault = None
    if vault_path is not None:
        vault = Vault.open(vault_path, load_key(key_file, create=True), create=True)
    else:
        console.print(
            "[yellow]no --vault: the mapping is not kept; this redaction cannot be reversed[/]"
        )
    report_path = report or out.with_name(out.name + ".report.json")
    result = redact_file(
        input_path, out, detector, fmt=fmt, policies=parse_policies(policy), vault=vault,
        columns=_csv_option(columns), use_tags=not no_tags, label_map=lmap,
        report_path=report_path, sample_size=sample, include_originals=report_originals,
    )  # fmt: skip
    summary = {k: result[k] for k in ("output", "format", "units", "units_changed", "replacements")}
    summary["per_type"] = {k: v["occurrences"] for k, v in result["per_type"].items()}
    print_json(summary)
    console.print(f"report: {report_path} (+ .md)" + (f"; vault: {vault_path}" if vault else ""))


@reports_errors
def reidentify(
    input_path: Path = typer.Argument(..., help="Redacted file (or text with pseudonyms)."),
    vault_path: Path = typer.Option(..., "--vault", help="The vault written by `cotune redact`."),
    key_file: Path = typer.Option(None, "--key-file", help="Vault key (or set COTUNE_VAULT_KEY)."),
    out: Path = typer.Option(..., "--out", "-o", help="Restored file (never the input)."),
    fmt: str = typer.Option(
        "auto", "--format", help="Format when the vault has no record of the file."
    ),
) -> None:
    from cotune.privacy.deid import Vault, load_key, reidentify_file

    vault = Vault.open(vault_path, load_key(key_file))
    print_json(reidentify_file(input_path, out, vault, fmt=fmt))
