"""`cotune serve ARTIFACT [ARTIFACT ...]`"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import typer

from cotune.cli.common import console, reports_errors

HELP = """Serve artifacts over HTTP: FastAPI on uvicorn, with micro-batching.

Each ARTIFACT is a folder, served under its folder name, or NAME=FOLDER: a model artifact, or
an application folder (an assistant, a monitor, a recommender), served beside the models.
Binds to 127.0.0.1 unless --host says otherwise. Endpoints: GET /v1/models,
POST /v1/models/NAME/predict, GET /healthz, /readyz, /metrics (Prometheus), /docs (OpenAPI).
SIGTERM or Ctrl-C finishes the requests in flight, then exits.

\b
  cotune serve runs/wnut16-full
  cotune serve ner=runs/wnut16-full sentiment=runs/rt-polarity-full --backend onnx-int8
  COTUNE_API_KEYS=secret1,secret2 cotune serve runs/wnut16-full --api-keys-env COTUNE_API_KEYS
"""


def _default(field: str) -> Any:
    from cotune.serving.settings import ServeSettings

    return ServeSettings.model_fields[field].default


def _help(field: str) -> str:
    from cotune.serving.settings import ServeSettings

    return ServeSettings.model_fields[field].description or ""


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@reports_errors
def serve(
    artifacts: list[str] = typer.Argument(..., help="Artifact folders, or NAME=FOLDER."),
    host: str = typer.Option(_default("host"), help=_help("host")),
    port: int = typer.Option(_default("port"), help=_help("port")),
    backend: str = typer.Option(_default("backend"), help=_help("backend")),
    threads: int = typer.Option(None, help=_help("threads")),
    max_batch: int = typer.Option(_default("max_batch"), help=_help("max_batch")),
    max_wait_ms: float = typer.Option(_default("max_wait_ms"), help=_help("max_wait_ms")),
    max_queue: int = typer.Option(_default("max_queue"), help=_help("max_queue")),
    max_body_bytes: int = typer.Option(_default("max_body_bytes"), help=_help("max_body_bytes")),
    max_texts: int = typer.Option(_default("max_texts"), help=_help("max_texts")),
    max_chars: int = typer.Option(_default("max_chars"), help=_help("max_chars")),
    timeout_s: float = typer.Option(_default("timeout_s"), help=_help("timeout_s")),
    max_connections: int = typer.Option(_default("max_connections"), help=_help("max_connections")),
    api_keys_env: str = typer.Option(None, help=_help("api_keys_env")),
    api_keys_file: Path = typer.Option(None, help=_help("api_keys_file")),
    access_log: bool = typer.Option(False, "--access-log", help="Log every request."),
    log_level: str = typer.Option("info", help="uvicorn log level."),
) -> None:
    import torch
    import uvicorn
    from pydantic import ValidationError

    import cotune.apps  # noqa: F401  (registers the applications' folders with serving)
    from cotune.errors import ConfigError
    from cotune.serving import ServeSettings, create_app, load_models
    from cotune.serving.mounts import load_mounts

    given = {
        "host": host,
        "port": port,
        "backend": backend,
        "threads": threads,
        "max_batch": max_batch,
        "max_wait_ms": max_wait_ms,
        "max_queue": max_queue,
        "max_body_bytes": max_body_bytes,
        "max_texts": max_texts,
        "max_chars": max_chars,
        "timeout_s": timeout_s,
        "max_connections": max_connections,
        "api_keys_env": api_keys_env,
        "api_keys_file": api_keys_file,
    }
    try:
        settings = ServeSettings(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as e:
        err = e.errors()[0]
        flag = "--" + str(err["loc"][0]).replace("_", "-") if err["loc"] else "an option"
        raise ConfigError(f"{flag}: {err['msg']}", fix="see `cotune serve --help`") from None
    if not _is_loopback(settings.host) and not settings.auth_configured:
        console.print(
            f"[yellow]warning:[/] serving on {settings.host} without API keys: anyone who can "
            "reach this port can use the models (see --api-keys-env / --api-keys-file)"
        )
    torch.set_num_threads(settings.threads)
    model_specs, mounts = load_mounts(artifacts, settings)
    models = load_models(model_specs, settings.backend, settings.threads)
    if not models and not mounts:
        raise ConfigError("nothing to serve", fix="give at least one artifact or app folder")
    app = create_app(settings, models, mounts)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        access_log=access_log,
        limit_concurrency=settings.max_connections,
        # in-flight requests get their own timeout to finish after SIGTERM, and a little more
        timeout_graceful_shutdown=int(settings.timeout_s) + 5,
        timeout_keep_alive=5,
        server_header=False,
    )
    uvicorn.Server(config).run()
