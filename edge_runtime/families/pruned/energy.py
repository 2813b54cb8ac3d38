"""The pruned family's operating points for profiling (AP's route, MP's route, the original network) and
their measured joules as the costs of the two routes."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ...core.decision import Decision
from ...energy.record import EnergyProfile
from ...errors import EdgeRuntimeError
from .runtime import AP, MP, PrunedRuntime


def energy_points(runtime: PrunedRuntime) -> dict[str, Callable[[np.ndarray], Any]]:
    ap, mp = runtime.fixed_plan(AP), runtime.fixed_plan(MP)
    return {"ap": lambda image: runtime.classify(image, ap), "mp": lambda image: runtime.classify(image, mp),
            "monolithic": runtime.classify_monolithic}


def route_costs(runtime: PrunedRuntime, profile: EnergyProfile) -> tuple[float, float]:
    ap, mp = profile.joules("ap"), profile.joules("mp")
    if ap is None or mp is None:
        raise EdgeRuntimeError(f"{profile.bundle}: ENERGY.json has no joules for the {'AP' if ap is None else 'MP'} "
                               "route: profile again with the monitor reporting throughout")
    return ap, mp


def decision_joules(runtime: PrunedRuntime, profile: EnergyProfile) -> Callable[[Decision], float]:
    ap, mp = route_costs(runtime, profile)
    return lambda d: mp if d.answered_by == "mp" else ap
