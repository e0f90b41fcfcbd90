"""Single requests to a server outside wrk: to check an answer before a load, or to prime."""

from __future__ import annotations

import urllib.error
import urllib.request

from .config import USER_AGENT
from .harness import BenchFailure


def fetch(request: urllib.request.Request, timeout: float) -> tuple[int, str]:
    """Send a request to 127.0.0.1; return its status and body, error statuses included."""
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - 127.0.0.1
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def get(base: str, path: str, headers: dict[str, str], timeout: float = 30) -> tuple[int, str]:
    request = urllib.request.Request(base + path, headers={"User-Agent": USER_AGENT, **headers})
    return fetch(request, timeout)


def expect_answer(
    base: str, path: str, headers: dict[str, str], *, status: int, contains: str | None = None
) -> None:
    """GET a path once; fail the run unless it answers `status` (with `contains` in the body)."""
    code, body = get(base, path, headers)
    if code != status or (contains and contains not in body):
        raise BenchFailure(f"GET {path} answered {code}, expected {status}: {body[:300]}")


def status_of(base: str, path: str, headers: dict[str, str]) -> int:
    return get(base, path, headers, timeout=60)[0]


def post_event(url: str, body: str, signature: str) -> tuple[int, str]:
    """POST one signed event body; return the status and the answer."""
    request = urllib.request.Request(
        url,
        data=body.encode(),
        headers={"Content-Type": "application/json", "Stripe-Signature": signature},
        method="POST",
    )
    return fetch(request, timeout=30)
