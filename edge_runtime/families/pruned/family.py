"""The pruned family (Maleki et al.): a mildly and an aggressively pruned copy and an input classifier."""

from ...core.family import Family
from . import calibrate, energy, evaluate, report
from .manifest import PrunedPart
from .runtime import PrunedRuntime

FAMILY = Family("pruned", "pruned pair and input classifier (Maleki et al.)", PrunedPart, PrunedRuntime,
                evaluate.evaluate, report.format_report, report.plot, report.info_lines,
                calibrate.outcomes_for, calibrate.table_from, energy.energy_points, energy.route_costs,
                energy.decision_joules)
