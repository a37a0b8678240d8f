"""Micro-batching: requests that arrive together share one pass through the model.

One worker thread owns the model. Each request puts its texts in a bounded
queue and waits; the worker takes the waiting requests, runs them as one batch
and hands each request its own rows back. When the queue holds
``max_queue_texts`` texts, new requests are refused at once with
:class:`ServerBusyError` rather than queued without bound.

How long the worker gathers: only while it expects more. The clients it has
just answered tend to send their next request at once, so it expects as many
requests as the last batch answered plus those that arrived while that batch
ran, and waits up to ``max_wait`` seconds for them (or until
``max_batch_texts`` texts are waiting). A lone client is never kept waiting;
eight clients calling in a loop share batches of eight instead of
alternating batches of one and seven.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np


class ServerBusyError(RuntimeError):
    """The queue is full (or the server is stopping); the client should retry later."""

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class _Request:
    texts: list[str]
    future: Future[np.ndarray] = field(default_factory=Future)


class MicroBatcher:
    """Gather concurrent ``predict_proba`` calls into batches run by one worker thread.

    Parameters
    ----------
    predict_proba : callable
        Texts to an array of probabilities, one row per text.
    max_batch_texts : int
        Most texts in one batch (a single larger request runs alone).
    max_wait : float
        Most seconds the worker waits for the requests it expects (see above).
    max_queue_texts : int
        Most texts waiting; beyond it :meth:`submit` raises :class:`ServerBusyError`.
    run_exclusively : threading.Lock
        Held while the model runs (other users of the model take it too).
    """

    def __init__(
        self,
        predict_proba: Callable[[list[str]], np.ndarray],
        *,
        max_batch_texts: int,
        max_wait: float,
        max_queue_texts: int,
        run_exclusively: threading.Lock,
    ) -> None:
        self._predict_proba = predict_proba
        self.max_batch_texts = max_batch_texts
        self.max_wait = max_wait
        self.max_queue_texts = max_queue_texts
        self._model_lock = run_exclusively
        self._queue: deque[_Request] = deque()
        self._queued_texts = 0
        self._expected = 1
        self._batch_sizes: Counter[int] = Counter()
        self._condition = threading.Condition()
        self._closed = False
        self._worker = threading.Thread(target=self._work, name="topicbert-batcher", daemon=True)
        self._worker.start()

    def submit(self, texts: list[str]) -> np.ndarray:
        """Wait for the probabilities of ``texts``; raises what the model raised for them."""
        request = _Request(list(texts))
        with self._condition:
            if self._closed:
                raise ServerBusyError("The server is shutting down.")
            if self._queued_texts + len(texts) > self.max_queue_texts and self._queue:
                raise ServerBusyError(
                    f"The server is busy: {self._queued_texts} texts are waiting "
                    f"(limit {self.max_queue_texts}). Retry shortly."
                )
            self._queue.append(request)
            self._queued_texts += len(texts)
            self._condition.notify()
        return request.future.result()

    def batch_sizes(self) -> dict[int, int]:
        """The model calls made so far, by the number of texts they carried."""
        with self._condition:
            return dict(self._batch_sizes)

    def close(self, timeout: float | None = None) -> None:
        """Refuse new requests, finish the queued ones and stop the worker."""
        with self._condition:
            self._closed = True
            self._condition.notify()
        self._worker.join(timeout)

    def _next_batch(self) -> list[_Request] | None:
        """Wait for a request, gather the expected others; None when closed and empty."""
        with self._condition:
            while not self._queue:
                if self._closed:
                    return None
                self._condition.wait()
            deadline = time.monotonic() + self.max_wait
            while (
                len(self._queue) < self._expected
                and self._queued_texts < self.max_batch_texts
                and not self._closed
            ):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._condition.wait(remaining)
            batch = [self._queue.popleft()]
            size = len(batch[0].texts)
            while self._queue and size + len(self._queue[0].texts) <= self.max_batch_texts:
                request = self._queue.popleft()
                batch.append(request)
                size += len(request.texts)
            self._queued_texts -= size
            return batch

    def _work(self) -> None:
        while (batch := self._next_batch()) is not None:
            outcomes = self._run(batch)
            with self._condition:  # counted before the answers go out and clients send again
                self._expected = len(batch) + len(self._queue)
            for request, outcome in outcomes:
                if isinstance(outcome, Exception):
                    request.future.set_exception(outcome)
                else:
                    request.future.set_result(outcome)

    def _run(self, batch: list[_Request]) -> list[tuple[_Request, np.ndarray | Exception]]:
        texts = [text for request in batch for text in request.texts]
        try:
            with self._condition:
                self._batch_sizes[len(texts)] += 1
            with self._model_lock:
                proba = self._predict_proba(texts)
        except Exception as error:
            if len(batch) == 1:
                return [(batch[0], error)]
            # find whose texts failed; the others get their rows
            return [outcome for request in batch for outcome in self._run([request])]
        rows = np.cumsum([0] + [len(request.texts) for request in batch])
        return [
            (request, proba[start:end])
            for request, start, end in zip(batch, rows[:-1], rows[1:], strict=True)
        ]
