"""`cotune redact INPUT --out OUTPUT` and `cotune reidentify INPUT --vault V --out OUTPUT`"""

from __future__ import annotations

from pathlib import Path

import typer

from cotune.cli.common import console, print_json, reports_errors
from cotune.cli.options import build, option
from cotune.config.redact import RedactOptions

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
    fmt: str = option(RedactOptions, "format"),
    policy: list[str] = option(RedactOptions, "policy"),
    ner_model: Path = option(RedactOptions, "ner_model"),
    label_map: list[str] = option(RedactOptions, "label_map"),
    names: str = option(RedactOptions, "names"),
    entities: str = option(RedactOptions, "entities"),
    threshold: float = option(RedactOptions, "threshold"),
    vault_path: Path = option(RedactOptions, "vault"),
    key_file: Path = option(RedactOptions, "key_file"),
    report: Path = option(RedactOptions, "report"),
    columns: str = option(RedactOptions, "columns"),
    no_tags: bool = option(RedactOptions, "no_tags"),
    sample: int = option(RedactOptions, "sample"),
    report_originals: bool = option(RedactOptions, "report_originals"),
    backend: str = option(RedactOptions, "backend"),
) -> None:
    from cotune.privacy.deid import Vault, build_detector, load_key, parse_policies, redact_file
    from cotune.privacy.deid.names import parse_label_map
    from cotune.privacy.deid.pseudonymize import canonical_type

    given = {
        "format": fmt, "policy": policy, "ner_model": ner_model, "label_map": label_map,
        "names": names, "entities": entities, "threshold": threshold, "vault": vault_path,
        "key_file": key_file, "report": report, "columns": columns, "no_tags": no_tags,
        "sample": sample, "report_originals": report_originals, "backend": backend,
    }  # fmt: skip
    opts = build(RedactOptions, given, "redact")
    lmap = parse_label_map(opts.label_map)
    types = [canonical_type(t) for t in _csv_option(opts.entities) or []] or None
    detector = build_detector(
        ner_model=opts.ner_model,
        label_map=lmap,
        names=opts.names,
        entities=types,
        threshold=opts.threshold,
        backend=opts.backend,
    )
    vault = None
    if opts.vault is not None:
        vault = Vault.open(opts.vault, load_key(opts.key_file, create=True), create=True)
    else:
        console.print(
            "[yellow]no --vault: the mapping is not kept; this redaction cannot be reversed[/]"
        )
    report_path = opts.report or out.with_name(out.name + ".report.json")
    result = redact_file(
        input_path, out, detector, fmt=opts.format, policies=parse_policies(opts.policy),
        vault=vault, columns=_csv_option(opts.columns), use_tags=not opts.no_tags,
        label_map=lmap, report_path=report_path, sample_size=opts.sample,
        include_originals=opts.report_originals,
    )  # fmt: skip
    summary = {k: result[k] for k in ("output", "format", "units", "units_changed", "replacements")}
    summary["per_type"] = {k: v["occurrences"] for k, v in result["per_type"].items()}
    print_json(summary)
    console.print(f"report: {report_path} (+ .md)" + (f"; vault: {opts.vault}" if vault else ""))


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
