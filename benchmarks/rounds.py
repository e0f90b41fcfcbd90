"""Rounds of load that alternate with the bare endpoint, and what each round sends.

A phase runs bare, load, bare, load, ..., bare. Each round's ratio is the load's rate over the
mean of the bare rates just before and just after it, and the phase's ratio is the median
round, so a slower or faster minute of the shared machine moves one round, not the figure.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable

from .events import WEBHOOK_PATH
from .harness import BenchFailure, Run, log
from .load import Result, get_paths, post_bodies
from .servers import Server

Loads = Callable[[int], dict[str, Result]]


def rate(result: Result) -> float:
    """A result's rate: its counted answers per second when it counts them, else requests."""
    return result.counted_rps if result.counted is not None else result.rps


def combine(results: list[Result]) -> Result:
    """The rounds of one load as one result: totals, the median p50 and the worst p99."""
    counted = [r.counted for r in results]
    return Result(
        requests=sum(r.requests for r in results),
        seconds=sum(r.seconds for r in results),
        status_5xx=sum(r.status_5xx for r in results),
        status_other=sum(r.status_other for r in results),
        socket_errors=sum(r.socket_errors for r in results),
        p50_ms=statistics.median(r.p50_ms for r in results),
        p99_ms=max(r.p99_ms for r in results),
        counted=None if None in counted else sum(counted),
        exhausted=any(r.exhausted for r in results),
    )


def chunks(items: list, n: int) -> list[list]:
    """Split items into n consecutive, nearly equal parts."""
    size, extra = divmod(len(items), n)
    bounds = [i * size + min(i, extra) for i in range(n + 1)]
    return [items[bounds[i] : bounds[i + 1]] for i in range(n)]


def measure_bare(run: Run, seconds: int, **wrk_options) -> float:
    """Measure the bare endpoint with the same wrk settings as the load it is compared to."""
    assert run.bare is not None
    file = run.tmp / "bare.txt"
    result = get_paths(run.bare.base, [("/bare", {})], file, run.mode, seconds, **wrk_options)
    if result.status_5xx or result.status_other:
        raise BenchFailure(f"the bare endpoint answered errors: {result.as_dict()}")
    return result.rps


def alternate(
    run: Run, label: str, load: Loads, **bare_options
) -> tuple[dict[str, Result], dict[str, float]]:
    """Run a phase's rounds between bare windows; return its results and median ratios.

    `load(i)` runs round i for `mode.round_seconds` and returns its wrk results by name.
    """
    bare = [measure_bare(run, run.mode.round_seconds, **bare_options)]
    rounds: dict[str, list[Result]] = {}
    ratios: dict[str, list[float]] = {}
    for i in range(run.mode.rounds):
        for name, result in load(i).items():
            rounds.setdefault(name, []).append(result)
        bare.append(measure_bare(run, run.mode.round_seconds, **bare_options))
        baseline = (bare[-2] + bare[-1]) / 2
        for name, results in rounds.items():
            ratios.setdefault(name, []).append(rate(results[-1]) / baseline)
    run.results["phases"][f"bare_{label}"] = [round(b, 1) for b in bare]
    combined = {name: combine(results) for name, results in rounds.items()}
    medians = {name: statistics.median(values) for name, values in ratios.items()}
    for name, values in ratios.items():
        run.results["phases"][name] = {
            **combined[name].as_dict(),
            "round_ratios": [round(v, 4) for v in values],
        }
        log(
            f"{name}: {rate(combined[name]):,.0f}/s; rounds "
            + ", ".join(f"{v:.3f}" for v in values)
            + f" x bare (bare {', '.join(f'{b:,.0f}' for b in bare)} req/s): "
            + f"median {medians[name]:.3f}"
        )
    return combined, medians


def paired(i: int, loads: dict[str, Callable[[], Result]]) -> dict[str, Result]:
    """Run a round's loads one after another, the app's and its reference's: in reverse
    order in odd rounds, so neither always comes straight after a bare window."""
    names = list(loads)[::-1] if i % 2 else list(loads)
    return {name: loads[name]() for name in names}


def events_needed(run: Run, share: float = 1.0) -> int:
    """Distinct events to prepare for a fulfilment phase: more than it can use (sized from
    a short bare measurement, as no fulfilment comes near the bare rate)."""
    mode = run.mode
    estimate = measure_bare(run, 1)
    seconds = mode.round_seconds * mode.rounds
    return max(mode.min_events, int(estimate * seconds * mode.event_factor * share))


def post_round(
    run: Run,
    server: Server,
    signed: list,
    name: str,
    *,
    again: bool = False,
    path: str | None = None,
    **wrk_options,
) -> Result:
    """POST a round's share of distinct signed events once each, counting "credited"; or,
    `again`, events already delivered, in a loop for the round, counting "duplicate"."""
    return post_bodies(
        server.base,
        path or WEBHOOK_PATH,
        signed,
        run.tmp / f"{name}.txt",
        run.mode,
        run.mode.round_seconds,
        wrap=again,
        expect='"duplicate"' if again else '"credited"',
        **wrk_options,
    )


def get_round(run: Run, server: Server, lines: list, name: str, **wrk_options) -> Result:
    """GET the (path, headers) lines round-robin for one round."""
    file = run.tmp / f"{name}.txt"
    return get_paths(server.base, lines, file, run.mode, run.mode.round_seconds, **wrk_options)


def run_together(functions: list[Callable[[], None]]) -> None:
    """Run functions in threads at once; re-raise the first error any of them raised."""
    errors: list[BaseException] = []

    def wrap(fn: Callable[[], None]) -> Callable[[], None]:
        def runner() -> None:
            try:
                fn()
            except BaseException as exc:  # noqa: BLE001 - re-raised below
                errors.append(exc)

        return runner

    threads = [threading.Thread(target=wrap(fn)) for fn in functions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def wait_quiet(seconds: float = 1.0) -> None:
    """Give the workers' background receipt delivery a moment before the ledger is read."""
    time.sleep(seconds)
