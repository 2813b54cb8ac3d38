"""The gated family's operating points for profiling (every block skipped, each block alone, every block
through the chain, the ungated network) and their joules as per-block costs: a plan running blocks S
costs J(no block) + Σ_{k∈S} (J(only k) − J(no block)); every block is the ungated network's J."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ...core.decision import Decision
from ...energy.record import EnergyProfile
from ...errors import EdgeRuntimeError
from .runtime import GatedRuntime


def energy_points(runtime: GatedRuntime) -> dict[str, Callable[[np.ndarray], Any]]:
    none, every = runtime.no_block_plan(), runtime.every_block_plan()
    points: dict[str, Callable[[np.ndarray], Any]] = {"no_block": lambda image: runtime.classify_chain(image, none)}
    for index, name in enumerate(runtime.block_names):
        plan = runtime.only_block_plan(index)
        points[f"only_{name}"] = lambda image, plan=plan: runtime.classify_chain(image, plan)
    points["every_block_chain"] = lambda image: runtime.classify_chain(image, every)
    points["monolithic"] = runtime.classify_monolithic
    return points


def block_costs(runtime: GatedRuntime, profile: EnergyProfile) -> tuple[float, np.ndarray, float]:
    """(J with every block skipped, J each block adds, J of the ungated network)."""
    names = ["no_block", *[f"only_{b}" for b in runtime.block_names], "monolithic"]
    missing = [n for n in names if profile.joules(n) is None]
    if missing:
        raise EdgeRuntimeError(f"{profile.bundle}: ENERGY.json has no joules for {', '.join(missing)}: profile again "
                               "with the monitor reporting throughout")
    none = float(profile.joules("no_block"))
    added = np.array([float(profile.joules(f"only_{b}")) - none for b in runtime.block_names])
    return none, np.maximum(added, 0.0), float(profile.joules("monolithic"))


def decision_joules(runtime: GatedRuntime, profile: EnergyProfile) -> Callable[[Decision], float]:
    none, added, ungated = block_costs(runtime, profile)
    index = {name: i for i, name in enumerate(runtime.block_names)}
    every = len(runtime.block_names)

    def joules(d: Decision) -> float:
        if len(d.ran) == every and d.macs == runtime.bundle.full_macs:
            return ungated
        return none + float(sum(added[index[b]] for b in d.ran))

    return joules
