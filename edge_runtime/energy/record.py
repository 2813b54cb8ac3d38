"""ENERGY.json: what each operating point of one bundle costs on one board, in joules per inference above
idle, as measured with a power monitor. Read and written through :mod:`edge_runtime.schema`."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from typing import Literal

from ..core.atomic import write_json
from ..core.bundle import Bundle, sha256_of
from ..core.manifest import MANIFEST
from ..errors import SchemaError
from ..schema import Reader, dump, spec

FORMAT = "edge-adaptive-energy"
VERSION = 1


class EnergyError(SchemaError):
    """An ENERGY.json that cannot be read, or that belongs to another bundle."""


@dataclass(frozen=True)
class PointEnergy:
    """One operating point's measurement.

    Attributes:
        joules: energy per inference above idle, J (None when the monitor gave nothing to measure it by).
        spread_j: standard deviation over the bursts, J.
        latency_us: mean wall time per inference during the bursts, µs.
        inferences: inferences run in the bursts used.
        bursts: bursts used; samples: monitor samples inside them.
        missing: why ``joules`` is None.
    """

    latency_us: float
    inferences: int
    bursts: int
    samples: int
    joules: float | None = None
    spread_j: float | None = None
    missing: str | None = None


@dataclass(frozen=True)
class EnergyProfile:
    """A bundle profiled on a board: idle power, the monitor's delay and period, each point's energy."""

    format: Literal["edge-adaptive-energy"]
    version: int = spec(f"version {VERSION}", check=lambda v: v == VERSION)
    bundle_sha256: str = spec("the sha256 of the bundle's manifest.json")
    bundle: str = spec()
    family: str = spec()
    monitor: str = spec("PROFILE@URL")
    idle_w: float = spec("watts ≥ 0", check=lambda v: v >= 0)
    idle_spread_w: float = spec()
    delay_s: float = spec("seconds ≥ 0", check=lambda v: v >= 0)
    sample_period_s: float = spec("seconds > 0", check=lambda v: v > 0)
    points: dict[str, PointEnergy] = spec()
    board: str = spec(default="")
    created: str = spec(default="")

    def joules(self, name: str) -> float | None:
        point = self.points.get(name)
        return None if point is None else point.joules


def why_unordered(points: dict[str, PointEnergy]) -> str | None:
    """Why these measurements cannot rank the operating points, or None when they can.

    They can when the dearest point's joules exceed the cheapest's by more than two standard errors of the
    two (each point's spread over its bursts) and lie above idle by more than two of its own: a monitor whose
    power does not follow the work (a constant load, the wrong supply, a rate too slow for the bursts)
    measures every point at about 0 J, and an α table fitted on that runs every input to the last exit.
    """
    measured = {name: p for name, p in points.items() if p.joules is not None}
    if len(measured) < 2:
        return f"only {len(measured)} of {len(points)} operating points were measured"

    def error(p: PointEnergy) -> float:
        return (p.spread_j or 0.0) / math.sqrt(max(p.bursts, 1))

    dearest = max(measured.values(), key=lambda p: p.joules or 0.0)
    cheapest = min(measured.values(), key=lambda p: p.joules or 0.0)
    assert dearest.joules is not None and cheapest.joules is not None
    span = dearest.joules - cheapest.joules
    if dearest.joules <= 2 * error(dearest):
        return (f"no power above idle: the dearest point measured {dearest.joules * 1e3:.4f} mJ per inference "
                f"(± {error(dearest) * 1e3:.4f})")
    if span <= 2 * math.hypot(error(dearest), error(cheapest)):
        return (f"the points are not told apart: {cheapest.joules * 1e3:.4f} to {dearest.joules * 1e3:.4f} mJ per "
                f"inference, within the measurement's noise (± {math.hypot(error(dearest), error(cheapest)) * 1e3:.4f})")
    return None


def bundle_identity(bundle_path: str) -> str:
    """The sha256 of a bundle's manifest (which holds every model file's sha256)."""
    return sha256_of(os.path.join(bundle_path, MANIFEST))


def write_energy(path: str, profile: EnergyProfile) -> None:
    """Write ``profile`` through a temporary file and a rename."""
    write_json(path, dump(profile))


def read_energy(path: str, bundle: Bundle | None = None) -> EnergyProfile:
    """Read ENERGY.json, checked to belong to ``bundle`` when given.

    Raises:
        EnergyError: unreadable, another format or version, or another bundle's.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            raw = json.load(handle)
    except OSError as exc:
        raise EnergyError(path, f"cannot read: {exc.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EnergyError(path, f"is not valid JSON ({exc})") from None
    profile = Reader(path, EnergyError).read(EnergyProfile, raw)
    if bundle is not None:
        identity = bundle_identity(bundle.path)
        if profile.bundle_sha256 != identity:
            raise EnergyError(path, f"was measured on another bundle ({profile.bundle}, manifest sha256 "
                              f"{profile.bundle_sha256[:12]}…), not {bundle.path} ({identity[:12]}…): profile this "
                              "bundle with edge-runtime profile", "bundle_sha256")
    return profile
