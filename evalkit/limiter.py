"""Adaptive concurrency per endpoint: one AIMD limiter per scheme+host+port, shared by every call that goes there.

The runner's worker pool is the upper bound on requests in flight; the limiter gates the HTTP calls themselves,
so the model, its captioners and an LLM judge on the same server share one budget. The limit:

- starts at the ceiling (the entry's ``concurrency``), or wherever the caller says;
- grows by one per window of successes (a window is as many successes as the current limit: about one round trip)
  while their latency stays within :data:`LATENCY_FACTOR` times the best seen; one below the level of the last
  decrease it holds for :data:`HOLD_WINDOWS` windows before probing that level again, twice as long each time
  the endpoint refuses at the same level (CUBIC's plateau, made to back off: a hard limit is probed, and refused,
  less and less often); before the first decrease a limit started below the ceiling grows
  by one per success instead (doubling per round trip, TCP's slow start);
- is multiplied by :data:`DECREASE` (0.7, CUBIC's factor: 0.5 leaves a hard limit's sawtooth at 3/4 of it) on a
  429, a 503 or a timeout, once per congestion event: answers to requests sent before the last decrease do not
  cut it again;
- never leaves ``[floor, ceiling]``;
- honours ``Retry-After``: no new request goes to the endpoint until then.

Limiters live in a registry per event loop (tests and ``asyncio.run`` per job start fresh loops), created on
first use; :func:`endpoint_snapshot` reports the ones of the running loop for the manifest.
"""

from __future__ import annotations

import asyncio
import math
import time
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from evalkit.errors import ConfigError

#: factor applied to the limit on a 429, 503 or timeout
DECREASE = 0.7
#: a success counts towards an increase when its latency is at most this many times the best seen
LATENCY_FACTOR = 2.0
#: windows the limit holds one below the level of the last decrease before probing it again; doubled (up to
#: MAX_HOLD_WINDOWS) each time the endpoint refuses at that same level again
HOLD_WINDOWS = 8
MAX_HOLD_WINDOWS = 64
#: longest pause a Retry-After may impose, in seconds
MAX_PAUSE_S = 60.0
#: what an overload signal was: an HTTP 429, an HTTP 503 (or 504), a timeout
OVERLOAD_KINDS = ("throttled", "unavailable", "timeout")


