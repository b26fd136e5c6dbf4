"""When to try a failed send again, and when to give up for the other channel to carry it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from notifier.errors import PermanentSendError, SendError, TransientSendError


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many attempts a delivery gets and how long to wait between them."""

    max_attempts: int
    base_seconds: float
    max_seconds: float


@dataclass(frozen=True, slots=True)
class Retry:
    """Try again at `at`."""

    at: datetime


@dataclass(frozen=True, slots=True)
class GiveUp:
    """The delivery has failed; the person's other channel should carry the alert."""

    reason: str


def after_failure(
    policy: RetryPolicy,
    error: SendError,
    attempts: int,
    now: datetime,
    random: Callable[[], float],
) -> Retry | GiveUp:
    """What to do after the `attempts`-th attempt failed with `error`.

    Transient errors wait `base * 2^(attempts-1)` capped at `max_seconds`, half of it fixed and
    half random (so a fan-out's retries spread out), and never less than the provider's
    Retry-After. Permanent errors, and transient ones on the last attempt, give up.
    """
    if isinstance(error, PermanentSendError):
        return GiveUp(_describe(error))
    if attempts >= policy.max_attempts:
        return GiveUp(f"{_describe(error)} (after {attempts} attempts)")
    return Retry(now + timedelta(seconds=backoff_seconds(policy, attempts, error, random)))


def backoff_seconds(
    policy: RetryPolicy, attempts: int, error: SendError, random: Callable[[], float]
) -> float:
    """The wait before the next attempt."""
    ceiling = min(policy.max_seconds, policy.base_seconds * 2.0 ** max(0, attempts - 1))
    wait = ceiling / 2 + random() * ceiling / 2
    if isinstance(error, TransientSendError) and error.retry_after is not None:
        wait = max(wait, min(error.retry_after, policy.max_seconds))
    return wait


def _describe(error: SendError) -> str:
    return f"{error.code}: {error}" if error.code else str(error)
