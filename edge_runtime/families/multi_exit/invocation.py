"""What one more invocation of the chain costs, in the network's own MACs, timed on this machine.

An exit that is on costs every input that reaches it its head *and* one more invocation: a joint's copy,
the interpreter's call, the confidence read. MACs count only the head. On the digits demo bundle one
invocation takes as long as 9% of the whole network, on a 96-pixel MobileNetV2 2%, so a table fitted on
MACs alone kept exits on that answered 0.3% of the inputs and cost every input more time than they saved
(DESIGN: merge segments where an exit rarely fires). The α table charges each invocation this many MACs
while it chooses thresholds; its rows still state plain MACs.

The figure is timed where the table is fitted (at conversion, and again by ``edge-runtime calibrate`` on
the board, which is the figure that matters): the whole network in one invocation against the chain
through every exit, interleaved in rounds, medians, on an all-zero input (int8 inference does the same
work whatever the pixels). Runs on the calling thread; it uses the runtime's interpreters, so nothing
else may classify with this runtime meanwhile.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...core.timing import timed_pass
from .runtime import ExitPlan, MultiExitRuntime

ROUNDS = 7
BUDGET_S = 0.4  # the whole measurement, on top of one warm-up pass of each plan
MIN_CALLS, MAX_CALLS = 3, 40


def _mean_us(runtime: MultiExitRuntime, plan: ExitPlan, image: np.ndarray, calls: int) -> float:
    return timed_pass(lambda x: runtime.classify(x, plan), [image] * calls)[1]


def invocation_timing(runtime: MultiExitRuntime) -> dict[str, Any] | None:
    """The whole network in one invocation and the chain through every exit, timed (µs per input, medians of
    :data:`ROUNDS` interleaved rounds), with their MACs and invocations; None for a bundle with one exit."""
    one, every = runtime.deepest_plan(), runtime.every_exit_plan()
    if every.invocations <= one.invocations:
        return None
    image = np.zeros(runtime.bundle.input.image_shape, np.int8)
    for plan in (one, every):
        _mean_us(runtime, plan, image, 2)  # warm the interpreters and caches
    first = _mean_us(runtime, every, image, 1)
    calls = int(np.clip(BUDGET_S * 1e6 / (2 * ROUNDS * max(first, 1.0)), MIN_CALLS, MAX_CALLS))
    ones, everys = [], []
    for _ in range(ROUNDS):
        ones.append(_mean_us(runtime, one, image, calls))
        everys.append(_mean_us(runtime, every, image, calls))
    # rounded here, so that a table fitted again from the stored figures is the same table
    return {"one_us": round(float(np.median(ones)), 2), "every_us": round(float(np.median(everys)), 2),
            "one_macs": int(one.steps[-1].macs), "every_macs": int(every.steps[-1].macs),
            "extra_invocations": every.invocations - one.invocations}


def invocation_macs(timing: dict[str, Any] | None) -> float:
    """MACs one more invocation is worth: the chain's extra time over the whole network's, in the whole
    network's MACs per µs, less the heads' own MACs, shared over the extra invocations (never below 0)."""
    if timing is None or timing["one_us"] <= 0:
        return 0.0
    extra_us = timing["every_us"] - timing["one_us"]
    extra_macs = extra_us * timing["one_macs"] / timing["one_us"] - (timing["every_macs"] - timing["one_macs"])
    return max(0.0, extra_macs / timing["extra_invocations"])
