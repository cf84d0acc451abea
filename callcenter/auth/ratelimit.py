"""Token-bucket rate limits keyed by a string (an IP address, a login, "global").

Pure: the time is passed in. Used for login attempts and web-form submissions. Buckets that
have refilled completely are dropped, so memory stays bounded by the active keys.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rate:
    """``burst`` requests at once, refilling at ``per_second``."""

    burst: int
    per_second: float

    def __post_init__(self) -> None:
        if self.burst < 1 or self.per_second <= 0:
            raise ValueError("a rate needs burst >= 1 and per_second > 0")


class RateLimiter:
    """Token buckets per key, all with the same :class:`Rate`."""

    def __init__(self, rate: Rate, max_keys: int = 100_000) -> None:
        self.rate = rate
        self._buckets: dict[str, tuple[float, float]] = {}
        self._max_keys = max_keys

    def allow(self, key: str, now: float, cost: float = 1.0) -> bool:
        """Take ``cost`` tokens from ``key``'s bucket if it has them; False means refuse."""
        tokens, last = self._buckets.get(key, (float(self.rate.burst), now))
        tokens = min(float(self.rate.burst), tokens + max(0.0, now - last) * self.rate.per_second)
        allowed = tokens >= cost
        if allowed:
            tokens -= cost
        if len(self._buckets) >= self._max_keys and key not in self._buckets:
            self.prune(now)
        self._buckets[key] = (tokens, now)
        return allowed

    def retry_after(self, key: str, now: float, cost: float = 1.0) -> float:
        """Seconds until ``key`` may spend ``cost`` again (0 when it may now)."""
        tokens, last = self._buckets.get(key, (float(self.rate.burst), now))
        tokens = min(float(self.rate.burst), tokens + max(0.0, now - last) * self.rate.per_second)
        return max(0.0, (cost - tokens) / self.rate.per_second)

    def prune(self, now: float) -> None:
        """Forget buckets that are full again."""
        full = [k for k, (tokens, last) in self._buckets.items()
                if tokens + (now - last) * self.rate.per_second >= self.rate.burst]
        for key in full:
            del self._buckets[key]

    def __len__(self) -> int:
        return len(self._buckets)
