"""The test helpers' child process (tests/waiting.py)."""

from __future__ import annotations

import signal

from tests.waiting import Child


def test_a_child_stops_on_ctrl_c_even_when_the_runner_ignores_it():
    """A runner started in the background by a script ignores SIGINT; its children used to inherit that and
    never stop on the tests' Ctrl-C (and finish() then waited forever)."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        child = Child("timeit", "-n", "1", "import threading; threading.Event().wait()")  # waits for good
    finally:
        signal.signal(signal.SIGINT, previous)
    child.process.send_signal(signal.SIGINT)
    code, _ = child.finish()
    assert code != 0  # interrupted: nothing else ends it
