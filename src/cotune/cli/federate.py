"""`cotune federate simulate|server|client`: federated fine-tuning over Flower."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from cotune.cli.common import console, print_json, reports_errors

app = typer.Typer(
    help="Federated fine-tuning on Flower: parties train on data that never leaves them; the "
    "server averages their updates (trainable weights only) and keeps a contribution ledger.",
    no_args_is_help=True,
)
EXTRA = {"allow_extra_args": True, "ignore_unknown_options": True}

SIMULATE_HELP = """Cut the config's training data into N parties and federate them on this machine.

A real Flower SuperLink and one SuperNode per party run as local processes on loopback (TLS from
a throw-away CA unless --insecure); each party's SuperNode reads only its own file. Writes
RUN/model (the global model as an artifact), RUN/ledger.{json,md,png}, RUN/result.json.

\b
  cotune federate simulate configs/federated-wnut16-lora.yaml --parties 4
  cotune federate simulate configs/federated-wnut16-lora.yaml --parties 4 \\
      --federation.partition.scheme dirichlet --federation.partition.alpha 0.3
"""

SERVER_HELP = """Be the server of a federation: start a SuperLink and run the rounds.

The config's data gives the server's dev (global metric each round) and test sets; parties
bring their own training data with `cotune federate client`. TLS certificates are required
unless --insecure; with --authorize, only SuperNodes holding those keys may join.

\b
  cotune federate server configs/federated-wnut16-lora.yaml --port 9092 \\
      --ssl-certfile server.pem --ssl-keyfile server.key --ssl-ca-certfile ca.pem \\
      --authorize hospital-a.pub --authorize hospital-b.pub
  cotune federate server CONFIG --insecure --resume     # continue after a crash
"""

CLIENT_HELP = """Be one party: a SuperNode that trains on --data and sends only weight updates.

Runs until stopped (Ctrl-C). Redact first if the data hold personal information:
`cotune redact mine.conll --out mine.redacted.conll`, then --data mine.redacted.conll.

\b
  cotune federate keygen hospital-a          # once; give hospital-a.pub to the server
  cotune federate client --data mine.conll --superlink server.example:9092 \\
      --root-certificates ca.pem --auth-key hospital-a.key