def endpoint_of(url: str) -> str:
    """``scheme://host:port`` of a URL (the port spelled out), the key limiters are shared by; no credentials."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"not an http(s) URL: {url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}:{port}"


@dataclass(frozen=True)
class LimiterSnapshot:
    """What one endpoint's limiter did, for the manifest.

    Attributes:
        endpoint: ``scheme://host:port``.
        floor: lowest limit allowed.
        ceiling: highest limit allowed.
        start: the limit it started at.
        final: the limit at the time of the snapshot.
        min: lowest limit it reached.
        max: highest limit it reached.
        increases: additive increases.
        decreases: multiplicative decreases.
        throttled: HTTP 429 answers seen.
        unavailable: HTTP 503/504 answers seen.
        timeouts: requests that timed out.
        requests: requests that went through it.
        paused_s: seconds new requests were held back by Retry-After.
    """

    endpoint: str
    floor: int
    ceiling: int
    start: int
    final: int
    min: int
    max: int
    increases: int
    decreases: int
    throttled: int
    unavailable: int
    timeouts: int
    requests: int
    paused_s: float

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return asdict(self)


class Limiter:
    """The AIMD limit of one endpoint and the requests in flight against it.

    Args:
        endpoint: ``scheme://host:port``.
        floor: lowest limit (>= 1).
        ceiling: highest limit (>= floor).
        start: first limit (default: the ceiling), clipped to ``[floor, ceiling]``.
        clock: monotonic seconds (a fake one in unit tests).
    """

    def __init__(
        self,
        endpoint: str,
        floor: int = 1,
        ceiling: int = 8,
        start: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        check_bounds(floor, ceiling, "concurrency_floor", "concurrency")
        self.endpoint = endpoint
        self.floor, self.ceiling = floor, ceiling
        self.limit = float(min(ceiling, max(floor, start if start is not None else ceiling)))
        self.start = int(self.limit)
        self.in_flight = 0
        self._clock = clock
        self._generation = 0  # bumped by each decrease; a request remembers the one it was sent in
        self._window = 0  # successes towards the next increase
        self._best = math.inf
        self._cut_at = 0  # slots when the last decrease came (0: none yet)
        self._held = 0  # windows held one below it
        self._hold = HOLD_WINDOWS  # windows to hold there
        self._paused_until = 0.0
        self._waiters: list[asyncio.Future[None]] = []
        self.low = self.high = int(self.limit)
        self.increases = self.decreases = self.requests = 0
        self.seen = dict.fromkeys(OVERLOAD_KINDS, 0)
        self.paused_s = 0.0

    @property
    def slots(self) -> int:
        """Requests allowed in flight now."""
        return max(self.floor, int(self.limit))

    def widen(self, floor: int, ceiling: int) -> None:
        """Another caller shares this endpoint: the lower floor and the higher ceiling hold for both."""
        check_bounds(floor, ceiling, "concurrency_floor", "concurrency")
        self.floor, self.ceiling = min(self.floor, floor), max(self.ceiling, ceiling)
        if self.decreases == 0 and self.limit < self.ceiling:  # no congestion seen yet: start from the top
            self.limit = float(self.ceiling)
            self._moved()
        self._wake()

    def on_success(self, latency_s: float) -> None:
        """A request answered; grow the limit when a window of answers came back without slowing down."""
        self._best = min(self._best, latency_s)
        if latency_s > LATENCY_FACTOR * self._best:
            self._window = 0  # latency does not hold: the server is queueing, stay put
            return
        self._window += 1
        slow_start = self.decreases == 0
        if self.limit >= self.ceiling or not (slow_start or self._window >= self.slots):
            return
        self._window = 0
        if self.slots == self._cut_at - 1 and self._held < self._hold:
            self._held += 1  # one below where the endpoint refused last time: probe that level only now and then
            return
        self._held = 0
        self.limit = min(float(self.ceiling), math.floor(self.limit) + 1.0)
        self.increases += 1
        self._moved()
        self._wake()

    def on_overload(self, kind: str, generation: int, retry_after: float | None = None) -> None:
        """A request was refused as too many (``kind`` in :data:`OVERLOAD_KINDS`); cut once per congestion event.

        Args:
            kind: ``throttled`` (429), ``unavailable`` (503/504) or ``timeout``.
            generation: :attr:`generation` when the request was sent; an older one was already cut for.
            retry_after: the server's Retry-After in seconds, if any: new requests wait until then.
        """
        self.seen[kind] += 1
        if retry_after is not None and retry_after > 0:
            self.pause(retry_after)
        if generation != self._generation:
            return
        same_level = abs(self.slots - self._cut_at) <= 1
        self._hold = min(MAX_HOLD_WINDOWS, self._hold * 2) if same_level else HOLD_WINDOWS
        self._cut_at, self._held = self.slots, 0
        self.limit = max(float(self.floor), self.limit * DECREASE)
        self._generation += 1
        self._window = 0
        self.decreases += 1
        self._moved()

    def pause(self, seconds: float) -> None:
        """Hold new requests back for ``seconds`` (at most :data:`MAX_PAUSE_S`) from now."""
        now = self._clock()
        until = now + min(seconds, MAX_PAUSE_S)
        if until > self._paused_until:
            self.paused_s += until - max(now, self._paused_until)
            self._paused_until = until

    def pause_left(self) -> float:
        """Seconds until new requests may go (0 when not paused)."""
        return max(0.0, self._paused_until - self._clock())

    @property
    def generation(self) -> int:
        """Count of decreases so far: what a request remembers when it is sent."""
        return self._generation

    async def acquire(self) -> int:
        """Wait for a free slot and no pause; take the slot. Returns the generation the request is sent in."""
        while True:
            wait = self.pause_left()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            if self.in_flight < self.slots:
                break
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            try:
                await fut
            finally:
                if fut in self._waiters:
                    self._waiters.remove(fut)
        self.in_flight += 1
        self.requests += 1
        return self._generation

    def release(self) -> None:
        """Give a slot back."""
        self.in_flight -= 1
        self._wake()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[int]:
        """``async with limiter.slot() as generation:`` around one request."""
        generation = await self.acquire()
        try:
            yield generation
        finally:
            self.release()

    def snapshot(self) -> LimiterSnapshot:
        """What the limiter did so far."""
        return LimiterSnapshot(
            endpoint=self.endpoint,
            floor=self.floor,
            ceiling=self.ceiling,
            start=self.start,
            final=self.slots,
            min=self.low,
            max=self.high,
            increases=self.increases,
            decreases=self.decreases,
            throttled=self.seen["throttled"],
            unavailable=self.seen["unavailable"],
            timeouts=self.seen["timeout"],
            requests=self.requests,
            paused_s=round(self.paused_s, 3),
        )

    def _moved(self) -> None:
        self.low, self.high = min(self.low, self.slots), max(self.high, self.slots)

    def _wake(self) -> None:
        # every waiter re-checks (a few dozen at most); a woken waiter that finds no slot waits again
        for fut in self._waiters:
            if not fut.done():
                fut.set_result(None)
        self._waiters.clear()


def check_bounds(floor: int, ceiling: int, floor_name: str, ceiling_name: str) -> None:
    """Raise a ConfigError naming the fields unless ``1 <= floor <= ceiling``."""
    if floor < 1:
        raise ConfigError(f"{floor_name} must be at least 1; got {floor}")
    if ceiling < floor:
        raise ConfigError(f"{ceiling_name} ({ceiling}) must be at least {floor_name} ({floor})")


_REGISTRIES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Limiter]] = weakref.WeakKeyDictionary()


def _registry() -> dict[str, Limiter]:
    loop = asyncio.get_running_loop()
    reg = _REGISTRIES.get(loop)
    if reg is None:
        reg = _REGISTRIES[loop] = {}
    return reg


def limiter_for(url: str, floor: int, ceiling: int, start: int | None = None) -> Limiter:
    """The running loop's limiter of ``url``'s endpoint, created on first use, widened for each later caller.

    Args:
        url: any URL on the endpoint.
        floor: the caller's lowest limit.
        ceiling: the caller's highest limit.
        start: first limit when this call creates the limiter (default: the ceiling).
    """
    reg = _registry()
    endpoint = endpoint_of(url)
    lim = reg.get(endpoint)
    if lim is None:
        lim = reg[endpoint] = Limiter(endpoint, floor, ceiling, start)
    elif floor < lim.floor or ceiling > lim.ceiling:
        lim.widen(floor, ceiling)
    return lim


def endpoint_snapshot() -> dict[str, dict[str, Any]]:
    """Endpoint -> JSON-able :class:`LimiterSnapshot` of the running loop's limiters; {} outside a loop."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return {}
    reg = _REGISTRIES.get(loop, {})
    return {ep: lim.snapshot().to_json() for ep, lim in sorted(reg.items())}
