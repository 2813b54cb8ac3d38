"""Declarative profiles: one TOML file per monitor firmware, battery or board.

A user adds a device by writing one file. The schema is checked completely at load; a mistake
is one :class:`ProfileError` naming the file and the dotted field, quoting the expected form,
and suggesting the nearest known key for a typo. The shipped profiles live in the top-level
``firmware_profiles`` package; ``$EDGE_ADAPTIVE_PROFILES`` (a ``os.pathsep`` list of folders)
is searched first, and a path to a ``.toml`` file is always accepted.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from ..errors import ProfileError

KINDS = ("monitor", "battery", "board")
TRANSPORTS = ("serial", "socket", "sysfs")
FRAMINGS = ("lines", "blocks", "csv", "binary", "keyvalue", "sysfs")
SIGNS = ("positive_is_discharge", "negative_is_discharge", "from_status")
QUANTITIES = ("voltage_v", "current_a", "power_w", "percent")
PROFILE_ENV = "EDGE_ADAPTIVE_PROFILES"


@dataclass(frozen=True)
class FieldSpec:
    """Where one named value is in a record and how to scale it to SI.

    Text framings use ``labels`` (tried in order) and ``units`` (unit text → factor);
    ``csv`` uses ``column``; ``binary`` uses ``offset``/``size``/``signed``; ``sysfs`` uses
    ``file``. ``scale`` applies when no unit is printed. A value outside ``plausible`` is
    retried with ``alt_scale`` (old PiSugar servers print mV where new ones print V).
    """

    name: str
    labels: tuple[str, ...] = ()
    units: Mapping[str, float] = field(default_factory=dict)
    scale: float = 1.0
    column: str | None = None
    offset: int | None = None
    size: int = 2
    signed: bool = False
    file: str | None = None
    plausible: tuple[float, float] | None = None
    alt_scale: float | None = None
    text: bool = False


@dataclass(frozen=True)
class BinaryVariant:
    """A model of a binary meter, recognised by its sync value, with its own scales."""

    sync_value: int
    name: str
    scales: Mapping[str, float]
    check: str  # "end_marker" or "xor"


@dataclass(frozen=True)
class Framing:
    """How records are delimited in the byte stream (see ``firmware_profiles/README.md``)."""

    type: str
    ignore: tuple[str, ...] = ()
    # csv
    header: bool = True
    comment: str = "#"
    delimiter: str = ","
    # binary
    length: int = 0
    sync_offset: int = 0
    sync_size: int = 2
    end_offset: int = 0
    end_size: int = 2
    end_value: int = 0
    variants: tuple[BinaryVariant, ...] = ()
    # keyvalue
    record_end: str = ""
    bare_number_key: str = ""
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class Transport:
    """How to reach the monitor: a pyserial URL (serial or socket) or a sysfs folder.

    ``baud`` is the default only; ``?baud=`` in the URL or ``--baud`` overrides it.
    ``requests`` are sent every ``poll_s`` for request/response devices.
    """

    type: str
    baud: int = 115200
    default_url: str = ""
    period_s: float = 1.0
    poll_s: float = 0.0
    requests: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class MonitorProfile:
    name: str
    path: str
    description: str
    source: str
    transport: Transport
    framing: Framing
    fields: tuple[FieldSpec, ...]
    current_sign: str
    emulate_template: str = ""


@dataclass(frozen=True)
class BatteryProfile:
    """A battery pack: chemistry, capacity and the per-cell open-circuit-voltage curve.

    ``ocv_curve`` is (cell volts, percent) sorted by voltage; ``internal_resistance_ohm`` is the
    whole pack's.
    """

    name: str
    path: str
    description: str
    chemistry: str
    capacity_mah: float
    cells_series: int
    internal_resistance_ohm: float
    ocv_curve: tuple[tuple[float, float], ...]

    @property
    def capacity_c(self) -> float:
        """Capacity in coulombs."""
        return self.capacity_mah * 3.6

    @property
    def nominal_voltage_v(self) -> float:
        """Pack voltage at 50 % charge, V."""
        return self.ocv_volts(0.5)

    def ocv_percent(self, pack_volts: float) -> float:
        """State of charge (0–1) of a cell at rest at ``pack_volts``, from the curve."""
        cell = pack_volts / self.cells_series
        volts = [v for v, _ in self.ocv_curve]
        percents = [p for _, p in self.ocv_curve]
        if cell <= volts[0]:
            return percents[0] / 100.0
        if cell >= volts[-1]:
            return percents[-1] / 100.0
        for i in range(1, len(volts)):
            if cell <= volts[i]:
                f = (cell - volts[i - 1]) / (volts[i] - volts[i - 1])
                return (percents[i - 1] + f * (percents[i] - percents[i - 1])) / 100.0
        return percents[-1] / 100.0  # pragma: no cover - loop always returns

    def ocv_volts(self, soc: float) -> float:
        """Open-circuit pack voltage at state of charge ``soc`` (0–1), V."""
        pct = min(max(soc, 0.0), 1.0) * 100.0
        pairs = sorted(self.ocv_curve, key=lambda vp: vp[1])
        if pct <= pairs[0][1]:
            return pairs[0][0] * self.cells_series
        for (v0, p0), (v1, p1) in zip(pairs, pairs[1:]):
            if pct <= p1:
                f = 0.0 if p1 == p0 else (pct - p0) / (p1 - p0)
                return (v0 + f * (v1 - v0)) * self.cells_series
        return pairs[-1][0] * self.cells_series


@dataclass(frozen=True)
class BoardProfile:
    """A board's power figures, for the modelled energy E = Σ bytes·e_byte + MACs·e_MAC and the
    demo's simulated drain (W, J)."""

    name: str
    path: str
    description: str
    idle_power_w: float
    active_power_w: float
    e_mac_j: float
    e_byte_j: float


