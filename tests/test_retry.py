"""Retry decisions: transient errors back off with jitter, permanent ones give up at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from notifier.errors import PermanentSendError, TransientSendError
from notifier.retry import GiveUp, Retry, RetryPolicy, after_failure

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
POLICY = RetryPolicy(max_attempts=5, base_seconds=2, max_seconds=60)


@pytest.mark.parametrize(
    ("attempts", "random", "seconds"),
    [
        (1, 0.0, 1.0),  # ceiling 2: half fixed
        (1, 1.0, 2.0),
        (2, 0.5, 3.0),  # ceiling 4
        (4, 0.0, 8.0),  # ceiling 16
    ],
)
def test_transient_errors_back_off_exponentially_with_jitter(
    attempts: int, random: float, seconds: float
) -> None:
    """The wait doubles per attempt, between half and all of the ceiling."""
    decision = after_failure(POLICY, TransientSendError("busy"), attempts, NOW, lambda: random)
    assert decision == Retry(NOW + timedelta(seconds=seconds))


def test_backoff_is_capped() -> None:
    """However many attempts, no wait exceeds max_seconds."""
    policy = RetryPolicy(max_attempts=50, base_seconds=2, max_seconds=60)
    decision = after_failure(policy, TransientSendError("busy"), 30, NOW, lambda: 1.0)
    assert decision == Retry(NOW + timedelta(seconds=60))


def test_provider_retry_after_is_respected() -> None:
    """A Retry-After longer than our backoff is waited for."""
    error = TransientSendError("429", code="20429", retry_after=30)
    assert after_failure(POLICY, error, 1, NOW, lambda: 0.0) == Retry(NOW + timedelta(seconds=30))


def test_permanent_error_gives_up_at_once() -> None:
    """An invalid number is not retried, whatever the attempt."""
    decision = after_failure(
        POLICY, PermanentSendError("invalid", code="21211"), 1, NOW, lambda: 0.5
    )
    assert decision == GiveUp("21211: invalid")


def test_last_attempt_gives_up() -> None:
    """A transient error on the last allowed attempt fails the delivery."""
    decision = after_failure(POLICY, TransientSendError("timeout"), 5, NOW, lambda: 0.5)
    assert decision == GiveUp("timeout (after 5 attempts)")
