"""One folder per model family; each has its manifest part, runtime, evaluation, report and plot,
and a ``family.py`` that describes it to :mod:`edge_runtime.registry`."""
