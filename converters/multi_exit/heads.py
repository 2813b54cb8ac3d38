"""How big an exit head may be: pooled to a grid, then one dense layer, within a share of the backbone's MACs.

No TensorFlow here: the command line reads these to describe heads before anything is trained.
"""

from __future__ import annotations

from math import prod

HEAD_GRIDS = (4, 2, 1)  # exit heads average-pool features to the finest of these grids their MAC budget allows
DEFAULT_HEAD_BUDGET = 0.03  # of the backbone's MACs, per exit head


def head_macs(shape: tuple[int, ...], num_classes: int, grid: int) -> int:
    """MACs of an exit head on features of ``shape`` (no batch axis) pooled to at most ``grid``×``grid``
    positions, then a dense layer to ``num_classes``."""
    if len(shape) == 3:
        features = min(grid, shape[0]) * min(grid, shape[1]) * shape[2]
    else:
        features = prod(shape)
    return features * num_classes


def head_grid(shape: tuple[int, ...], num_classes: int, budget_macs: float) -> int | None:
    """The finest pooling grid (:data:`HEAD_GRIDS`) whose head fits ``budget_macs``; None when none does."""
    for grid in HEAD_GRIDS:
        if head_macs(shape, num_classes, grid) <= budget_macs:
            return grid
    return None


def describe_head(shape: tuple[int, ...], num_classes: int, grid: int, total_macs: int) -> str:
    """``4×4 pooling + dense, 1,280 MACs (0.03%)``: a head and its cost beside the network's."""
    pool = "global pooling" if grid == 1 or len(shape) != 3 else f"{grid}×{grid} pooling"
    macs = head_macs(shape, num_classes, grid)
    return f"{pool} + dense, {macs:,d} MACs ({macs / max(total_macs, 1):.2%})"
