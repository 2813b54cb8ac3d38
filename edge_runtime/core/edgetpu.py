"""Running a bundle's Edge TPU build (``edge-convert edgetpu``): the delegate probed in a child process,
then each compiled segment on its own interpreter with the delegate, the rest on the CPU.

Why a child: a missing library raises ``OSError`` and a missing device ``ValueError``, which are
ordinary errors, but libedgetpu built for another TensorFlow version can crash the process that
loads it. The probe loads the delegate, opens one compiled segment with it and runs it once; only
if that works is the delegate loaded here. Otherwise the bundle's CPU segments run, with one note.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys

from .backends import Backend
from .bundle import Bundle
from .placement import Placement
from .delegates import load_delegates

PROBE_TIMEOUT_S = 60.0


def probe(backend: Backend, model_path: str, device: str | None, timeout_s: float = PROBE_TIMEOUT_S) -> str | None:
    """``None`` if the Edge TPU delegate loads and runs ``model_path`` in a child process, else why not."""
    command = [sys.executable, "-m", "edge_runtime.core.edgetpu_probe", "--backend", backend.name, model_path]
    if device:
        command += ["--device", device]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return f"the Edge TPU did not answer within {timeout_s:.0f} s"
    if done.returncode < 0:
        name = signal.Signals(-done.returncode).name
        return (f"loading the Edge TPU library crashed the probe ({name}): libedgetpu may be built for another "
                "TensorFlow version than the interpreter's")
    lines = done.stdout.strip().splitlines()
    try:
        answer = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        answer = {}
    if done.returncode == 0 and answer.get("ok"):
        return None
    return answer.get("error") or (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]


def place_on_edgetpu(bundle: Bundle, backend: Backend, device: str | None = None) -> tuple[Placement | None, str | None]:
    """(the placement, None) when the TPU works for this bundle; (None, why the CPU is used) otherwise."""
    build = bundle.header.edgetpu
    if build is None:
        return None, (f"{bundle.path} has no Edge TPU build: its segments run on the CPU (compile them with "
                      "'edge-convert edgetpu BUNDLE' on an x86-64 workstation)")
    on_tpu = {name: s for name, s in build.segments.items() if s.ops_tpu > 0}
    if not on_tpu:
        return None, f"{bundle.path}: the Edge TPU compiler mapped no operation of any segment: running on the CPU"
    first = next(iter(on_tpu.values()))
    reason = probe(backend, bundle.file_path(first.file), device)
    if reason is not None:
        return None, f"the Edge TPU is not usable ({reason}); running the CPU segments"
    delegates = load_delegates(backend, ["edgetpu"], device)
    return Placement(delegates, {name: s.file for name, s in on_tpu.items()},
                     {name: s.tensors for name, s in on_tpu.items()}), None
