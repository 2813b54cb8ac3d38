"""The α sweep's delivered agreement: each plan's answers against the monolithic network's, image by image."""

from __future__ import annotations

import numpy as np

from edge_runtime.core.decision import Decision
from edge_runtime.core.sweep import sweep
from edge_runtime.core.timing import MonolithicPasses


def test_each_row_counts_the_answers_that_are_the_networks_own():
    images = [np.full((2, 2), i, dtype=np.uint8) for i in range(8)]
    labels = np.array([0, 1, 2, 3, 4, 5, 6, 7])
    network = {i: (i * 3) % 5 for i in range(8)}  # the network's answers, right or wrong

    def classify(image, plan):
        i = int(image[0, 0])
        answer = network[i] if i >= plan else (network[i] + 1) % 5  # plan k: the first k images answered otherwise
        return Decision(answer, 1.0, "exit", ("exit",), 10)

    mono = MonolithicPasses(lambda image: network[int(image[0, 0])], images, labels)
    rows = sweep(classify, [({"alpha": 0.0}, 0), ({"alpha": 0.5}, 2), ({"alpha": 1.0}, 6)], images, labels, mono)
    assert [r["agreement"] for r in rows] == [1.0, 0.75, 0.25]
    assert rows[0]["accuracy"] == float(np.mean([network[i] == i for i in range(8)]))


def test_the_printed_table_has_an_agrees_column():
    from edge_runtime.core.sweep import agreement_cell
    from edge_runtime.families.multi_exit.report import _rows

    row = {"alpha": 0.5, "expected_accuracy": 0.95, "accuracy": 0.94, "agreement": 0.963, "mean_macs": 1000.0,
           "mac_saving": 0.5, "mean_latency_us": 10.0, "latency_saving": 0.4, "exit_histogram": [1, 2]}
    header, line = _rows("frontier", [row])
    assert header.split()[:4] == ["alpha", "expected", "accuracy", "agrees"]
    assert line.split()[3] == "96.3%"
    assert agreement_cell({}) == "      -"  # rows from before agreement was measured
