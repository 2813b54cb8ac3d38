"""What the family benchmarks share: a benchmark bundle built once and cached."""

from __future__ import annotations

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from edge_runtime.demo import default_workdir  # noqa: E402


def cached_bundle(family: str, name: str, convert_args: list[str], minutes: str) -> str:
    """``~/.cache/edge-adaptive/FAMILY/NAME``, converted with ``edge-convert FAMILY ARGS`` if missing."""
    bundle = os.path.join(os.path.dirname(default_workdir()), family, name)
    if not os.path.isfile(os.path.join(bundle, "manifest.json")):
        os.makedirs(os.path.dirname(bundle), exist_ok=True)
        print(f"building {bundle} ({minutes})", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "converters", family, "--dataset", "digits", *convert_args,
                        "--out", bundle, "--force"], check=True)
    return bundle
