"""The costs of the flat phase that are not a read held flat: the admin totals and chart
in-process, and the gunicorn workers' peak memory while the CSV export streams."""

from __future__ import annotations

import http.client
import statistics
import time
from typing import Any

from app.domain.purchases import PurchaseFilter
from app.domain.reports import daily_net, totals
from app.extensions import db

from .config import CSV_MEMORY_LIMIT_MB, USER_AGENT
from .harness import BenchFailure
from .servers import Server, proc_status_kb, reset_peak


def totals_cost(apps: dict[str, Any], repeat: int = 5) -> dict[str, Any]:
    """Time the admin totals and daily chart over every completed purchase, small vs large.

    The admin list page shows these; they read the whole filtered set, so they grow with it.
    """
    seconds = {}
    for size, app in apps.items():
        runs = []
        with app.app_context():
            for _ in range(repeat):
                started = time.perf_counter()
                totals(PurchaseFilter(status="completed"))
                daily_net(PurchaseFilter(status="completed"))
                runs.append(time.perf_counter() - started)
            db.session.remove()
        seconds[size] = statistics.median(runs)
    return {
        "cost_ratio": round(seconds["large"] / seconds["small"], 1),
        "held_to_limit": False,
        "note": "in-process median of totals() + daily_net() for status=completed",
    }


class PeakMemory:
    """The workers' peak RSS from a reset onwards (Linux `clear_refs` 5, then `VmHWM`)."""

    def __init__(self, workers: list[int]) -> None:
        self.workers = workers
        self.before: dict[int, int] = {}
        for pid in workers:
            reset_peak(pid)
            self.before[pid] = proc_status_kb(pid, "VmRSS") or 0
        self.peak = dict(self.before)

    def sample(self) -> None:
        for pid in self.workers:
            hwm = proc_status_kb(pid, "VmHWM")
            if hwm is not None:
                self.peak[pid] = max(self.peak[pid], hwm)

    def growth_kb(self) -> int:
        return max(self.peak[pid] - self.before[pid] for pid in self.workers)


def read_export(server: Server, headers: dict[str, str], memory: PeakMemory) -> tuple[int, int]:
    """GET the CSV export in 64 KB chunks, sampling memory every MB; return bytes and lines."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=300)
    conn.request(
        "GET", "/admin/credits/purchases.csv", headers={"User-Agent": USER_AGENT, **headers}
    )
    response = conn.getresponse()
    if response.status != 200:
        raise BenchFailure(f"csv export answered {response.status}")
    size = lines = since_sample = 0
    while chunk := response.read(65536):
        size += len(chunk)
        lines += chunk.count(b"\n")
        since_sample += len(chunk)
        if since_sample >= 1 << 20:
            memory.sample()
            since_sample = 0
    memory.sample()
    conn.close()
    return size, lines


def csv_memory(server: Server, admin_headers: dict[str, str]) -> dict[str, Any]:
    """Stream every purchase as CSV and watch the gunicorn workers' peak RSS while it runs."""
    memory = PeakMemory(server.workers())
    started = time.monotonic()
    size, lines = read_export(server, admin_headers, memory)
    return {
        "rows": lines - 1,
        "megabytes": round(size / 1e6, 2),
        "seconds": round(time.monotonic() - started, 2),
        "peak_growth_mb": round(memory.growth_kb() / 1024, 1),
        "limit_mb": CSV_MEMORY_LIMIT_MB,
        "workers_rss_before_mb": [round(v / 1024, 1) for v in memory.before.values()],
        "how": "VmHWM reset (clear_refs 5) before, sampled every MB; growth over VmRSS before",
    }