class _Table:
    """Takes typed keys out of one TOML table and reports leftovers as typos."""

    def __init__(self, path: str, data: Any, prefix: str) -> None:
        if not isinstance(data, dict):
            raise ProfileError(path, f"expected a table, got {_show(data)}", prefix or None)
        self.path = path
        self.data = dict(data)
        self.prefix = prefix

    def where(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix else key

    def fail(self, key: str, message: str) -> ProfileError:
        return ProfileError(self.path, message, self.where(key))

    def take(self, key: str, kind: type | tuple[type, ...], expected: str, default: Any = ...) -> Any:
        if key not in self.data:
            if default is ...:
                raise self.fail(key, f"missing: expected {expected}")
            return default
        value = self.data.pop(key)
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            raise self.fail(key, f"expected {expected}, got {_show(value)}")
        if isinstance(value, float) and not math.isfinite(value):
            raise self.fail(key, f"expected {expected}, got {value}")
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: Any = ...) -> str:
        expected = "one of " + ", ".join(f'"{c}"' for c in choices)
        value = self.take(key, str, expected, default)
        if value not in choices:
            hint = difflib.get_close_matches(str(value), choices, n=1)
            tip = f' (did you mean "{hint[0]}"?)' if hint else ""
            raise self.fail(key, f'expected {expected}, got "{value}"{tip}')
        return value

    def positive(self, key: str, expected: str, default: Any = ...) -> float:
        value = self.take(key, float, expected, default)
        if value is not None and value <= 0:
            raise self.fail(key, f"expected {expected}, got {value}")
        return value

    def strings(self, key: str, expected: str) -> tuple[str, ...]:
        value = self.take(key, list, expected, [])
        if not all(isinstance(v, str) for v in value):
            raise self.fail(key, f"expected {expected}, got {_show(value)}")
        return tuple(value)

    def table(self, key: str, default: Any = ...) -> "_Table":
        return _Table(self.path, self.take(key, dict, "a table", {} if default is ... else default),
                      self.where(key))

    def done(self, known: tuple[str, ...] = ()) -> None:
        for key in self.data:
            hint = difflib.get_close_matches(key, known, n=1) if known else []
            tip = f' (did you mean "{hint[0]}"?)' if hint else ""
            raise self.fail(key, f"unknown key{tip}")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _decode_request(path: str, where: str, text: str) -> bytes:
    """Requests are text, or ``hex:F0`` for bytes."""
    if text.startswith("hex:"):
        try:
            return bytes.fromhex(text[4:])
        except ValueError:
            raise ProfileError(path, f'expected "hex:" followed by hex digits like "hex:f0", got "{text}"',
                               where) from None
    return text.encode().decode("unicode_escape").encode("latin-1")


_FIELD_KEYS = ("labels", "units", "scale", "column", "offset", "size", "signed", "file", "plausible",
               "alt_scale", "text")


