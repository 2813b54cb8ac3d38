"""How big an exit head may be: pooled to a grid, then one dense layer, within a share of the backbone's MACs.

No TensorFlow here: the command line reads these to describe heads before anything is trained.
"""

from __future__ import annotations

from math import prod

HEAD_GRIDS = (4, 2, 1)  # exit heads average-pool features to the finest of these grids their MAC budget allows
DEFAULT_HEAD_BUDGET = 0.03  # of the backbone's MACs, per exit head


def pool_size(side: int, grid: int) -> int:
    """The pooling window (pixels) along a side of ``side`` pixels that leaves at most ``grid`` positions."""
    return max(1, -(-side // grid))


def pooled_positions(shape: tuple[int, ...], grid: int) -> tuple[int, int]:
    """Rows and columns a head keeps of an H×W×C map pooled to at most ``grid``×``grid`` ("same" padding:
    a 6×6 map pooled for 4×4 keeps 3×3, a 2×2 map keeps 2×2)."""
    return tuple(-(-side // pool_size(side, grid)) for side in shape[:2])  # type: ignore[return-value]


def head_macs(shape: tuple[int, ...], num_classes: int, grid: int) -> int:
    """MACs of an exit head on features of ``shape`` (no batch axis) pooled to at most ``grid``×``grid``
    positions, then a dense layer to ``num_classes``."""
    if len(shape) == 3:
        rows, cols = pooled_positions(shape, grid)
        features = rows * cols * shape[2]
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
    """``4×4 pooling + dense, 1,280 MACs (0.03%)``: a head and its cost beside the network's, naming the
    positions it actually keeps (a map already at or under the grid is not pooled)."""
    if len(shape) != 3:
        pool = "dense"
    else:
        rows, cols = pooled_positions(shape, grid)
        if (rows, cols) == tuple(shape[:2]):
            pool = "dense" if rows * cols == 1 else f"dense on all {rows}×{cols} positions"
        else:
            pool = "global pooling + dense" if rows * cols == 1 else f"{rows}×{cols} pooling + dense"
    macs = head_macs(shape, num_classes, grid)
    return f"{pool}, {macs:,d} MACs ({macs / max(total_macs, 1):.2%})"
