"""The pruned family's part of the manifest: which segment is the shared trunk, each head and MP,
the α table, and the converter's figures (Maleki et al.'s Table 2 and the φ_AP sweep)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from ...core.manifest import ManifestHeader, require_segment, require_tensor
from ...schema import Reader, spec

NEVER = 128  # an int8 HCI threshold no code reaches: never send an input to MP


class AlphaRow(NamedTuple):
    """One calibrated operating point: α → the ICNN's HCI threshold (int8 code; 128 = never HCI), with
    the held-out HCI fraction and accuracy it gave."""

    alpha: float
    threshold_q: int
    hci_fraction: float
    accuracy: float


@dataclass(frozen=True)
class PrunedAlphaTable:
    """Columns of the α table written at conversion (α ascending in [0, 1])."""

    alpha: tuple[float, ...]
    threshold_q: tuple[int, ...]
    hci_fraction: tuple[float, ...]
    accuracy: tuple[float, ...]
    mean_macs: tuple[float, ...] = ()

    def validate(self, reader: Reader, where: str) -> None:
        columns = (self.alpha, self.threshold_q, self.hci_fraction, self.accuracy)
        if len({len(c) for c in columns}) != 1 or not self.alpha:
            raise reader.fail(where, "expected equally long, non-empty lists alpha, threshold_q, hci_fraction, "
                              "accuracy")
        if any(not 0 <= a <= 1 for a in self.alpha) or list(self.alpha) != sorted(self.alpha):
            raise reader.fail(f"{where}.alpha", "expected ascending values in [0, 1]")
        if any(not -128 <= q <= NEVER for q in self.threshold_q):
            raise reader.fail(f"{where}.threshold_q", "expected int8 codes in [-128, 128] (128: never HCI)")

    @property
    def rows(self) -> tuple[AlphaRow, ...]:
        return tuple(AlphaRow(*row) for row in zip(self.alpha, self.threshold_q, self.hci_fraction, self.accuracy))


@dataclass(frozen=True)
class PrunedSpec:
    """Segment roles (``selector`` is the trunk with both heads fused, when the bundle has it)."""

    trunk: str
    ap_head: str
    icnn_head: str
    mp: str
    alpha_table: PrunedAlphaTable
    selector: str | None = None
    figures: dict[str, Any] = spec(rest=True, default_factory=dict)


@dataclass(frozen=True)
class PrunedPart:
    """The keys a pruned manifest adds to the header."""

    pruned: PrunedSpec
    calibration: dict[str, Any] = spec(default_factory=dict)

    def check(self, reader: Reader, header: ManifestHeader) -> None:
        """image → trunk → (ICNN head, AP head); image → MP; the fused selector reads the image too."""
        spec_ = self.pruned
        segments = header.segments
        image = header.input.image_shape
        n_labels = len(header.labels)
        roles = {role: require_segment(reader, segments, getattr(spec_, role), f"pruned.{role}")
                 for role in ("trunk", "ap_head", "icnn_head", "mp")}
        for role in ("trunk", "mp"):
            require_tensor(reader, roles[role], "inputs", "x", image, "the image")
        features = require_tensor(reader, roles["trunk"], "outputs", "features").shape
        for role in ("ap_head", "icnn_head"):
            require_tensor(reader, roles[role], "inputs", "x", features, "the trunk's features")
        for role in ("ap_head", "mp"):
            require_tensor(reader, roles[role], "outputs", "probs", (1, n_labels), "one per label")
        require_tensor(reader, roles["icnn_head"], "outputs", "probs", (1, 2), "")
        if spec_.selector is not None:
            selector = require_segment(reader, segments, spec_.selector, "pruned.selector")
            outputs = selector.outputs
            if set(outputs) != {"hci", "probs", "confidence"} or outputs["hci"].shape != (1, 2) \
                    or outputs["probs"].shape != (1, n_labels):
                raise reader.fail(f"segments.{selector.name}.outputs", f"expected hci [1, 2], probs [1, {n_labels}] "
                                  "and confidence")
            require_tensor(reader, selector, "inputs", "x", image, "the image")
