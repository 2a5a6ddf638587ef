"""A small asyncio batcher: concurrent single requests in, one batch call out (in-process engines)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from evalkit.errors import ModelError

T = TypeVar("T")
R = TypeVar("R")


class MicroBatcher(Generic[T, R]):
    """Gathers concurrent ``submit`` calls into batches for one batch function.

    Args:
        run: answers a batch: one result or exception per item, in order.
        max_size: most items per batch.
        max_wait_s: how long a batch waits for more items after its first.
    """

    def __init__(
        self, run: Callable[[list[T]], Awaitable[list[R | BaseException]]], max_size: int, max_wait_s: float
    ) -> None:
        self._run = run
        self.max_size = max(1, max_size)
        self.max_wait_s = max(0.0, max_wait_s)
        self._queue: asyncio.Queue[tuple[T, asyncio.Future[R]]] | None = None
        self._task: asyncio.Task[None] | None = None
        self.batch_sizes: list[int] = []

    async def submit(self, item: T) -> R:
        """Queue one item and wait for its result (or its exception)."""
        if self._task is None or self._task.done():
            self._queue = asyncio.Queue()
            self._task = asyncio.create_task(self._loop())
        assert self._queue is not None
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        await self._queue.put((item, future))
        return await future

    async def _gather(self) -> list[tuple[T, asyncio.Future[R]]]:
        assert self._queue is not None
        batch = [await self._queue.get()]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait_s
        while len(batch) < self.max_size:
            try:
                batch.append(self._queue.get_nowait())
                continue
            except asyncio.QueueEmpty:
                pass
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            await asyncio.sleep(min(remaining, 0.005))
        return batch

    async def _loop(self) -> None:
        while True:
            batch = await self._gather()
            self.batch_sizes.append(len(batch))
            try:
                results = await self._run([item for item, _ in batch])
                if len(results) != len(batch):
                    raise ModelError(f"engine returned {len(results)} results for {len(batch)} requests")
            except asyncio.CancelledError:
                _fail(batch, ModelError("model closed before answering"))
                raise
            except Exception as exc:
                results = [exc] * len(batch)
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():  # the caller gave up (cancelled)
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    async def close(self) -> None:
        """Stop batching; requests still queued fail with ModelError."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        while self._queue is not None and not self._queue.empty():
            _fail([self._queue.get_nowait()], ModelError("model closed before answering"))


def _fail(batch: list[tuple[Any, asyncio.Future[Any]]], exc: Exception) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(exc)


async def run_isolated(items: list[T], generate: Callable[[list[T]], Any]) -> list[Any]:
    """Run the blocking ``generate`` on a batch in a worker thread; if it raises, run each item alone.

    One bad input then fails only its own sample: its slot holds the exception, its batch mates get answers.
    """
    try:
        return list(await asyncio.to_thread(generate, items))
    except Exception:  # the batch failed as a whole: find the culprit below
        if len(items) == 1:
            raise
    out: list[Any] = []
    for item in items:
        try:
            out.extend(await asyncio.to_thread(generate, [item]))
        except Exception as exc:
            out.append(exc)
    return out
