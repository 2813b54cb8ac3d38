"""``edgetpu_compiler``: found on PATH, run once over every file (co-compiled: they share the TPU's
parameter cache, in argument order), and its report read back.

The compiler prints, per model, ``Input model:``/``Output model:`` lines, the on-chip and off-chip
memory used for parameters, the number of Edge TPU subgraphs and operations, and with ``-s`` a table
of ``Operator  Count  Status`` rows (``Mapped to Edge TPU`` or the reason an op stays on the CPU).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field

from ..common.errors import ConvertError

COMPILER = "edgetpu_compiler"
MAPPED = "Mapped to Edge TPU"
WHERE_FROM = ("it comes from Google's Coral apt repository (packages.cloud.google.com/apt coral-edgetpu-stable, "
              "package edgetpu-compiler; see coral.ai/docs/edgetpu/compiler) and runs on x86-64 Linux only: "
              "compile on a workstation, then copy the bundle to the board")
UNITS = {"B": 1, "KiB": 1024, "MiB": 1024 ** 2, "GiB": 1024 ** 3}
SIZE = re.compile(r"^\s*([0-9.]+)\s*(B|KiB|MiB|GiB)\s*$")
ROW = re.compile(r"^(\S+)\s+(\d+)\s+(\S.*?)\s*$")


@dataclass
class CompiledModel:
    """What the compiler said about one model."""

    input_model: str
    output_model: str = ""
    on_chip_bytes: int = 0
    off_chip_bytes: int = 0
    edgetpu_subgraphs: int = 0
    total_operations: int = 0
    log: str = ""
    operations: list[tuple[str, int, str]] = field(default_factory=list)

    @property
    def ops_tpu(self) -> int:
        return sum(count for _, count, status in self.operations if status == MAPPED)

    @property
    def ops_cpu(self) -> int:
        return max(self.total_operations, sum(count for _, count, _ in self.operations)) - self.ops_tpu


def size_bytes(text: str) -> int:
    match = SIZE.match(text)
    if match is None:
        raise ValueError(f"not a size: {text!r}")
    return round(float(match.group(1)) * UNITS[match.group(2)])


def parse_report(text: str) -> tuple[str, list[CompiledModel]]:
    """(compiler version, one record per model) from the compiler's standard output."""
    version = ""
    models: list[CompiledModel] = []
    in_table = False
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("Edge TPU Compiler version"):
            version = line.rsplit(" ", 1)[-1]
            continue
        key, sep, value = line.partition(":")
        if sep and key == "Input model":
            models.append(CompiledModel(value.strip()))
            in_table = False
            continue
        if not models:
            continue
        model = models[-1]
        value = value.strip()
        if sep and key == "Output model":
            model.output_model = value
        elif sep and key == "On-chip memory used for caching model parameters":
            model.on_chip_bytes = size_bytes(value)
        elif sep and key == "Off-chip memory used for streaming uncached model parameters":
            model.off_chip_bytes = size_bytes(value)
        elif sep and key == "Number of Edge TPU subgraphs":
            model.edgetpu_subgraphs = int(value)
        elif sep and key == "Total number of operations":
            model.total_operations = int(value)
        elif sep and key == "Operation log":
            model.log = value
        elif line.split() == ["Operator", "Count", "Status"]:
            in_table = True
        elif in_table and (match := ROW.match(line)):
            model.operations.append((match.group(1), int(match.group(2)), match.group(3)))
        elif in_table and line and not ROW.match(line):
            in_table = False
    return version, models


def find_compiler() -> str:
    path = shutil.which(COMPILER)
    if path is None:
        raise ConvertError(f"{COMPILER} is not on PATH: {WHERE_FROM}")
    return path


def compile_models(compiler: str, paths: list[str], out_dir: str, timeout_s: float = 600.0
                   ) -> tuple[str, dict[str, CompiledModel]]:
    """Co-compile ``paths`` (in that order) into ``out_dir`` with ``compiler`` (:func:`find_compiler`);
    (version, input file name → its record)."""
    command = [compiler, "--show_operations", "--out_dir", out_dir, *paths]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise ConvertError(f"{COMPILER} did not finish within {timeout_s:.0f} s") from None
    except OSError as exc:
        raise ConvertError(f"{COMPILER} could not be run ({exc.strerror or exc}): {WHERE_FROM}") from None
    if done.returncode != 0:
        last = (done.stderr.strip() or done.stdout.strip()).splitlines()[-3:]
        raise ConvertError(f"{COMPILER} failed (exit status {done.returncode}): " + " / ".join(last))
    version, models = parse_report(done.stdout)
    by_input = {os.path.basename(m.input_model): m for m in models}
    for path in paths:
        name = os.path.basename(path)
        record = by_input.get(name)
        if record is None:
            raise ConvertError(f"{COMPILER} did not report on {name}: its output was not understood "
                               f"(first line: {done.stdout.strip().splitlines()[:1]})")
        compiled = os.path.join(out_dir, os.path.basename(record.output_model or name[:-7] + "_edgetpu.tflite"))
        if not os.path.isfile(compiled):
            raise ConvertError(f"{COMPILER} reported {name} compiled but wrote no {compiled}")
        record.output_model = compiled
    return version, by_input
