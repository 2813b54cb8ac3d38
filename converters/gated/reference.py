"""What joint gate training did to the network every block runs: the bundle's reference.

EnergyNet trains the network and its gates together, so the ungated network in the bundle (what ``eval``, the
label-free audit and the battery demo's fixed model compare with) is not the network that went in. When the
gates learn to skip some blocks for every input, the layers after them adapt to the skip, and running every
block can then score well under both the network as given and the gated network: a MobileNetV3Small went
from 89.3% to 71.8% (held-out, float) while its gated network scored 93.3%. No TensorFlow here.
"""

from __future__ import annotations

MOVED_LIMIT = 0.01  # a share of the held-out images: said when the ungated network lost more than this


def reference_moved(before: float, after: float, gated: float, what: str, limit: float = MOVED_LIMIT) -> str | None:
    """A note when training the gates left the ungated network (``after``, float, held-out) more than ``limit``
    under ``what`` before it (``before``), with the gated network's ``gated`` beside them; None otherwise."""
    if before - after <= limit:
        return None
    return (f"note: training the gates moved {what}, run with every block, from {before:.1%} to {after:.1%} on the "
            f"held-out images (float; the gated network: {gated:.1%}); the bundle's ungated network, which the audit, "
            "eval and the battery demo's fixed model compare with, is this one. The gates skip blocks that the "
            "layers after them have learnt to do without; if you need the whole network as a reference, the "
            "multi-exit family keeps your network as given")
