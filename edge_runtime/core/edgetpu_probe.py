"""The child process of :func:`edge_runtime.core.edgetpu.probe`: load the Edge TPU delegate, open one
compiled model with it, run it once, and print one JSON line (``{"ok": true}`` or ``{"error": …}``).
A crash here ends only this process.

    python -m edge_runtime.core.edgetpu_probe [--backend NAME] [--device usb|pci|:N] MODEL_edgetpu.tflite
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="edgetpu_probe")
    parser.add_argument("--backend")
    parser.add_argument("--device")
    parser.add_argument("model")
    args = parser.parse_args(argv)
    from ..errors import EdgeRuntimeError
    from .backends import load_backend
    from .delegates import load_delegates

    try:
        backend = load_backend(args.backend)
        delegates = load_delegates(backend, ["edgetpu"], args.device)
        interpreter = backend.make_interpreter(args.model, 1, delegates)
        interpreter.allocate_tensors()
        for detail in interpreter.get_input_details():
            interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
        interpreter.invoke()
    except (EdgeRuntimeError, ValueError, RuntimeError, OSError) as exc:
        print(json.dumps({"error": str(exc).splitlines()[0] if str(exc) else type(exc).__name__}))
        return 1
    print(json.dumps({"ok": True}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
