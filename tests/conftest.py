"""Shared fixtures: tiny bundles of each family trained on digits, built once per session.

Any test that uses one of them, or lives under ``tests/converters``, is marked ``slow``
automatically: ``pytest -m "not slow"`` trains and converts nothing.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Tests must pass with both cores busy: no timing limits in property tests either (Hypothesis's
# deadline and its slow-generation check fail a loaded machine, not the code).
settings.register_profile("edge", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("edge")

# Training seed of the session bundles. Other seeds train other tiny models: running the suite
# with EDGE_TEST_SEED=1, 2, … finds tests that only pass for one lucky model.
TRAINING_SEED = os.environ.get("EDGE_TEST_SEED", "0")


TRAINED = {"digits_bundle", "bundle_copy", "runtime", "test_images", "pruned_bundle", "gated_bundle", "tpu_bundle"}
CONVERTERS = Path(__file__).parent / "converters"


def pytest_collection_modifyitems(config, items):
    for item in items:
        if TRAINED & set(item.fixturenames) or CONVERTERS in Path(item.fspath).parents:
            item.add_marker(pytest.mark.slow)


# What one more invocation of the fixture's 306,688-MAC network took here, in its MACs (99,000–122,000 timed on
# an AMD EPYC); fixed so that every session fits the same α table (the default times it, and timing varies).
FIXTURE_INVOCATION_COST = "100000"


def _convert_digits(tmp_path_factory, family: str, *options: str) -> str:
    """Train and convert a tiny ``family`` bundle on digits with ``edge-convert``; return its folder.

    Built once per run, not once per worker: with ``-n 2`` both workers need the multi-exit bundle and often
    the others, and each conversion takes 20–65 s. The first worker to ask builds it under a lock in the run's
    shared temporary folder; the other waits and reads the same folder (the bundles are read-only)."""
    import fcntl

    from converters.cli.main import main

    base = tmp_path_factory.getbasetemp()
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "shared-bundles"
    shared.mkdir(exist_ok=True)
    out = shared / family
    with open(shared / f"{family}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if this worker fails
        if not out.exists():
            building = tmp_path_factory.mktemp("bundles") / family
            code = main([family, "--dataset", "digits", "--out", str(building), *options, "--quiet",
                         "--seed", TRAINING_SEED])
            assert code == 0
            shutil.move(str(building), str(out))
    return str(out)


@pytest.fixture(scope="session")
def digits_bundle(tmp_path_factory) -> str:
    """A real 4-exit bundle (3 blocks of 8 filters + input exit), trained for 6 epochs. Read-only: copy to modify."""
    return _convert_digits(tmp_path_factory, "multi-exit", "--epochs", "6", "--filters", "8", "--blocks", "3",
                           "--invocation-cost", FIXTURE_INVOCATION_COST)


@pytest.fixture
def bundle_copy(digits_bundle, tmp_path) -> str:
    """A private copy of the session bundle that a test may damage."""
    target = str(tmp_path / "bundle")
    shutil.copytree(digits_bundle, target)
    return target


@pytest.fixture(scope="session")
def digits():
    from edge_runtime.core.datasets import load_digits_dataset

    return load_digits_dataset()


@pytest.fixture(scope="session")
def runtime(digits_bundle):
    from edge_runtime.registry import open_runtime

    return open_runtime(digits_bundle)


@pytest.fixture(scope="session")
def test_images(runtime, digits):
    from edge_runtime.core.preprocess import Preprocessor

    pre = Preprocessor(runtime.bundle.input, runtime.input_quantization)
    return [pre.from_pixels(p) for p in digits.x_test], digits.y_test


@pytest.fixture(scope="session")
def pruned_bundle(tmp_path_factory) -> str:
    """A real pruned bundle: a small reference CNN, MP at φ 0.3, AP swept over 0.5 and 0.8. Read-only."""
    return _convert_digits(tmp_path_factory, "pruned", "--epochs", "6", "--filters", "8", "--mild", "0.3",
                           "--ap-ratios", "0.5,0.8")


@pytest.fixture(scope="session")
def gated_bundle(tmp_path_factory) -> str:
    """A real gated bundle: a small residual CNN (8/16/32 channels), gates trained in three short steps. Read-only."""
    return _convert_digits(tmp_path_factory, "gated", "--epochs", "5", "--step-epochs", "3", "--widths", "8,16,32")
