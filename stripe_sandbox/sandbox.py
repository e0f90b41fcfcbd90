"""The Sandbox: state, sandbox clock, timers, and the webhook delivery worker."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

from .config import Settings
from .context import Ctx
from .payments import run_timer
from .store import Store
from .webhooks import Deliverer

log = logging.getLogger(__name__)

POLL_SECONDS = 0.25
FLUSH_TIMEOUT = 120.0


class Sandbox:
    """One sandbox account; any number of these (threads, processes) may share a state file."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        path = settings.state_path
        self._tmpdir: weakref.finalize | None = None
        if not path:
            tmpdir = tempfile.mkdtemp(prefix="stripe-sandbox-")
            self._tmpdir = weakref.finalize(self, shutil.rmtree, tmpdir, True)
            path = os.path.join(tmpdir, "state.sqlite3")
        elif os.path.dirname(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
        self.store = Store(path)
        self.deliverer = Deliverer(self.store, settings)
        self._thread: threading.Thread | None = None
        self._thread_pid = 0
        self._autostart = settings.start_worker
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()

    # transactions -------------------------------------------------------------

    @contextmanager
    def write(
        self,
        public_url: str = "",
        request_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> Iterator[Ctx]:
        """Run operations in one write transaction; wake the worker if events were recorded."""
        with self.store.write() as tx:
            ctx = Ctx(tx, self.settings, public_url, request_id, idempotency_key)
            yield ctx
        if ctx.emitted:
            self._wake.set()

    @contextmanager
    def read(self, public_url: str = "") -> Iterator[Ctx]:
        """Run read-only operations over one snapshot."""
        with self.store.read() as tx:
            yield Ctx(tx, self.settings, public_url)

    # clock --------------------------------------------------------------------

    def clock(self) -> float:
        """Return sandbox time: real time plus the persisted offset."""
        with self.store.read() as tx:
            return time.time() + tx.clock_offset()

    def advance_clock(self, seconds: float) -> float:
        """Move the sandbox clock forward and run what became due; return the new offset."""
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        with self.store.write() as tx:
            offset = tx.clock_offset() + seconds
            tx.set_meta("clock_offset", repr(offset))
        self.tick()
        return offset

    def tick(self) -> int:
        """Expire sessions and settle bank transfers that are due on the sandbox clock."""
        with self.store.read() as tx:
            if not tx.due_timers(time.time() + tx.clock_offset()):
                return 0
        with self.write() as ctx:
            timers = ctx.tx.due_timers(ctx.clock())
            for timer in timers:
                try:
                    with ctx.tx.savepoint():
                        run_timer(ctx, timer)
                except Exception:  # a broken timer must not block the others or the API
                    log.exception("sandbox timer %s %s failed", timer.kind, timer.object_id)
                    ctx.tx.clear_timer(timer.kind, timer.object_id)
        return len(timers)

    # deliveries ---------------------------------------------------------------

    def _owner(self) -> str:
        """Name this thread for delivery leases."""
        return f"{os.getpid()}:{threading.get_ident()}"

    def _deliver_next(self, *, due_only: bool) -> bool | None:
        """Claim and attempt one delivery; None when nothing could be claimed."""
        with self.store.write() as tx:
            claimed = tx.claim_deliveries(
                self._owner(), time.time(), due_only=due_only, shuffle=self.settings.chaos_shuffle
            )
        return self.deliverer.attempt(claimed[0]) if claimed else None

    def flush(self) -> int:
        """Deliver every pending delivery now, ignoring delay and backoff; return successes."""
        delivered = 0
        deadline = time.monotonic() + FLUSH_TIMEOUT
        while True:
            result = self._deliver_next(due_only=False)
            if result is not None:
                delivered += result
                continue
            with self.store.read() as tx:
                pending = tx.pending_delivery_count()
            if not pending or time.monotonic() > deadline:
                return delivered
            time.sleep(0.01)  # what is left is leased by another worker: wait for it

    def run_once(self) -> int:
        """Do one round of the worker's job: due timers, then due deliveries."""
        self.tick()
        attempted = 0
        while not self._stop.is_set() and self._deliver_next(due_only=True) is not None:
            attempted += 1
        return attempted

    def _loop(self) -> None:
        """Run the worker until stopped."""
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # keep delivering after a bad round; the error is logged
                log.exception("stripe sandbox worker round failed")
            self._wake.wait(POLL_SECONDS)
            self._wake.clear()

    def start_worker(self) -> None:
        """Start the background delivery thread (once per process)."""
        with self._lock:
            self._autostart = True
            alive = self._thread is not None and self._thread.is_alive()
            if alive and self._thread_pid == os.getpid():
                return
            self._stop.clear()
            self._thread_pid = os.getpid()
            self._thread = threading.Thread(
                target=self._loop, name="stripe-sandbox-worker", daemon=True
            )
            self._thread.start()

    def ensure_worker(self) -> None:
        """Start the worker lazily (first request in this process) when configured to."""
        if self._autostart and (
            self._thread is None or self._thread_pid != os.getpid() or not self._thread.is_alive()
        ):
            self.start_worker()

    def stop_worker(self, timeout: float = 10.0) -> None:
        """Stop the background thread and wait for it to finish its current attempt."""
        with self._lock:
            self._autostart = False
            self._stop.set()
            self._wake.set()
            thread, self._thread = self._thread, None
        if thread is not None and thread.is_alive():
            thread.join(timeout)

    @property
    def worker_running(self) -> bool:
        """Return whether this process's delivery thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def close(self) -> None:
        """Stop the worker and delete a temporary state file."""
        self.stop_worker()
        if self._tmpdir is not None:
            self._tmpdir()
