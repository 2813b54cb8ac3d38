"""Pick the TFLite interpreter package: the one place that imports one.

Order of preference: ``ai_edge_litert`` (LiteRT), ``tflite_runtime``, ``tensorflow``
(``tf.lite``, only as a last resort: it is a 500 MB import). ``--backend NAME`` forces one.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
import tempfile
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np

from ..errors import BackendError

BACKEND_NAMES: tuple[str, ...] = ("ai_edge_litert", "tflite_runtime", "tensorflow")
# What LiteRT's C++ prints on stderr the first time a process allocates an interpreter: every command showed it.
XNNPACK_NOTICE = "INFO: Created TensorFlow Lite XNNPACK delegate"
_notice = {"dropped": False}
_notice_lock = threading.Lock()


@contextlib.contextmanager
def without_xnnpack_notice() -> Iterator[None]:
    """Drop :data:`XNNPACK_NOTICE` from what the C++ runtime writes to file descriptor 2 inside the block (once a
    process: it is printed once); everything else written there meanwhile is written back after it. Shown under
    debug logging. Thread rules: serialised by a lock; another thread's stderr output during the block is
    delayed, not lost."""
    if _notice["dropped"] or logging.getLogger().isEnabledFor(logging.DEBUG):
        yield
        return
    with _notice_lock, tempfile.TemporaryFile() as captured:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            _notice["dropped"] = True
            captured.seek(0)
            text = captured.read().decode("utf-8", errors="replace")
            rest = "".join(line for line in text.splitlines(keepends=True) if not line.startswith(XNNPACK_NOTICE))
            if rest:
                sys.stderr.write(rest)
                sys.stderr.flush()


@dataclass(frozen=True)
class Backend:
    """An interpreter package.

    Attributes:
        name: one of :data:`BACKEND_NAMES`.
        version: the package's version string ("" when it does not say).
        interpreter_class: the package's ``Interpreter``.
        load_delegate: the package's ``load_delegate(library, options)``.
    """

    name: str
    version: str
    interpreter_class: type
    load_delegate: Callable[..., Any]

    def make_interpreter(self, model_path: str, num_threads: int, delegates: list[Any] | None = None) -> Any:
        """Create an Interpreter for ``model_path``.

        Raises:
            BackendError: tflite-runtime built against numpy 1 under numpy 2, or any failure
                of the package to create the interpreter for a reason other than the model.
        """
        if self.name == "tflite_runtime" and _needs_old_numpy(self.version):
            raise BackendError(
                f"tflite-runtime {self.version} needs numpy<2 (numpy {np.__version__} is installed): "
                "install ai-edge-litert instead, or pip install 'numpy<2'"
            )
        try:
            with without_xnnpack_notice():
                interpreter = self.interpreter_class(
                    model_path=model_path, num_threads=num_threads, experimental_delegates=delegates or None
                )
                interpreter.allocate_tensors()  # where the notice is printed
            return interpreter
        except (ImportError, AttributeError) as exc:
            # tflite-runtime 2.14 wheels compiled against numpy 1 fail here, not at import.
            if self.name == "tflite_runtime" and int(np.__version__.split(".")[0]) >= 2:
                raise BackendError(
                    f"tflite-runtime needs numpy<2 (numpy {np.__version__} is installed): {exc}"
                ) from exc
            raise


def _needs_old_numpy(version: str) -> bool:
    """True when a tflite-runtime of this version cannot run under the installed numpy."""
    if int(np.__version__.split(".")[0]) < 2:
        return False
    try:
        major, minor = (int(p) for p in version.split(".")[:2])
    except ValueError:
        return False
    return (major, minor) < (2, 15)


def _import(name: str) -> Backend:
    if name == "ai_edge_litert":
        module = importlib.import_module("ai_edge_litert.interpreter")
        package = importlib.import_module("ai_edge_litert")
        version = getattr(package, "__version__", "")
        if not version:
            try:
                from importlib.metadata import version as dist_version

                version = dist_version("ai-edge-litert")
            except Exception:  # noqa: BLE001 - version is informational only
                version = ""
        return Backend(name, version, module.Interpreter, module.load_delegate)
    if name == "tflite_runtime":
        module = importlib.import_module("tflite_runtime.interpreter")
        package = importlib.import_module("tflite_runtime")
        return Backend(name, getattr(package, "__version__", ""), module.Interpreter, module.load_delegate)
    if name == "tensorflow":
        tf = importlib.import_module("tensorflow")
        return Backend(name, tf.__version__, tf.lite.Interpreter, tf.lite.experimental.load_delegate)
    raise BackendError(f"unknown backend {name!r}: expected one of {', '.join(BACKEND_NAMES)}")


CACHE: dict[str, Backend] = {}  # backend name → Backend, once imported


def load_backend(name: str | None = None) -> Backend:
    """Return the forced backend ``name``, or the first importable one in preference order.

    Raises:
        BackendError: the forced backend is not installed, or none is.
    """
    names = (name,) if name else BACKEND_NAMES
    if name and name not in BACKEND_NAMES:
        raise BackendError(f"unknown backend {name!r}: expected one of {', '.join(BACKEND_NAMES)}")
    failures = []
    for candidate in names:
        if candidate in CACHE:
            return CACHE[candidate]
        try:
            backend = _import(candidate)
        except ImportError as exc:
            failures.append(f"{candidate} ({exc})")
            continue
        CACHE[candidate] = backend
        return backend
    if name:
        raise BackendError(f"backend {name} is not installed: {failures[0]}")
    raise BackendError(
        "no TFLite interpreter found: pip install ai-edge-litert (tried " + "; ".join(failures) + ")"
    )
