"""The sentiment monitor (issue 23): score a live text stream by topic and sentiment with cotune
artifacts, store every event exactly once, judge event-time windows per topic and organisation
for negative surges, queue alerts durably for their sinks, and show it all on a dashboard.

Modules, in the order data flows: `config` (monitor.yaml), `events` (parsing, natural ids),
`sources` (file, stdin, Redis), `scoring` (artifacts), `store` (SQLAlchemy), `engine` (ingest
and windows), `detector`, `sinks` (alert delivery), `serve` (HTTP push, dashboard), `report`.
"""

from cotune.apps.monitor.config import MonitorConfig, load_monitor_config
from cotune.apps.monitor.engine import IngestResult, Monitor

__all__ = ["IngestResult", "Monitor", "MonitorConfig", "load_monitor_config"]