def _parse_field(path: str, name: str, data: Any, framing: str) -> FieldSpec:
    t = _Table(path, data, f"fields.{name}")
    labels = t.strings("labels", 'a list of labels like ["Bus Voltage"]')
    units_table = t.take("units", dict, 'a table of unit → factor to SI like { V = 1.0, mV = 0.001 }', {})
    units: dict[str, float] = {}
    for unit, factor in units_table.items():
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or factor == 0:
            raise ProfileError(path, f"expected a non-zero number (factor to SI), got {_show(factor)}",
                               f"fields.{name}.units.{unit}")
        units[unit] = float(factor)
    scale = t.take("scale", float, "a number (factor to SI)", 1.0)
    column = t.take("column", str, 'a CSV header name like "voltage"', None)
    offset = t.take("offset", int, "a byte offset (integer ≥ 0)", None)
    size = t.take("size", int, "1, 2 or 4 (bytes, big-endian)", 2)
    signed = t.take("signed", bool, "true or false", False)
    file = t.take("file", str, 'a sysfs file name like "voltage_now"', None)
    plausible = t.take("plausible", list, "[low, high]", None)
    alt_scale = t.take("alt_scale", float, "a number", None)
    text = t.take("text", bool, "true or false", False)
    t.done(_FIELD_KEYS)
    if plausible is not None:
        if len(plausible) != 2 or not all(isinstance(v, (int, float)) for v in plausible):
            raise ProfileError(path, f"expected [low, high], got {_show(plausible)}", f"fields.{name}.plausible")
        plausible = (float(plausible[0]), float(plausible[1]))
    need = {"lines": "labels", "blocks": "labels", "keyvalue": "labels", "csv": "column",
            "binary": "offset", "sysfs": "file"}[framing]
    present = {"labels": bool(labels), "column": column is not None, "offset": offset is not None,
               "file": file is not None}[need]
    if not present:
        form = {"labels": 'labels = ["Current"]', "column": 'column = "current"', "offset": "offset = 2",
                "file": 'file = "current_now"'}[need]
        raise ProfileError(path, f'missing: a "{framing}" framing needs each field to say where it is, like {form}',
                           f"fields.{name}.{need}")
    if size not in (1, 2, 4):
        raise ProfileError(path, f"expected 1, 2 or 4 (bytes, big-endian), got {size}", f"fields.{name}.size")
    return FieldSpec(name=name, labels=labels, units=units, scale=scale, column=column, offset=offset,
                     size=size, signed=signed, file=file, plausible=plausible, alt_scale=alt_scale, text=text)


def _parse_framing(path: str, t: _Table) -> Framing:
    kind = t.choice("type", FRAMINGS)
    ignore = t.strings("ignore", 'a list of regular expressions like ["^Hello!"]')
    for pattern in ignore:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ProfileError(path, f"not a regular expression ({exc}): {pattern!r}", t.where("ignore")) from None
    kw: dict[str, Any] = {"type": kind, "ignore": ignore}
    known = ("type", "ignore")
    if kind == "csv":
        kw["header"] = t.take("header", bool, "true or false", True)
        kw["comment"] = t.take("comment", str, 'a comment prefix like "#"', "#")
        kw["delimiter"] = t.take("delimiter", str, 'one character like ","', ",")
        if len(kw["delimiter"]) != 1:
            raise t.fail("delimiter", f'expected one character like ",", got "{kw["delimiter"]}"')
        known += ("header", "comment", "delimiter")
    elif kind == "binary":
        kw["length"] = t.take("length", int, "the frame length in bytes")
        sync = t.table("sync")
        kw["sync_offset"] = sync.take("offset", int, "a byte offset", 0)
        kw["sync_size"] = sync.take("size", int, "1, 2 or 4", 2)
        sync.done(("offset", "size"))
        end = t.table("end")
        kw["end_offset"] = end.take("offset", int, "a byte offset")
        kw["end_size"] = end.take("size", int, "1, 2 or 4", 2)
        kw["end_value"] = end.take("value", int, "the end marker as an integer like 0xFFF1")
        end.done(("offset", "size", "value"))
        variants = []
        raw_variants = t.take("variants", list, 'a list of tables like [[framing.variants]] sync = 0x0963 name = "UM24C"')
        for i, raw in enumerate(raw_variants):
            v = _Table(path, raw, f"framing.variants[{i}]")
            sync_value = v.take("sync", int, "the model id at the sync offset, like 0x0963")
            name = v.take("name", str, 'a model name like "UM24C"')
            scales_raw = v.take("scales", dict, "a table of field → factor to SI", {})
            check = v.choice("check", ("end_marker", "xor"), "end_marker")
            v.done(("sync", "name", "scales", "check"))
            variants.append(BinaryVariant(sync_value, name, {k: float(x) for k, x in scales_raw.items()}, check))
        if not variants:
            raise t.fail("variants", "expected at least one [[framing.variants]] with the sync value of a model")
        kw["variants"] = tuple(variants)
        if kw["end_offset"] + kw["end_size"] > kw["length"]:
            raise t.fail("end.offset", f"the end marker must lie inside the {kw['length']}-byte frame")
        known += ("length", "sync", "end", "variants")
    elif kind == "keyvalue":
        kw["record_end"] = t.take("record_end", str, 'the key whose reply completes a record, like "battery"')
        kw["bare_number_key"] = t.take("bare_number_key", str, "the key a bare-number reply answers", "")
        kw["errors"] = t.strings("errors", 'a list of regular expressions like ["^Invalid request"]')
        known += ("record_end", "bare_number_key", "errors")
    t.done(known)
    return Framing(**kw)


