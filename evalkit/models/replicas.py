"""Replicas of one OpenAI-compatible model: least outstanding requests, ties round robin, failing ones cooled down.

A replica that drops a connection or answers 5xx is skipped for a cool-down (1 s, doubling with each failure in
a row, at most 30 s) while another is healthy; one answer puts it back. With every replica cooling down the
least loaded is used anyway: a request is never refused here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

COOL_DOWN_S = 1.0
MAX_COOL_DOWN_S = 30.0


@dataclass
class Replica:
    """One endpoint root and its live counts.

    Attributes:
        url: the ``/v1`` root, without a trailing slash.
        outstanding: requests picked for it and not finished (waiting for a limiter slot included).
        sent: requests picked for it so far.
        failures: failures in a row (reset by an answer).
        down_until: clock time until which it is skipped while another is healthy.
    """

    url: str
    outstanding: int = 0
    sent: int = 0
    failures: int = 0
    down_until: float = 0.0


class ReplicaPool:
    """Picks the replica for each request.

    Args:
        urls: the replicas' ``/v1`` roots (at least one).
        clock: monotonic seconds (a fake one in unit tests).
    """

    def __init__(self, urls: Sequence[str], clock: Callable[[], float] = time.monotonic) -> None:
        if not urls:
            raise ValueError("a replica pool needs at least one URL")
        self.replicas = [Replica(u.rstrip("/")) for u in urls]
        self._clock = clock
        self._next = 0  # round-robin start among equally loaded replicas

    def __len__(self) -> int:
        return len(self.replicas)

    def healthy(self, replica: Replica) -> bool:
        """Whether ``replica`` is out of its cool-down."""
        return replica.down_until <= self._clock()

    def pick(self, avoid: Collection[str] = ()) -> Replica:
        """The replica for the next request: healthy ones not in ``avoid`` first, then least outstanding requests,
        ties in round-robin order. Counts the request as outstanding on it (see :meth:`done`)."""
        n = len(self.replicas)
        order = [self.replicas[(self._next + i) % n] for i in range(n)]
        tiers = (
            [r for r in order if self.healthy(r) and r.url not in avoid],
            [r for r in order if self.healthy(r)],
            [r for r in order if r.url not in avoid],
            order,
        )
        candidates = next(t for t in tiers if t)
        chosen = min(candidates, key=lambda r: r.outstanding)  # min keeps the first of equals: round robin
        self._next = (self.replicas.index(chosen) + 1) % n
        chosen.outstanding += 1
        chosen.sent += 1
        return chosen

    def done(self, replica: Replica, *, failed: bool) -> None:
        """A request on ``replica`` finished; a failure (dropped connection, 5xx) starts or doubles its cool-down."""
        replica.outstanding -= 1
        self.mark(replica, failed=failed)

    def mark(self, replica: Replica, *, failed: bool) -> None:
        """Record an answer (ends the cool-down) or a failure (starts or doubles it)."""
        if not failed:
            replica.failures, replica.down_until = 0, 0.0
            return
        replica.failures += 1
        cool = min(MAX_COOL_DOWN_S, COOL_DOWN_S * 2 ** (replica.failures - 1))
        replica.down_until = self._clock() + cool

    def another_healthy(self, tried: Collection[str]) -> bool:
        """Whether a healthy replica outside ``tried`` remains (a retry there needs no backoff)."""
        return any(self.healthy(r) and r.url not in tried for r in self.replicas)
