"""`explain: true` on the service's predict endpoint, with a bounded cost.

Integrated gradients runs `steps` forward and backward passes per target, so a request may hold
at most `EXPLAIN_MAX_TEXTS` texts of at most `EXPLAIN_MAX_CHARS` characters; past either the
answer is a 413 naming the limit. Explanations run in a worker thread, one at a time per model,
on a private copy of the model's module tree that shares its weights (Captum's hooks never touch
the model the micro-batcher predicts with), within the request's `timeout_s`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any

from cotune.explain.local import Explainer
from cotune.explain.methods import Options
from cotune.explain.model import ONNX_REASON
from cotune.serving.errors import ApiError, limit_exceeded

EXPLAIN_MAX_TEXTS = 4
EXPLAIN_MAX_CHARS = 2_000
EXPLAIN_STEPS = 32  # under the CLI default (50) to bound the cost; answers report the delta


def check_explain_limits(texts: Sequence[str]) -> None:
    if len(texts) > EXPLAIN_MAX_TEXTS:
        raise limit_exceeded(
            "explain_max_texts", len(texts), EXPLAIN_MAX_TEXTS, "texts to explain in one request"
        )
    for i, text in enumerate(texts):
        if len(text) > EXPLAIN_MAX_CHARS:
            raise limit_exceeded(
                "explain_max_chars",
                len(text),
                EXPLAIN_MAX_CHARS,
                f"characters of text {i} to explain",
            )


class ExplainerPool:
    """One explainer (and one lock) per served model, built on first use."""

    def __init__(self) -> None:
        self._explainers: dict[str, Explainer] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _get(self, name: str, backend: Any) -> tuple[Explainer, threading.Lock]:
        with self._guard:
            if name not in self._explainers:
                if backend.info.backend != "torch":
                    raise ApiError(
                        422,
                        "not_explainable",
                        f"explain: {name!r} runs on the {backend.info.backend} backend: "
                        f"{ONNX_REASON}; serve it with --backend torch to explain",
                    )
                options = Options(steps=EXPLAIN_STEPS)
                self._explainers[name] = Explainer(backend.predictor, "ig", options, private=True)
                self._locks[name] = threading.Lock()
            return self._explainers[name], self._locks[name]

    async def explain(
        self, name: str, backend: Any, texts: Sequence[str], timeout_s: float
    ) -> list[dict[str, Any]]:
        explainer, lock = self._get(name, backend)

        def run() -> list[dict[str, Any]]:
            with lock:
                return [e.to_dict() for e in explainer.explain(list(texts))]

        try:
            records = await asyncio.wait_for(asyncio.to_thread(run), timeout_s)
        except TimeoutError:
            raise ApiError(
                504,
                "timeout",
                f"the explanation took longer than timeout_s={timeout_s:g}",
                limit="timeout_s",
                max=timeout_s,
            ) from None
        for record in records:  # the prediction and the text are already in the answer
            record.pop("prediction", None)
            record.pop("text", None)
        return records
