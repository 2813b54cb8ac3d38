"""What the converter says about a finished bundle's α table."""

from __future__ import annotations

import pytest

from converters.common.bundle_writer import dearer_than_the_network
from edge_runtime.core.manifest import AlphaTable, OperatingPoint


def table(dear_cost: float, dear_accuracy: float, unit: str = "macs") -> AlphaTable:
    return AlphaTable(unit, 1000, (OperatingPoint(0.0, dear_cost, dear_accuracy, dear_accuracy, {}),
                                   OperatingPoint(1.0, 500.0, 0.80, 0.80, {})))


@pytest.mark.parametrize("dear_cost, dear_accuracy, network, unit, warned", [
    (1005.0, 0.8605, 0.878, "macs", True),  # the pruned MobileNetV3Small: dearer and less accurate at α = 0
    (1005.0, 0.8800, 0.878, "macs", False),  # dearer but more accurate: the user pays for accuracy
    (900.0, 0.8605, 0.878, "macs", False),  # cheaper: a trade the user can choose
    (1005.0, 0.8605, None, "macs", False),  # no int8 figure for the network
    (1005.0, 0.8605, 0.878, "joules", False),  # joules are not the network's MACs
])
def test_a_bundle_dearer_and_less_accurate_than_the_network_at_alpha_0_is_said(dear_cost, dear_accuracy, network,
                                                                                 unit, warned):
    text = dearer_than_the_network(table(dear_cost, dear_accuracy, unit), 1000.0, network)
    assert (text is not None) == warned
    if warned:
        assert text.startswith("warning: at α = 0") and "100.5%" in text and "87.80%" in text