def _parse_monitor(path: str, t: _Table, name: str) -> MonitorProfile:
    description = t.take("description", str, "a sentence", "")
    source = t.take("source", str, "where the format is defined", "")
    tr = t.table("transport")
    transport_type = tr.choice("type", TRANSPORTS)
    baud = tr.take("baud", int, "a baud rate like 115200", 115200)
    default_url = tr.take("url", str, 'a default URL or path like "socket://localhost:8423"', "")
    period = tr.positive("period_s", "the expected seconds between records (> 0)", 1.0)
    poll = tr.take("poll_s", float, "seconds between requests (> 0)", 0.0)
    requests = tuple(_decode_request(path, tr.where("requests"), r)
                     for r in tr.strings("requests", 'a list of requests like ["get battery\\n"] or ["hex:f0"]'))
    tr.done(("type", "baud", "url", "period_s", "poll_s", "requests"))
    if requests and poll <= 0:
        raise tr.fail("poll_s", "expected seconds between requests (> 0) when requests are given")
    transport = Transport(transport_type, baud, default_url, period, poll, requests)
    framing = _parse_framing(path, t.table("framing"))
    if (framing.type == "sysfs") != (transport_type == "sysfs"):
        raise ProfileError(path, 'a "sysfs" framing goes with a "sysfs" transport and only with it', "framing.type")
    fields_table = t.take("fields", dict, 'tables like [fields.voltage_v] labels = ["Bus Voltage"]')
    fields = tuple(_parse_field(path, fname, fdata, framing.type) for fname, fdata in fields_table.items())
    names = {f.name for f in fields}
    if not names & set(QUANTITIES):
        raise ProfileError(path, "expected at least one of the fields " + ", ".join(QUANTITIES), "fields")
    if framing.type == "keyvalue" and framing.record_end not in {label for f in fields for label in f.labels}:
        raise ProfileError(path, f'"{framing.record_end}" is not the label of any field', "framing.record_end")
    cur = t.table("current")
    sign = cur.choice("sign", SIGNS, "positive_is_discharge")
    cur.done(("sign",))
    if sign == "from_status" and "status" not in names:
        raise ProfileError(path, 'sign "from_status" needs a field named "status"', "current.sign")
    em = t.table("emulate")
    template = em.take("template", str, "a format string over the field names", "")
    em.done(("template",))
    t.done(("kind", "name", "description", "source", "transport", "framing", "fields", "current", "emulate"))
    return MonitorProfile(name, path, description, source, transport, framing, fields, sign, template)


def _parse_battery(path: str, t: _Table, name: str) -> BatteryProfile:
    description = t.take("description", str, "a sentence", "")
    chemistry = t.take("chemistry", str, 'a chemistry like "li-ion"')
    capacity = t.positive("capacity_mah", "the capacity in mAh (> 0)")
    cells = t.take("cells_series", int, "the number of cells in series (≥ 1)")
    if cells < 1:
        raise t.fail("cells_series", f"expected the number of cells in series (≥ 1), got {cells}")
    resistance = t.take("internal_resistance_ohm", float, "the pack's internal resistance in Ω (≥ 0)", 0.0)
    if resistance < 0:
        raise t.fail("internal_resistance_ohm", f"expected Ω ≥ 0, got {resistance}")
    curve_raw = t.take("ocv_curve", list, "a list of [cell volts, percent] pairs like [[4.16, 100], [3.10, 0]]")
    curve = []
    for pair in curve_raw:
        if (not isinstance(pair, list) or len(pair) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in pair)):
            raise t.fail("ocv_curve", f"expected [cell volts, percent] pairs like [4.16, 100], got {_show(pair)}")
        volts, percent = float(pair[0]), float(pair[1])
        if not (0 < volts < 10 and 0 <= percent <= 100):
            raise t.fail("ocv_curve", f"expected 0 < volts < 10 and 0 ≤ percent ≤ 100, got [{volts}, {percent}]")
        curve.append((volts, percent))
    curve.sort()
    if len(curve) < 2 or any(b[1] < a[1] for a, b in zip(curve, curve[1:])):
        raise t.fail("ocv_curve", "expected at least two points with percent rising as voltage rises")
    t.done(("kind", "name", "description", "chemistry", "capacity_mah", "cells_series",
            "internal_resistance_ohm", "ocv_curve"))
    return BatteryProfile(name, path, description, chemistry, capacity, cells, resistance, tuple(curve))


