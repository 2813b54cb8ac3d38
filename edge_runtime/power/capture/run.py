"""Running a capture: a monitor's reader thread queues, the caller's thread writes, Ctrl-C ends cleanly."""

from __future__ import annotations

import json
import queue
import signal
import sys
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator, TextIO

from ..profiles import MonitorProfile
from ..samples import Gap, Sample
from ..transports import Monitor
from .log import CaptureLog, Summary

_END = object()
_STOP = object()


def run_capture(profile: MonitorProfile, url: str, make_capture: Callable[[], CaptureLog], *,
                duration_s: float | None = None, records: int | None = None, baud: int | None = None,
                progress: Callable[[str], None] | None = None, flush_s: float = 0.5, sync_s: float = 5.0,
                progress_s: float = 2.0, backoff: tuple[float, float] = (0.1, 5.0),
                on_started: Callable[[], None] | None = None,
                until: Callable[[Summary], bool] | None = None) -> Summary:
    """Capture until ``duration_s`` passes, ``records`` records are written, the source ends (replays),
    ``until(summary)`` is true, or Ctrl-C; always close cleanly.

    The port is opened before ``make_capture`` creates any file, so a bad port leaves nothing
    behind. The monitor's reader thread only queues; every file write happens here, on the
    caller's thread, which also calls ``on_started`` once the port is open and read, and ``until``
    after each batch of events. A ``silent`` gap row marks a monitor that stops sending for 5
    expected periods. Ctrl-C and SIGTERM end the capture like the end of its duration, with
    ``summary.interrupted`` set (see :func:`signals_stop`; a KeyboardInterrupt that still comes, as
    when called off the main thread, is caught too).
    """
    events: queue.SimpleQueue = queue.SimpleQueue()
    monitor = Monitor(profile, url, lambda ev: events.put(("ev", ev)),
                      on_raw=lambda d, tm, tw: events.put(("raw", d, tm, tw)),
                      on_end=lambda: events.put((_END,)), baud=baud, backoff=backoff)
    monitor.open()
    try:
        capture = make_capture()
    except BaseException:
        monitor.stop()
        raise
    # from here on Ctrl-C and SIGTERM only queue a stop, which the loop takes in turn (a second one too, while
    # the last rows are written); until here they abort, and nothing has been written
    with signals_stop(lambda: events.put((_STOP,))):
        if progress:
            progress(f"capturing {profile.name} from {monitor.url} to {capture.path}"
                     + (f" for {duration_s:g} s" if duration_s else "")
                     + (f" until {records} records" if records else "")
                     + ("" if duration_s or records else " until Ctrl-C"))
        finished = False
        try:
            monitor.start()
            if on_started is not None:
                on_started()
            finished = _pump(events, capture, max(5 * profile.transport.period_s, 2.0), duration_s=duration_s,
                             records=records, progress=progress, flush_s=flush_s, sync_s=sync_s,
                             progress_s=progress_s, until=until)
        except KeyboardInterrupt:
            capture.summary.interrupted = True
        finally:
            _drain_and_close(events, monitor, capture, finished)
    return capture.summary


def _pump(events: queue.SimpleQueue, capture: CaptureLog, silent_after: float, *, duration_s: float | None,
          records: int | None, progress: Callable[[str], None] | None, flush_s: float, sync_s: float,
          progress_s: float, until: Callable[[Summary], bool] | None) -> bool:
    """Write what the monitor queues until a reason to stop (see :func:`run_capture`); True when the source
    ended."""
    start = time.monotonic()
    next_flush, next_sync, next_progress = start + flush_s, start + sync_s, start + progress_s
    last_record = start
    silent = finished = False
    while True:
        now = time.monotonic()
        deadline = min(next_flush, start + duration_s if duration_s else next_flush)
        try:
            item = events.get(timeout=max(0.0, deadline - now))
        except queue.Empty:
            item = None
        while item is not None:
            if item[0] is _END:
                finished = True
            elif item[0] is _STOP:
                capture.summary.interrupted = True
            elif item[0] == "ev":
                if any(isinstance(e, Sample) for e in item[1]):
                    last_record = time.monotonic()
                    silent = False
                capture.add(item[1])
            else:
                capture.add_raw(*item[1:])
            try:
                item = events.get_nowait()
            except queue.Empty:
                item = None
        now = time.monotonic()
        if not silent and now - last_record > silent_after:
            silent = True
            capture.add([Gap(now, time.time(), "silent", f"no record for {now - last_record:.1f} s")])
        if now >= next_flush or finished:
            capture.flush()
            next_flush = now + flush_s
        if now >= next_sync:
            capture.sync()
            next_sync = now + sync_s
        if progress and now >= next_progress:
            s = capture.summary
            progress(f"{now - start:7.1f} s  {s.records} records  {sum(s.gaps.values())} gaps  {s.energy_j:.3f} J")
            next_progress = now + progress_s
        enough = records is not None and capture.summary.records >= records
        if (finished or enough or capture.summary.interrupted or (duration_s and now - start >= duration_s)
                or (until and until(capture.summary))):
            return finished


def _drain_and_close(events: queue.SimpleQueue, monitor: Monitor, capture: CaptureLog, finished: bool) -> None:
    """Stop the monitor, write everything it had queued (and a partial record the parser holds), close."""
    monitor.stop()
    while True:
        try:
            item = events.get_nowait()
        except queue.Empty:
            break
        if item[0] == "ev":
            capture.add(item[1])
        elif item[0] == "raw":
            capture.add_raw(*item[1:])
    if monitor.parser is not None and not finished:
        capture.add(monitor.parser.finish(time.monotonic(), time.time()))
    capture.summary.reconnects = max(capture.summary.reconnects, monitor.transport.reconnects)
    capture.close()


@contextmanager
def signals_stop(request_stop: Callable[[], None]) -> Iterator[None]:
    """While inside, Ctrl-C and SIGTERM call ``request_stop`` (it queues a message for the capture loop)
    instead of raising KeyboardInterrupt wherever the main thread happens to be: raised between counting
    a record and keeping its row, or while a batch is being written, it would lose what was received.

    Only on the main thread (elsewhere signals cannot be handled); a SIGINT the process was started
    ignoring (a background job of a script) stays ignored.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        request_stop()

    previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, handler)}
    if signal.getsignal(signal.SIGINT) != signal.SIG_IGN:
        previous[signal.SIGINT] = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def print_summary(summary: Summary, as_json: bool, out: TextIO | None = None) -> None:
    print(json.dumps(summary.as_dict()) if as_json else summary.text(), file=out or sys.stdout, flush=True)
