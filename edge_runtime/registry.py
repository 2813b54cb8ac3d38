"""Which families there are: a manifest's ``family`` → its part, runtime, eval and report.

A fourth family is one folder under :mod:`edge_runtime.families` and one line here.
"""

from __future__ import annotations

import os
from typing import Any

from .core.backends import load_backend
from .core.bundle import Bundle, read_bundle, store_alpha_table
from .core.delegates import load_delegates
from .core.family import Family
from .families.gated.family import FAMILY as GATED
from .families.multi_exit.family import FAMILY as MULTI_EXIT
from .families.pruned.family import FAMILY as PRUNED
from .core.manifest import AlphaTable
from .schema import Reader

FAMILIES: dict[str, Family] = {family.name: family for family in (MULTI_EXIT, PRUNED, GATED)}


def family_of(reader: Reader, name: str) -> Family:
    """The family called ``name``, or an error naming the manifest's ``family`` field."""
    if name not in FAMILIES:
        raise reader.fail("family", f"expected one of {', '.join(FAMILIES)}, got {name!r}")
    return FAMILIES[name]


def load_bundle(folder: str | os.PathLike, verify_hashes: bool = True) -> Bundle:
    """Read and verify a bundle of any family (see :func:`edge_runtime.core.bundle.read_bundle`)."""
    return read_bundle(os.fspath(folder), lambda reader, name: family_of(reader, name).part, verify_hashes)


def open_runtime(bundle_path: str | os.PathLike, backend_name: str | None = None, num_threads: int = 1,
                 delegate_names: list[str] | None = None, **options: Any) -> Any:
    """Load and verify a bundle and create the runtime of its family (the usual entry point)."""
    bundle = load_bundle(bundle_path)
    backend = load_backend(backend_name)
    delegates = load_delegates(backend, delegate_names) if delegate_names else None
    return FAMILIES[bundle.family].runtime(bundle, backend, num_threads, delegates, **options)


def calibrate_bundle(folder: str | os.PathLike, images: list[Any], labels: Any, backend_name: str | None = None
                     ) -> AlphaTable:
    """Fit the bundle's α table on held-out ``images`` (int8 inputs) and store it in its manifest."""
    folder = os.fspath(folder)
    bundle = load_bundle(folder)
    family = FAMILIES[bundle.family]
    table = family.calibrate(family.runtime(bundle, load_backend(backend_name)), images, labels)
    store_alpha_table(folder, table)
    load_bundle(folder)  # it must load as a device will load it
    return table