def _parse_board(path: str, t: _Table, name: str) -> BoardProfile:
    description = t.take("description", str, "a sentence", "")
    idle = t.take("idle_power_w", float, "the idle power in W (≥ 0)")
    active = t.positive("active_power_w", "the extra power of one busy core in W (> 0)")
    e_mac = t.positive("e_mac_j", "the energy of one int8 MAC in J (> 0)")
    e_byte = t.positive("e_byte_j", "the energy of one byte moved in J (> 0)")
    if idle < 0:
        raise t.fail("idle_power_w", f"expected W ≥ 0, got {idle}")
    t.done(("kind", "name", "description", "idle_power_w", "active_power_w", "e_mac_j", "e_byte_j"))
    return BoardProfile(name, path, description, idle, active, e_mac, e_byte)


def parse_profile(path: str, text: str) -> MonitorProfile | BatteryProfile | BoardProfile:
    """Parse and check one profile's TOML text; ``path`` is only for messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(path, f"not valid TOML: {exc}") from None
    t = _Table(path, data, "")
    kind = t.choice("kind", KINDS)
    name = t.take("name", str, "the profile's name")
    stem = Path(path).stem
    if stem != name and Path(path).suffix == ".toml":
        raise t.fail("name", f'expected "{stem}", the file\'s name, got "{name}"')
    parse = {"monitor": _parse_monitor, "battery": _parse_battery, "board": _parse_board}[kind]
    return parse(path, t, name)


def shipped_folder() -> Path:
    """The folder of the profiles that come with the package."""
    import firmware_profiles

    return Path(firmware_profiles.__file__).resolve().parent


def search_folders() -> list[Path]:
    extra = [Path(p) for p in os.environ.get(PROFILE_ENV, "").split(os.pathsep) if p]
    return extra + [shipped_folder()]


def available(kind: str | None = None) -> dict[str, Path]:
    """Profile name → file, over the search folders (earlier folders win)."""
    found: dict[str, Path] = {}
    for folder in search_folders():
        for file in sorted(folder.glob("*.toml")):
            if file.stem in found:
                continue
            if kind is not None:
                try:
                    data = tomllib.loads(file.read_text(encoding="utf-8"))
                except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
                    continue
                if data.get("kind") != kind:
                    continue
            found[file.stem] = file
    return found


def _read(file: Path) -> Any:
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(str(file), f"cannot read: {exc}") from None
    return parse_profile(str(file), text)


def load_profile(name_or_path: str, kind: str) -> Any:
    """Load the profile called ``name_or_path`` (or at that path) and check it is of ``kind``.

    A name is looked up as ``NAME.toml`` in the search folders (the first one found); only when
    that fails are all profiles listed, for the error message.
    """
    expected = {"monitor": MonitorProfile, "battery": BatteryProfile, "board": BoardProfile}[kind]
    if name_or_path.endswith(".toml") or os.sep in name_or_path:
        file = Path(name_or_path)
        if not file.is_file():
            raise ProfileError(name_or_path, "no such profile file")
        profile = _read(file)
        if not isinstance(profile, expected):
            raise ProfileError(str(file), f'expected a {kind} profile (kind = "{kind}")', "kind")
        return profile
    file = next((folder / f"{name_or_path}.toml" for folder in search_folders()
                 if (folder / f"{name_or_path}.toml").is_file()), None)
    if file is not None:
        profile = _read(file)
        if isinstance(profile, expected):
            return profile
    choices = available(kind)
    hint = difflib.get_close_matches(name_or_path, list(choices), n=1)
    tip = f' (did you mean "{hint[0]}"?)' if hint else ""
    raise ProfileError(name_or_path, f"no {kind} profile of that name{tip}: expected one of " + ", ".join(sorted(choices)))
