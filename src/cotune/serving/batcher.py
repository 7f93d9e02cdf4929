"""Micro-batching: texts from concurrent requests run through the model together.

One batcher per served model. Requests put their texts on a queue and await one future per text;
a single worker task takes up to `max_batch` texts, waiting at most `max_wait` after the *oldest*
text arrived for more to join, and runs the batch in the model's own inference thread so the
event loop keeps accepting requests meanwhile. While a batch runs, the next one gathers, so under
load batches fill up on their own and a lone request never waits longer than `max_wait` for
company.

A batch that raises is retried text by text, so one poisonous text fails only its own request.
A request that times out or disconnects cancels its futures; texts not yet started are skipped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from cotune.serving.metrics import ServingMetrics

log = logging.getLogger("cotune.serving")

PredictFn = Callable[[list[str]], Sequence[dict[str, Any]]]


class Overloaded(Exception):
    """The model's queue is full: the client should retry later (503)."""


class Stopped(Exception):
    """The server is shutting down and takes no new work (503)."""


class InferenceFailed(Exception):
    """The model raised on this text (500); the details are logged, not sent to the client."""


@dataclass
class _Item:
    text: str
    future: asyncio.Future[dict[str, Any]]
    enqueued: float = field(default_factory=time.monotonic)


class MicroBatcher:
    def __init__(
        self,
        name: str,
        predict: PredictFn,
        *,
        max_batch: int = 32,
        max_wait_ms: float = 5.0,
        max_queue: int = 1024,
        metrics: ServingMetrics | None = None,
    ) -> None:
        self.name, self.predict = name, predict
        self.max_batch, self.max_wait, self.max_queue = max_batch, max_wait_ms / 1000, max_queue
        self.metrics = metrics
        self._waiting: deque[_Item] = deque()
        self._arrived: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._closing = False
        if metrics is not None:
            metrics.watch_queue(name, self.depth)

    # ------------------------------------------------------------------ lifecycle

    @property
    def running(self) -> bool:
        return self._worker is not None and not self._worker.done() and not self._closing

    def depth(self) -> int:
        return len(self._waiting)

    async def start(self) -> None:
        if self._worker is not None:
            return
        self._closing = False
        self._arrived = asyncio.Event()
        # One thread per model: its batches run one after another, in order, off the event loop.
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"cotune-{self.name}")
        self._worker = asyncio.create_task(self._run(), name=f"batcher-{self.name}")

    async def stop(self) -> None:
        """Finish every text already queued, then stop the worker and its thread."""
        self._closing = True
        if self._arrived is not None:
            self._arrived.set()
        if self._worker is not None:
            await self._worker
            self._worker = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    # ------------------------------------------------------------------ requests

    async def submit(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        """Predict `texts` (in order). Cancelling the call drops its texts not yet started."""
        if self._closing:
            raise Stopped(f"model {self.name!r} is shutting down")
        if self._worker is None or self._arrived is None:
            await self.start()
        assert self._arrived is not None
        if len(self._waiting) + len(texts) > self.max_queue:
            raise Overloaded(
                f"model {self.name!r} has {len(self._waiting)} texts queued (max_queue="
                f"{self.max_queue})"
            )
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in texts]
        self._waiting.extend(_Item(t, f) for t, f in zip(texts, futures, strict=True))
        self._arrived.set()
        try:
            return list(await asyncio.gather(*futures))
        finally:
            for f in futures:  # on timeout/disconnect: nothing left to compute for us
                f.cancel()

    # ------------------------------------------------------------------ worker

    async def _run(self) -> None:
        assert self._arrived is not None
        while True:
            while not self._waiting:
                if self._closing:
                    return
                self._arrived.clear()
                await self._arrived.wait()
            await self._gather_more()
            batch = self._take()
            if batch:
                await self._run_batch(batch)

    async def _gather_more(self) -> None:
        """Wait until the batch is full or the oldest text has waited `max_wait`."""
        assert self._arrived is not None
        deadline = self._waiting[0].enqueued + self.max_wait
        while len(self._waiting) < self.max_batch and not self._closing:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                return

    def _take(self) -> list[_Item]:
        batch: list[_Item] = []
        while self._waiting and len(batch) < self.max_batch:
            item = self._waiting.popleft()
            if not item.future.done():  # cancelled: its request timed out or went away
                batch.append(item)
        return batch

    async def _run_batch(self, batch: list[_Item]) -> None:
        assert self._executor is not None
        loop = asyncio.get_running_loop()
        texts = [item.text for item in batch]
        start = time.perf_counter()
        try:
            results = await loop.run_in_executor(self._executor, self.predict, texts)
            if len(results) != len(texts):
                raise RuntimeError(f"{len(results)} predictions for {len(texts)} texts")
        except Exception:
            if len(batch) > 1:  # find the text that breaks the model; the others still get answers
                for item in batch:
                    await self._run_batch([item])
                return
            log.exception("model %r failed on a text of %d characters", self.name, len(texts[0]))
            if self.metrics is not None:
                self.metrics.inference_errors.inc(self.name)
            if not batch[0].future.done():
                batch[0].future.set_exception(InferenceFailed(f"model {self.name!r} failed"))
            return
        if self.metrics is not None:
            self.metrics.batch_size.observe(len(batch), self.name)
            self.metrics.batch_latency.observe(time.perf_counter() - start, self.name)
            self.metrics.texts.inc(self.name, amount=len(batch))
        for item, result in zip(batch, results, strict=True):
            if not item.future.done():
                item.future.set_result(dict(result))
