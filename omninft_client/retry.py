"""Per-chunk retry policy of the clients: capped exponential backoff with jitter on transient status codes."""

from __future__ import annotations

import random
from dataclasses import dataclass

import grpc

DEFAULT_RETRYABLE: tuple[grpc.StatusCode, ...] = (
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
)


def _as_code(code: grpc.StatusCode | str) -> grpc.StatusCode:
    return code if isinstance(code, grpc.StatusCode) else grpc.StatusCode[str(code)]


@dataclass(frozen=True)
class RetryPolicy:
    """Per-chunk retries: capped exponential backoff with jitter, on transient status codes only."""

    max_attempts: int = 4
    initial_backoff_s: float = 0.1
    max_backoff_s: float = 2.0
    multiplier: float = 2.0
    jitter: float = 0.2
    retryable: tuple[grpc.StatusCode, ...] = DEFAULT_RETRYABLE
    # Deadline of one attempt (None: whatever is left of the call's deadline, so a timed-out attempt
    # leaves no room for another).
    per_attempt_timeout_s: float | None = None

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if self.initial_backoff_s < 0 or self.max_backoff_s < self.initial_backoff_s:
            raise ValueError("need 0 <= initial_backoff_s <= max_backoff_s")
        if self.multiplier < 1:
            raise ValueError("multiplier must be >= 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter must be in [0, 1]")
        if self.per_attempt_timeout_s is not None and self.per_attempt_timeout_s <= 0:
            raise ValueError("per_attempt_timeout_s must be positive")
        object.__setattr__(self, "retryable", tuple(_as_code(c) for c in self.retryable))

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based); no jitter when rng is None."""
        if attempt < 1:
            raise ValueError("attempt is 1-based")
        try:
            base = self.initial_backoff_s * self.multiplier ** (attempt - 1)
        except OverflowError:
            base = self.max_backoff_s
        base = min(base, self.max_backoff_s)
        if rng is not None and self.jitter:
            base *= 1.0 + self.jitter * (2.0 * rng.random() - 1.0)
        return max(0.0, min(base, self.max_backoff_s))

    def should_retry(self, code: grpc.StatusCode | str, attempt: int) -> bool:
        """Whether a chunk whose attempt number `attempt` failed with `code` gets another attempt."""
        return attempt < self.max_attempts and _as_code(code) in self.retryable

    def next_delay(
        self, code: grpc.StatusCode | str, attempt: int, remaining_s: float, rng: random.Random | None
    ) -> float | None:
        """The wait before the next attempt, or None when the call must fail now (code, attempts or time)."""
        if not self.should_retry(code, attempt):
            return None
        wait = self.delay(attempt, rng)
        # A retry that could not even start before the call's deadline is pointless.
        if remaining_s - wait <= MIN_ATTEMPT_S:
            return None
        return wait

    def attempt_timeout(self, remaining_s: float) -> float:
        """Deadline for one attempt: fresh per attempt, never beyond the call's overall deadline."""
        if self.per_attempt_timeout_s is None:
            return remaining_s
        return min(self.per_attempt_timeout_s, remaining_s)


# An attempt with less time than this would only produce DEADLINE_EXCEEDED.
MIN_ATTEMPT_S = 0.005
