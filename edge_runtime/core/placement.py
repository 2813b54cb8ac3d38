"""Where a runtime's segments run when some of them are on an accelerator (kept apart from
:mod:`edge_runtime.core.edgetpu` so a CPU runtime never imports the TPU probe)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Placement:
    """Where segments run: ``files`` maps a segment to its compiled file, run with ``delegates``."""

    delegates: list[Any]
    files: dict[str, str] = field(default_factory=dict)
    tensors: dict[str, dict[str, str]] = field(default_factory=dict)
