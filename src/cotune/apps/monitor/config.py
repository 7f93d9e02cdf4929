"""The monitor's config (`monitor.yaml`): typed, unknown keys refused, each field's description
is its help. The YAML key, the `--section.key` override and the attribute are one name."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from cotune.config import Section

MARKER = "monitor.yaml"  # the file that makes a folder a monitor for `cotune serve`


class ModelsConfig(Section):
    sentiment: str = Field(
        ...,
        description="A cotune sequence-classification artifact folder; its labels are mapped by "
        "name to negative / neutral / positive (2- or 3-class models).",
    )
    topic: str | None = Field(
        None,
        description="Optional topic classifier artifact, used when an event carries no topic.",
    )
    ner: str | None = Field(
        None,
        description="Optional NER artifact: organisations named in a text get their own series.",
    )
    org_types: list[str] = Field(
        ["company", "org", "organization", "organisation", "corporation"],
        description="NER entity types (case-insensitive) counted as organisations.",
    )
    negative_labels: list[str] = Field(
        ["negative", "neg", "bearish", "-1"], description="Classifier labels read as negative."
    )
    positive_labels: list[str] = Field(
        ["positive", "pos", "bullish", "1", "+1"], description="Classifier labels read as positive."
    )
    batch_size: int = Field(64, ge=1, le=4096, description="Texts per scoring batch.")
    threads: int | None = Field(None, ge=1, description="torch threads for scoring.")


class EventsConfig(Section):
    max_text_chars: int = Field(
        5000, ge=1, description="Longer texts are cut to this many characters (flagged truncated)."
    )
    default_topic: str = Field("all", description="Topic of an event with none and no topic model.")
    lateness_minutes: float = Field(
        10.0,
        ge=0,
        description="A window is judged once the newest event time passed its end by this much; "
        "events older than that are stored (and shown) but never re-judged.",
    )


class StoreConfig(Section):
    url: str | None = Field(
        None,
        description="SQLAlchemy URL (postgresql+psycopg://user@host/db); default: SQLite "
        "`monitor.db` beside the config, in WAL mode.",
    )


class DetectorConfig(Section):
    method: Literal["beta-binomial", "cusum", "threshold"] = Field(
        "beta-binomial",
        description="beta-binomial: window's negative count against the Beta-binomial predictive "
        "of an exponentially weighted baseline; cusum: Bernoulli log-likelihood-ratio CUSUM; "
        "threshold: fixed negative share (the naive baseline).",
    )
    window_minutes: float = Field(5.0, gt=0, description="Tumbling window length (event time).")
    halflife_windows: float = Field(
        72.0, gt=0, description="Half-life of the baseline, in windows of the same series."
    )
    warmup_windows: int = Field(6, ge=1, description="Windows of history before any alert.")
    min_volume: int = Field(
        20, ge=1, description="Windows with fewer events are never alerted (3 of 4 is no crisis)."
    )
    min_lift: float = Field(
        1.15,
        ge=1.0,
        description="Observed negative share must be at least this times the baseline.",
    )
    p_value: float = Field(
        1e-3,
        gt=0,
        lt=1,
        description="beta-binomial: alert when P(this many negatives or more | baseline) is below.",
    )
    baseline_strength: float = Field(
        2000.0,
        gt=0,
        description="beta-binomial: cap on the baseline's pseudo-count, so it is never certain "
        "(keeps slow drifts from alerting as surges).",
    )
    span_windows: int = Field(
        2,
        ge=1,
        le=12,
        description="beta-binomial: also test the sum of this many latest windows (1: each alone).",
    )
    cusum_h: float = Field(12.0, gt=0, description="cusum: alarm level of the statistic (nats).")
    cusum_lift: float = Field(
        2.0, gt=1, description="cusum: the surge size tuned for (x baseline)."
    )
    threshold: float = Field(0.5, gt=0, lt=1, description="threshold: negative share that alerts.")
    max_series: int = Field(
        10000, ge=1, description="Series (topics, organisations) kept; the least recent go first."
    )


class LogSink(Section):
    type: Literal["log"] = "log"


class JsonlSink(Section):
    type: Literal["jsonl"] = "jsonl"
    path: Path = Field(..., description="File the alerts are appended to, one JSON per line.")


class WebhookSink(Section):
    type: Literal["webhook"] = "webhook"
    url: str = Field(..., description="Alerts are POSTed here as JSON.")
    timeout_s: float = Field(5.0, gt=0, description="Per-attempt timeout.")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra request headers.")


Sink = Annotated[LogSink | JsonlSink | WebhookSink, Field(discriminator="type")]


def _log_sink() -> LogSink | JsonlSink | WebhookSink:
    return LogSink()


class AlertsConfig(Section):
    cooldown_minutes: float = Field(
        60.0, ge=0, description="After an alert, the same series alerts again only if more severe."
    )
    examples: int = Field(5, ge=0, le=50, description="Example texts (most negative) per alert.")
    sinks: list[Sink] = Field(default_factory=lambda: [_log_sink()], description="Where alerts go.")
    max_attempts: int = Field(
        0, ge=0, description="Delivery attempts per sink before giving up (0: keep trying)."
    )
    backoff_s: float = Field(1.0, gt=0, description="First retry delay; doubles per attempt.")
    max_backoff_s: float = Field(300.0, gt=0, description="Longest retry delay.")


class SourceConfig(Section):
    type: Literal["http", "file", "stdin", "redis"] = Field(
        "http", description="Where `cotune monitor run` reads events (http: only POSTed ones)."
    )
    path: Path | None = Field(None, description="file: the JSONL file.")
    follow: bool = Field(True, description="file: keep reading as the file grows.")
    speed: float = Field(
        0.0,
        ge=0,
        description="file: replay pace (1: real time by timestamps; 0: as fast as possible).",
    )
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="redis: server URL.")
    stream: str = Field("cotune:events", description="redis: stream key.")
    group: str = Field("cotune-monitor", description="redis: consumer group.")
    consumer: str | None = Field(None, description="redis: this worker's name (default host-pid).")
    claim_idle_s: float = Field(
        60.0, gt=0, description="redis: take over entries a dead worker left pending this long."
    )
    block_ms: int = Field(1000, ge=1, description="redis: how long one read waits.")

    @model_validator(mode="after")
    def _needs_path(self) -> SourceConfig:
        if self.type == "file" and self.path is None:
            raise ValueError("source.type file needs source.path")
        return self


class IngestConfig(Section):
    max_batch: int = Field(
        5000, ge=1, description="Most events in one POST (the server's max_body_bytes also holds)."
    )
    max_pending: int = Field(
        10000,
        ge=1,
        description="Events accepted but not yet stored; beyond it pushes get 503 + Retry-After.",
    )


class MonitorConfig(Section):
    schema_version: int = Field(1, description="Config schema version.")
    name: str = Field("monitor", description="The monitor's name (URL segment).")
    models: ModelsConfig
    events: EventsConfig = Field(default_factory=EventsConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    detector: DetectorConfig = Field(default_factory=DetectorConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    source: SourceConfig = Field(default_factory=SourceConfig)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    folder: Path = Field(
        Path("."), exclude=True, description="Set by loading: the config's folder."
    )

    def store_url(self) -> str:
        if self.store.url:
            return self.store.url
        return f"sqlite:///{(self.folder / 'monitor.db').resolve()}"


def load_monitor_config(path: str | Path, overrides: dict[str, Any] | None = None) -> MonitorConfig:
    """`monitor.yaml` (or a folder holding one) with overrides; relative paths (models, sink
    and source files) are read beside the config, as users expect."""
    from cotune.config.load import check_schema, read_config, relative_to_config
    from cotune.errors import ConfigError

    path = Path(path)
    if path.is_dir():
        path = path / MARKER
    raw, tree = read_config(path, overrides)
    models = raw.get("models")
    if isinstance(models, dict):
        for key in ("sentiment", "topic", "ner"):
            if key in models:
                models[key] = relative_to_config(path, models[key])
    cfg = check_schema(raw, MonitorConfig, str(path), tree)
    cfg.folder = path.parent
    if cfg.schema_version != 1:
        raise ConfigError(
            f"schema_version {cfg.schema_version} is not known", where=str(path), fix="use 1"
        )
    return cfg