"""

KEYGEN_HELP = """Make a party's node-authentication key pair: NAME.key stays with the party
(`cotune federate client --auth-key`), NAME.pub goes to the server operator
(`cotune federate server --authorize`)."""


def _security(
    insecure: bool, ca: Path | None, cert: Path | None = None, key: Path | None = None
) -> Any:
    from cotune.federated.launch import Security

    return Security(insecure=insecure, ca_cert=ca, server_cert=cert, server_key=key)


def _summary(result: dict[str, Any]) -> None:
    metric = result["metric"]
    per_round = ", ".join(f"{v:.4f}" for v in result["dev_per_round"] if v is not None)
    console.print(f"dev {metric} per round: {per_round} (base {result['base_dev']:.4f})")
    if result.get("test"):
        console.print(f"test {metric}: {result['test'].get(metric, float('nan')):.4f}")
    console.print(
        f"update {result['bytes_per_update'] / 1e6:.3f} MB vs full model "
        f"{result['full_model_bytes'] / 1e6:.1f} MB; {len(result['rejected'])} update(s) rejected"
    )
    console.print(f"model: [bold]{result['model']}[/]  ledger: [bold]{result['ledger']}[/]")


@app.command("simulate", help=SIMULATE_HELP, context_settings=EXTRA)
@reports_errors
def simulate(
    ctx: typer.Context,
    config: Path = typer.Argument(..., help="Federated config (YAML)."),
    parties: int = typer.Option(None, "--parties", "-n", help="Parties (federation.parties)."),
    insecure: bool = typer.Option(False, "--insecure", help="Plain text on loopback, no TLS."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the server checkpoint."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run folder."),
    as_json: bool = typer.Option(False, "--json", help="Print result.json."),
) -> None:
    from cotune.config import parse_overrides
    from cotune.federated.config import load_federated_config
    from cotune.federated.deploy import simulate as run

    cfg = load_federated_config(config, parse_overrides(ctx.args))
    result = run(cfg, parties=parties, insecure=insecure, resume=resume, overwrite=overwrite)
    if as_json:
        print_json(result)
    else:
        _summary(result)


@app.command("server", help=SERVER_HELP, context_settings=EXTRA)
@reports_errors
def server(
    ctx: typer.Context,
    config: Path = typer.Argument(..., help="Federated config (YAML)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address the SuperLink listens on."),
    port: int = typer.Option(9092, "--port", help="Port of the SuperLink."),
    insecure: bool = typer.Option(False, "--insecure", help="No TLS (trusted networks only)."),
    ssl_certfile: Path = typer.Option(None, "--ssl-certfile", help="Server TLS certificate."),
    ssl_keyfile: Path = typer.Option(None, "--ssl-keyfile", help="Server TLS private key."),
    ssl_ca_certfile: Path = typer.Option(None, "--ssl-ca-certfile", help="CA certificate."),
    authorize: list[Path] = typer.Option(
        [], "--authorize", help="A party's public key (repeat): only these SuperNodes may join."
    ),
    resume: bool = typer.Option(False, "--resume", help="Continue from the server checkpoint."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run folder."),
    as_json: bool = typer.Option(False, "--json", help="Print result.json."),
) -> None:
    from cotune.config import parse_overrides
    from cotune.federated.config import load_federated_config
    from cotune.federated.deploy import serve

    cfg = load_federated_config(config, parse_overrides(ctx.args))
    security = _security(insecure, ssl_ca_certfile, ssl_certfile, ssl_keyfile)
    security.superlink_args()  # fail now, not after the data loaded, when certificates lack
    result = serve(
        cfg,
        host=host,
        port=port,
        security=security,
        authorize=authorize,
        resume=resume,
        overwrite=overwrite,
    )
    if as_json:
        print_json(result)
    else:
        _summary(result)


@app.command("client", help=CLIENT_HELP)
@reports_errors
def client(
    data: Path = typer.Option(..., "--data", help="This party's training file (stays here)."),
    superlink: str = typer.Option("127.0.0.1:9092", "--superlink", help="Server HOST:PORT."),
    party: str = typer.Option(None, "--party", help="Name in the ledger (default: file stem)."),
    insecure: bool = typer.Option(False, "--insecure", help="No TLS (trusted networks only)."),
    root_certificates: Path = typer.Option(
        None, "--root-certificates", help="CA certificate that signed the server's."
    ),
    auth_key: Path = typer.Option(
        None, "--auth-key", help="SuperNode private key (node authentication)."
    ),
    work_dir: Path = typer.Option(None, "--work-dir", help="Logs and Flower state of this party."),
    check: bool = typer.Option(
        True,
        "--check/--no-check",
        help="Read --data once before connecting (--no-check: the federation's recipe reads "
        "a CSV/JSONL with columns other than text/label).",
    ),
) -> None:
    from cotune.federated.deploy import client as run

    security = _security(insecure, root_certificates)
    security.supernode_args()
    raise typer.Exit(
        run(
            data,
            superlink=superlink,
            security=security,
            party=party,
            work_dir=work_dir,
            auth_key=auth_key,
            check=check,
        )
    )


@app.command("keygen", help=KEYGEN_HELP)
@reports_errors
def keygen(
    name: str = typer.Argument(..., help="Party name (file stem)."),
    out: Path = typer.Option(Path("."), "--out", help="Folder for NAME.key and NAME.pub."),
) -> None:
    from cotune.federated.auth import node_keypair

    private, public = node_keypair(out, name)
    console.print(f"private key: {private} (keep it)\npublic key: {public} (give it to the server)")
