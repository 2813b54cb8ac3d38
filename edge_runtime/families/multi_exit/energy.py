"""The multi-exit family's operating points for profiling, and measured joules turned into costs.

Profiled: each exit at fixed depth (one invocation each), the chain through every exit (one invocation
per exit), and the monolithic model. From them a per-bundle model J = c0 + c_mac·MACs + c_inv·invocations
is fitted by least squares, so any plan (any set of active exits) is costed: each stage segment costs
c_inv + c_mac·MACs, and c0 is the same for every input (it shifts no threshold).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ...core.decision import Decision
from ...energy.record import EnergyProfile
from ...errors import EdgeRuntimeError
from .runtime import MultiExitRuntime


def energy_points(runtime: MultiExitRuntime) -> dict[str, Callable[[np.ndarray], Any]]:
    points: dict[str, Callable[[np.ndarray], Any]] = {}
    for index, ex in enumerate(runtime.exits):
        plan = runtime.fixed_plan(index)
        points[ex.name] = lambda image, plan=plan: runtime.classify(image, plan)
    every = runtime.every_exit_plan()
    points["every_exit"] = lambda image: runtime.classify(image, every)
    points["monolithic"] = runtime.classify_monolithic
    return points


def fit_model(runtime: MultiExitRuntime, profile: EnergyProfile) -> dict[str, float]:
    """(c0, c_mac, c_inv) in joules from the profiled points (least squares, non-negative slopes)."""
    rows, values = [], []
    for index, ex in enumerate(runtime.exits):
        joules = profile.joules(ex.name)
        if joules is not None:
            rows.append([1.0, float(ex.macs), 1.0])
            values.append(joules)
    every = runtime.every_exit_plan()
    if profile.joules("every_exit") is not None:
        rows.append([1.0, float(every.steps[-1].macs), float(every.invocations)])
        values.append(profile.joules("every_exit"))
    if len(rows) < 3:
        raise EdgeRuntimeError(f"{profile.bundle}: ENERGY.json has joules for only {len(rows)} of the exits and the "
                               "chain: profile again with the monitor reporting throughout")
    solution, *_ = np.linalg.lstsq(np.array(rows), np.array(values), rcond=None)
    c0, c_mac, c_inv = (float(v) for v in solution)
    if c_mac < 0 or c_inv < 0:  # noise: keep the slope that explains the data, drop the other
        c_mac, c_inv = max(c_mac, 0.0), max(c_inv, 0.0)
        c0 = float(np.mean(np.array(values) - np.array(rows)[:, 1] * c_mac - np.array(rows)[:, 2] * c_inv))
    return {"c0": c0, "c_mac": c_mac, "c_inv": c_inv}


def segment_costs(runtime: MultiExitRuntime, profile: EnergyProfile) -> dict[str, float]:
    """Each segment's joules under the fitted model (what the α table is fitted on)."""
    model = fit_model(runtime, profile)
    return {name: model["c_inv"] + model["c_mac"] * seg.macs for name, seg in runtime.bundle.segments.items()}


def decision_joules(runtime: MultiExitRuntime, profile: EnergyProfile) -> Callable[[Decision], float]:
    """Decision → estimated joules above idle (the fitted model), for eval's energy saving."""
    model = fit_model(runtime, profile)
    return lambda d: model["c0"] + model["c_mac"] * d.macs + model["c_inv"] * len(d.ran)
