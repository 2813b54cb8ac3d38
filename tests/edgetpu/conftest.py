"""An Edge TPU toolchain that can exist here: a stand-in ``edgetpu_compiler`` on PATH and a stand-in
``libedgetpu.so.1`` built from C, found through ``LD_LIBRARY_PATH`` by the processes the tests start."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from edge_sim.edgetpu_delegate import build, compiler

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def compiler_on_path(tmp_path_factory) -> str:
    """A folder holding an ``edgetpu_compiler`` that runs edge_sim's stand-in; prepend it to PATH."""
    folder = tmp_path_factory.mktemp("edgetpu-bin")
    script = folder / "edgetpu_compiler"
    script.write_text(f'#!/bin/sh\nPYTHONPATH="{ROOT}${{PYTHONPATH:+:$PYTHONPATH}}" exec "{sys.executable}" '
                      f'-m edge_sim.edgetpu_compiler "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(folder)


@pytest.fixture(scope="session")
def standin_library(tmp_path_factory) -> str:
    """The folder of the stand-in ``libedgetpu.so.1``."""
    if compiler() is None:
        pytest.skip("no C compiler to build the stand-in libedgetpu (install gcc)")
    folder = tmp_path_factory.mktemp("libedgetpu")
    build(str(folder))
    return str(folder)


@pytest.fixture(scope="session")
def tpu_bundle(digits_bundle, compiler_on_path, tmp_path_factory) -> str:
    """The session's multi-exit bundle exported and compiled for the Edge TPU (read-only)."""
    out = str(tmp_path_factory.mktemp("tpu") / "bundle")
    env = {**os.environ, "PATH": f"{compiler_on_path}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run([sys.executable, "-m", "converters", "edgetpu", digits_bundle, "--out", out],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    return out


def runtime_cli(*args: str, library: str | None, mode: str | None = None) -> subprocess.CompletedProcess:
    """``edge-runtime ARGS`` in its own process, with the stand-in library (or none) on the loader's path."""
    env = {k: v for k, v in os.environ.items() if k not in ("LD_LIBRARY_PATH", "EDGETPU_STANDIN")}
    if library is not None:
        env["LD_LIBRARY_PATH"] = library
    if mode is not None:
        env["EDGETPU_STANDIN"] = mode
    return subprocess.run([sys.executable, "-m", "edge_runtime", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def copy_bundle(src: str, dst: Path) -> str:
    shutil.copytree(src, dst)
    return str(dst)
