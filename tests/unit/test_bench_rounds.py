"""The benchmark's rounds: events split between rounds, rounds combined into one result."""

from __future__ import annotations

from benchmarks.load import Result
from benchmarks.rounds import chunks, combine, rate


def result(requests: int, counted: int | None = None, p50: float = 1.0) -> Result:
    return Result(
        requests=requests,
        seconds=2.0,
        status_5xx=0,
        status_other=0,
        socket_errors=0,
        p50_ms=p50,
        p99_ms=p50 * 10,
        counted=counted,
    )


def test_events_are_split_between_rounds_without_loss_or_overlap():
    parts = chunks(list(range(10)), 3)
    assert parts == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]
    assert chunks([1, 2], 1) == [[1, 2]]


def test_rounds_combine_into_totals_with_the_median_p50_and_the_worst_p99():
    total = combine([result(10, 9, 1.0), result(20, 20, 5.0), result(30, 30, 2.0)])
    assert (total.requests, total.counted, total.seconds) == (60, 59, 6.0)
    assert (total.p50_ms, total.p99_ms) == (2.0, 50.0)
    assert rate(total) == 59 / 6.0  # counted answers when a load counts them
    assert rate(combine([result(10), result(20)])) == 30 / 4.0  # else every request


def test_the_reported_server_settings_are_the_configs_own(monkeypatch):
    from benchmarks.config import FULL, SMOKE
    from benchmarks.report import gunicorn_setting
    from benchmarks.servers import ROOT, gunicorn_config

    monkeypatch.delenv("GUNICORN_WORKERS", raising=False)
    monkeypatch.delenv("GUNICORN_THREADS", raising=False)
    assert gunicorn_config() == (4, 2)
    assert gunicorn_setting(FULL, ROOT).startswith("gunicorn.conf.py (4 workers x 2 gthreads;")
    assert gunicorn_setting(SMOKE, ROOT).startswith("gunicorn.conf.py (2 workers x 2 gthreads;")
    monkeypatch.setenv("GUNICORN_WORKERS", "3")
    assert gunicorn_config() == (3, 2)
