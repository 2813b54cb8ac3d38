"""The pruned family (Maleki et al.): a mildly and an aggressively pruned copy and an input classifier."""

from ...core.family import Family
from . import calibrate, evaluate, report
from .manifest import PrunedPart
from .runtime import PrunedRuntime

FAMILY = Family("pruned", "pruned pair and input classifier (Maleki et al.)", PrunedPart, PrunedRuntime,
                evaluate.evaluate, report.format_report, report.plot, report.info_lines,
                calibrate.table_for)
