"""Which families there are: a manifest's ``family`` → its part, runtime, eval and report.

A fourth family is one folder under :mod:`edge_runtime.families` and one line here.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from .core.backends import load_backend
from .core.bundle import Bundle, load_outcomes, read_bundle, store_calibration
from .core.delegates import check_delegate_names
from .core.family import Family
from .core.floor import parse_floor
from .core.manifest import AlphaTable
from .errors import EdgeRuntimeError
from .schema import Reader


class _Families(Mapping[str, Family]):
    """Manifest ``family`` value → :class:`Family`, each family's modules imported when it is first asked for
    (a board running one multi-exit bundle never pays for the other two families' imports)."""

    _MODULES = {"multi_exit": "multi_exit", "pruned": "pruned", "gated": "gated"}

    def __getitem__(self, name: str) -> Family:
        if name not in self._MODULES:
            raise KeyError(name)
        return importlib.import_module(f"{__package__}.families.{self._MODULES[name]}.family").FAMILY

    def __iter__(self) -> Iterator[str]:
        return iter(self._MODULES)

    def __len__(self) -> int:
        return len(self._MODULES)


FAMILIES: Mapping[str, Family] = _Families()


def family_of(reader: Reader, name: str) -> Family:
    """The family called ``name``, or an error naming the manifest's ``family`` field."""
    if name not in FAMILIES:
        raise reader.fail("family", f"expected one of {', '.join(FAMILIES)}, got {name!r}")
    return FAMILIES[name]


def load_bundle(folder: str | os.PathLike, verify_hashes: bool = True) -> Bundle:
    """Read and verify a bundle of any family (see :func:`edge_runtime.core.bundle.read_bundle`)."""
    return read_bundle(os.fspath(folder), lambda reader, name: family_of(reader, name).part, verify_hashes)


def open_runtime(bundle_path: str | os.PathLike, backend_name: str | None = None, num_threads: int = 1,
                 delegate_names: list[str] | None = None, energy: str | None = None, edgetpu_device: str | None = None,
                 floor: str | None = None, **options: Any) -> Any:
    """Load and verify a bundle and create the runtime of its family (the usual entry point).

    Args:
        delegate_names: ``["edgetpu"]`` runs the bundle's Edge TPU build through the delegate (see
            :mod:`edge_runtime.core.edgetpu`); when that cannot be, the CPU segments run and
            ``runtime.placement_note`` says why.
        edgetpu_device: ``usb``, ``pci``, ``usb:0``, ``:1``… (default: the first Edge TPU found).
        floor: the accuracy floor α ends at (:mod:`edge_runtime.core.floor`; default: the bundle's).
        energy: an ENERGY.json of this bundle (``edge-runtime profile``): the α table is fitted again on
            the measured joules (from the held-out outcomes kept with the bundle), and ``runtime.energy`` set.
    """
    bundle = load_bundle(bundle_path)
    backend = load_backend(backend_name)
    delegates: Any = None
    note = None
    if delegate_names:
        check_delegate_names(delegate_names)  # edgetpu is the only one
        from .core.edgetpu import place_on_edgetpu  # subprocess and signal handling only when a TPU is asked for

        # the bundle's compiled segments on the TPU (probed in a child first), or the CPU with a note
        delegates, note = place_on_edgetpu(bundle, backend, edgetpu_device)
    family = FAMILIES[bundle.family]
    runtime = family.runtime(bundle, backend, num_threads, delegates, **options)
    runtime.placement_note = note
    if floor is not None and runtime.alpha_plans is not None:
        runtime.alpha_plans.set_floor(parse_floor(floor))
    runtime.energy = None
    runtime.energy_note = None
    if energy is not None:
        if options.get("rule", "frontier") != "frontier":
            raise EdgeRuntimeError(f"--energy {energy}: measured joules shape the α table; --rule "
                                   f"{options['rule']} does not use one")
        from .energy.record import read_energy, why_unordered

        profile = read_energy(energy, bundle)
        unordered = why_unordered(profile.points)
        if unordered is not None:  # an α table fitted on it would run every input to the last exit
            runtime.energy_note = (f"{energy}: {unordered}, so it cannot order the operating points: keeping the "
                                   "bundle's MAC table (profile again with a monitor whose power follows the work)")
            return runtime
        outcomes = load_outcomes(bundle)
        if outcomes is None:
            raise EdgeRuntimeError(f"{bundle.path} keeps no held-out outcomes to fit its α table on joules: run "
                                   "'edge-runtime calibrate BUNDLE --dataset D' once (it adds them)")
        table = family.fit_table(runtime, outcomes, family.energy_costs(runtime, profile))
        runtime.use_alpha_table(with_agreement(runtime, table, None, outcomes))
        runtime.energy = profile
    return runtime


AGREEMENT_IMAGES = 500


def with_agreement(runtime: Any, table: AlphaTable, images: list[Any] | None,
                   outcomes: dict[str, Any] | None = None) -> AlphaTable:
    """``table`` with each row's held-out agreement with the monolithic network (the promise a board can audit
    without labels). Replayed from the held-out ``outcomes`` on every held-out input where the family can;
    otherwise every row's plan is run on ``images`` (at most :data:`AGREEMENT_IMAGES`, evenly spread: a
    table has dozens of rows, and on a big network each pass over the held-out split takes seconds), or the
    table is returned as it is when there are none."""
    family = FAMILIES[runtime.bundle.family]
    replayed = (family.agreements(runtime, table, outcomes)
                if family.agreements is not None and outcomes is not None else None)
    if replayed is None:
        if not images:
            return table
        replayed = _sampled_agreements(runtime, table, images)
    rows = tuple(dataclasses.replace(row, agreement=round(value, 6)) for row, value in zip(table.points, replayed))
    return dataclasses.replace(table, points=rows)


def _sampled_agreements(runtime: Any, table: AlphaTable, images: list[Any]) -> list[float]:
    if len(images) > AGREEMENT_IMAGES:
        images = [images[i] for i in np.linspace(0, len(images) - 1, AGREEMENT_IMAGES).astype(int)]
    reference = np.array([runtime.classify_monolithic(image) for image in images])
    result = []
    for row in table.points:
        plan = runtime.plan_for_setting(row.setting)
        answers = np.array([runtime.classify(image, plan).label for image in images])
        result.append(float(np.mean(answers == reference)))
    return result


def check_invocation_cost(bundle: Bundle, invocation_cost: float | None) -> None:
    """Refuse an invocation cost for a bundle whose table does not choose exits (every family but multi-exit)."""
    if invocation_cost is not None and bundle.family != "multi_exit":
        raise EdgeRuntimeError(f"--invocation-cost {invocation_cost:g}: only a multi-exit bundle chooses which exits to "
                               f"invoke; {bundle.path} is {bundle.family.replace('_', '-')}")


def calibrate_bundle(folder: str | os.PathLike, images: list[Any], labels: Any, backend_name: str | None = None,
                     invocation_cost: float | None = None) -> AlphaTable:
    """Fit the bundle's α table on held-out ``images`` (int8 inputs) and store it in its manifest.

    ``invocation_cost``: multi-exit only, the MACs one more invocation is charged (default: timed here)."""
    folder = os.fspath(folder)
    bundle = load_bundle(folder)
    check_invocation_cost(bundle, invocation_cost)
    family = FAMILIES[bundle.family]
    runtime = family.runtime(bundle, load_backend(backend_name))
    outcomes = family.outcomes(runtime, images, labels)
    fitted = (family.fit_table(runtime, outcomes) if invocation_cost is None else
              family.fit_table(runtime, outcomes, invocation_cost=invocation_cost))
    table = with_agreement(runtime, fitted, images, outcomes)
    store_calibration(folder, table, outcomes)
    load_bundle(folder)  # it must load as a device will load it
    return table
