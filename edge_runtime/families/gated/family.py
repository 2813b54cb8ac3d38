"""The gated family (EnergyNet, SkipNet): residual blocks behind recurrent gates."""

from ...core.family import Family
from . import calibrate, energy, evaluate, report
from .manifest import GatedPart
from .runtime import GatedRuntime

FAMILY = Family("gated", "gated residual network (EnergyNet)", GatedPart, GatedRuntime, evaluate.evaluate,
                report.format_report, report.plot, report.info_lines,
                calibrate.outcomes_for, calibrate.table_from, energy.energy_points, energy.block_costs,
                energy.decision_joules)
