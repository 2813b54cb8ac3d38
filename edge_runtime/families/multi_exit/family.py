"""The multi-exit family (Merkel et al.): a softmax exit after each block; each input leaves at the
first good-enough exit."""

from ...core.family import Family
from . import calibrate, energy, evaluate, report
from .manifest import MultiExitPart
from .runtime import MultiExitRuntime

FAMILY = Family("multi_exit", "multi-exit network (Merkel et al.)", MultiExitPart, MultiExitRuntime,
                evaluate.evaluate, report.format_report, report.plot, report.info_lines,
                calibrate.outcomes_for, calibrate.table_from, energy.energy_points, energy.segment_costs,
                energy.decision_joules, calibrate.agreements)
