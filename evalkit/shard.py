"""Which shard a sample belongs to: a stable hash of its prediction key, modulo the number of shards.

The prediction key already names the model configuration, the prompt version and the sample, so a sample keeps
its shard across machines, Python versions and runs (``hash()`` is salted per process; blake2b is not).
"""

from __future__ import annotations

import hashlib


def shard_of(key: str, n: int) -> int:
    """The shard (0 .. n-1) of the sample whose prediction key is ``key``."""
    if n < 1:
        raise ValueError(f"number of shards must be >= 1, got {n}")
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % n
