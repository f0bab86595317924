"""When to try an HTTP request again, for the agents (``agents/transport.py``) and the webhooks
(``engine/webhooks.py``) alike: exponential backoff with jitter, and how long a server asks us to wait.

Pure (no I/O, no httpx), so that both layers import it without either importing the other.
"""

from __future__ import annotations

import random
import time
from typing import Any


def backoff(attempt: int, base: float, cap: float, jitter: tuple[float, float]) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based): ``min(base * 2**(attempt-1), cap)``
    scaled by a random factor drawn uniformly from ``jitter`` (low, high)."""
    return min(base * 2.0 ** (attempt - 1), cap) * random.uniform(*jitter)


def seconds_from_now(value: Any) -> float | None:
    """A ``Retry-After`` value (``"2"``, an HTTP date) or a duration such as Gemini's ``"34.4s"`` -> seconds
    from now, never negative; None when unreadable."""
    if value is None:
        return None
    text = str(value).strip()
    try:
        return max(float(text.removesuffix("s")), 0.0)
    except ValueError:
        pass
    try:
        import email.utils  # (here: a cold `next` imports this module, and nothing else it runs imports email)

        return max(email.utils.parsedate_to_datetime(text).timestamp() - time.time(), 0.0)
    except (TypeError, ValueError, IndexError):
        return None
