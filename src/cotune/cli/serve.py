"""`cotune serve ARTIFACT [ARTIFACT ...]`"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import typer

from cotune.cli.common import console, reports_errors
from cotune.cli.options import build, option
from cotune.serving.settings import ServeSettings

HELP = """Serve artifacts over HTTP: FastAPI on uvicorn, with micro-batching.

Each ARTIFACT is a folder, served under its folder name, or NAME=FOLDER: a model artifact, or
an application folder (an assistant, a monitor, a recommender), served beside the models.
Binds to 127.0.0.1 unless --host says otherwise. Endpoints: GET /v1/models,
POST /v1/models/NAME/predict, GET /healthz, /readyz, /metrics (Prometheus), /docs (OpenAPI).
SIGTERM or Ctrl-C finishes the requests in flight, then exits.

\b
  cotune serve runs/wnut16-full
  cotune serve runs/wnut16-full --device cuda      # PyTorch models on the GPU
  cotune serve ner=runs/wnut16-full sentiment=runs/rt-polarity-full --backend onnx-int8
  COTUNE_API_KEYS=secret1,secret2 cotune serve runs/wnut16-full --api-keys-env COTUNE_API_KEYS
"""


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
    host: str = option(ServeSettings, "host"),
    port: int = option(ServeSettings, "port"),
    backend: str = option(ServeSettings, "backend"),
    threads: int = option(ServeSettings, "threads"),
    device: str = option(ServeSettings, "device"),
    max_batch: int = option(ServeSettings, "max_batch"),
    max_wait_ms: float = option(ServeSettings, "max_wait_ms"),
    max_queue: int = option(ServeSettings, "max_queue"),
    max_body_bytes: int = option(ServeSettings, "max_body_bytes"),
    max_texts: int = option(ServeSettings, "max_texts"),
    max_chars: int = option(ServeSettings, "max_chars"),
    timeout_s: float = option(ServeSettings, "timeout_s"),
    max_connections: int = option(ServeSettings, "max_connections"),
    api_keys_env: str = option(ServeSettings, "api_keys_env"),
    api_keys_file: Path = option(ServeSettings, "api_keys_file"),
    access_log: bool = typer.Option(False, "--access-log", help="Log every request."),
    log_level: str = typer.Option("info", help="uvicorn log level."),
) -> None:
    import torch
    import uvicorn

    import cotune.apps  # noqa: F401  (registers the applications' folders with serving)
    from cotune.errors import ConfigError
    from cotune.serving import create_app, load_models
    from cotune.serving.mounts import load_mounts

    given = {
        "host": host,
        "port": port,
        "backend": backend,
        "threads": threads,
        "device": device,
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
    settings = build(ServeSettings, given, "serve")
    if not _is_loopback(settings.host) and not settings.auth_configured:
        console.print(
            f"[yellow]warning:[/] serving on {settings.host} without API keys: anyone who can "
            "reach this port can use the models (see --api-keys-env / --api-keys-file)"
        )
    torch.set_num_threads(settings.threads)
    model_specs, mounts = load_mounts(artifacts, settings)
    models = load_models(model_specs, settings.backend, settings.threads, settings.device)
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
