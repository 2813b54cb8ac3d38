"""Measured energy: a bundle's operating points profiled on the board with its power monitor
(:mod:`.profiler`), written as ENERGY.json (:mod:`.record`) and used as the α table's cost."""
