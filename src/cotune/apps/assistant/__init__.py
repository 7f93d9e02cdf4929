"""The customer-service assistant: intents with out-of-scope detection, FAQ answers from a
vector index and BM25, hand-off to a person, a REST route and a chat page (docs/assistant.md).

    cotune assistant build examples/support-demo --out runs/bank-assistant
    cotune assistant ask runs/bank-assistant "I lost my card"

`Assistant.load(folder).ask(text)` is the Python entry point; `build_assistant(cfg, out)`
builds the folder.
"""

from __future__ import annotations

from cotune.apps.assistant.config import AssistantConfig
from cotune.apps.assistant.engine import Assistant

__all__ = ["Assistant", "AssistantConfig"]
