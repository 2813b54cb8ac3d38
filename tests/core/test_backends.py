import subprocess
import sys

import pytest

from edge_runtime.core.backends import Backend, load_backend
from edge_runtime.core.delegates import edgetpu_library, load_delegates
from edge_runtime.errors import BackendError


def test_prefers_litert():
    pytest.importorskip("ai_edge_litert", reason="LiteRT (ai-edge-litert) is not installed: nothing to prefer")
    assert load_backend().name == "ai_edge_litert"


def test_with_no_interpreter_package_the_error_lists_what_was_tried(monkeypatch):
    import importlib

    from edge_runtime.core import backends

    real = importlib.import_module

    def nothing_installed(name, *args):
        if name.split(".")[0] in backends.BACKEND_NAMES:
            raise ImportError(f"No module named {name!r}")
        return real(name, *args)

    monkeypatch.setattr(backends.importlib, "import_module", nothing_installed)
    monkeypatch.setattr(backends, "CACHE", {})
    with pytest.raises(BackendError) as info:
        backends.load_backend()
    message = str(info.value)
    assert message.startswith("no TFLite interpreter found: pip install ai-edge-litert")
    assert all(name in message for name in backends.BACKEND_NAMES)


def test_unknown_backend():
    with pytest.raises(BackendError, match="unknown backend 'tpu'"):
        load_backend("tpu")


def test_missing_forced_backend():
    try:
        import tflite_runtime  # noqa: F401
        pytest.skip("tflite_runtime is installed here")
    except ImportError:
        pass
    with pytest.raises(BackendError, match="backend tflite_runtime is not installed"):
        load_backend("tflite_runtime")


def test_old_tflite_runtime_under_numpy2_is_named():
    import numpy as np

    if int(np.__version__.split(".")[0]) < 2:
        pytest.skip("needs numpy 2")

    class Interpreter:
        def __init__(self, **kwargs):
            raise AttributeError("_ARRAY_API not found")

    backend = Backend("tflite_runtime", "2.14.0", Interpreter, lambda *a: None)
    with pytest.raises(BackendError, match=r"tflite-runtime 2.14.0 needs numpy<2"):
        backend.make_interpreter("model.tflite", 1)


# LiteRT's Delegate.__del__ raises on a delegate whose library never loaded; that is its noise, not ours.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_missing_edgetpu_library_is_named():
    with pytest.raises(BackendError, match="libedgetpu.so.1"):
        load_delegates(load_backend(), ["edgetpu"])


def test_edgetpu_library_names():
    assert edgetpu_library("Linux") == "libedgetpu.so.1"
    assert edgetpu_library("Darwin") == "libedgetpu.1.dylib"
    assert edgetpu_library("Windows") == "edgetpu.dll"


@pytest.mark.slow
def test_device_process_never_imports_tensorflow(digits_bundle):
    code = f"""
import sys
from edge_runtime.registry import open_runtime
from edge_runtime.core.preprocess import Preprocessor
import numpy as np
runtime = open_runtime({digits_bundle!r})
image = np.zeros((1, 8, 8, 1), np.int8)
runtime.classify(image, runtime.plan(runtime.desired_accuracy(0.5)))
assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TensorFlow was imported'
print('ok')
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


@pytest.mark.slow
def test_run_on_a_multi_exit_bundle_imports_only_what_it_needs(digits_bundle):
    """The other families, the TPU placement, the service and the profiler stay unimported (start-up on a board)."""
    from tools.bench_multi_exit import RUN_START, RUN_UNNEEDED

    result = subprocess.run([sys.executable, "-c", RUN_START.format(bundle=digits_bundle, unneeded=RUN_UNNEEDED)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    _, tensorflow_imported, unneeded = result.stdout.split()
    assert (tensorflow_imported, unneeded) == ("False", "-")
