"""The multi-exit family (Merkel et al.): a softmax exit after each block; each input leaves at the
first good-enough exit."""

from ...core.family import Family
from . import calibrate, evaluate, report
from .manifest import MultiExitPart
from .runtime import MultiExitRuntime

FAMILY = Family("multi_exit", "multi-exit network (Merkel et al.)", MultiExitPart, MultiExitRuntime,
                evaluate.evaluate, report.format_report, report.plot, report.info_lines,
                calibrate.table_for)
