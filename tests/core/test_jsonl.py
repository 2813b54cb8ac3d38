"""JSON Lines records, to a file or to standard output."""

from __future__ import annotations

import logging
import os

from edge_runtime.core.jsonl import JsonLines


def test_standard_output_whose_reader_went_away_is_said_once(monkeypatch, caplog):
    """``serve --results - | head -2``: once head exits, every answer after it logged a BrokenPipeError of its own
    and counted as failed; now the closed output is said once, the answers go nowhere, and nothing raises."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first record
    stream = os.fdopen(write_end, "w")
    monkeypatch.setattr("sys.stdout", stream)
    records = JsonLines("-")
    with caplog.at_level(logging.WARNING, logger="edge_runtime.core.jsonl"):
        for i in range(3):
            records.append({"answer": i})
    assert records.written == 0
    assert [r.getMessage() for r in caplog.records] == [
        "--results -: standard output was closed; answers are no longer written"]
    stream.close()  # flushes into /dev/null now: nothing raises
