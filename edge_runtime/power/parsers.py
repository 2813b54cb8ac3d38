"""Bytes in, immutable records out. Parsers never see a port (pyserial's Protocol role).

Every parser has ``feed(data, t_monotonic, t_wall) -> list[Event]`` and ``finish(...)``; the
times are when ``data`` was received and stamp every record completed by it. Any chunking of a
stream gives the same records; garbage is counted and reported as :class:`~.samples.Gap`
events, and the parser re-synchronises on the next line or frame. Parsers are not thread-safe:
one thread feeds one parser.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Mapping

from .profiles import FieldSpec, Framing, MonitorProfile
from .samples import NAN, Event, Gap, Sample, complete

MAX_LINE = 4096
_NUMBER = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?nan|[-+]?inf)"
_UNIT = r"([A-Za-zµ%°]*)"


class RecordBuilder:
    """Turns one record's named SI values into a :class:`Sample` or a :class:`Gap`.

    Applies the profile's current sign, fills the missing one of V, I, P, and rejects NaN and
    impossible values (negative volts, a percentage outside 0–100) as counted gaps.
    """

    def __init__(self, profile: MonitorProfile) -> None:
        self.sign = profile.current_sign

    def build(self, values: Mapping[str, float], status: str, t_mono: float, t_wall: float) -> Event:
        # the per-record hot path of every parser: NaN tests are written as x != x
        for name, value in values.items():
            if value != value:
                return Gap(t_mono, t_wall, "nan", f"{name} is NaN (the monitor dropped a sample)")
        get = values.get
        volts = get("voltage_v", NAN)
        amps = get("current_a", NAN)
        watts = get("power_w", NAN)
        percent = get("percent", NAN)
        if volts < 0:
            return Gap(t_mono, t_wall, "out_of_range", f"voltage_v = {volts} is negative")
        if percent == percent:
            if not -0.5 <= percent <= 100.5:
                return Gap(t_mono, t_wall, "out_of_range", f"percent = {percent} is outside 0–100")
            percent = min(max(percent, 0.0), 100.0)
        sign = self.sign
        if sign == "negative_is_discharge":
            amps, watts = -amps, -watts
        elif sign == "from_status":
            direction = -1.0 if status.strip().lower() == "charging" else 1.0
            amps, watts = direction * abs(amps), direction * abs(watts)
        if watts != watts or amps != amps:
            volts, amps, watts = complete(volts, amps, watts)
        return Sample(t_mono, t_wall, volts, amps, watts, percent, tuple(values.items()), status)


class _Stats:
    def __init__(self) -> None:
        self.records = 0
        self.gaps: Counter[str] = Counter()

    def count(self, events: list[Event]) -> list[Event]:
        for event in events:
            if isinstance(event, Sample):
                self.records += 1
            else:
                self.gaps[event.reason] += event.count
        return events


class _LineParser:
    """Splits bytes into text lines; subclasses give each line a meaning."""

    def __init__(self, profile: MonitorProfile) -> None:
        self.profile = profile
        self.builder = RecordBuilder(profile)
        self.stats = _Stats()
        self._buffer = b""
        self._ignore = [re.compile(p) for p in profile.framing.ignore]

    def feed(self, data: bytes, t_mono: float, t_wall: float) -> list[Event]:
        events: list[Event] = []
        buffer = self._buffer + data if self._buffer else data
        lines = buffer.split(b"\n")
        self._buffer = lines.pop()
        if len(self._buffer) > MAX_LINE:
            events.append(Gap(t_mono, t_wall, "garbled", f"{len(self._buffer)} bytes without a line end",
                              len(self._buffer)))
            self._buffer = b""
        self.lines(lines, t_mono, t_wall, events)
        return self.stats.count(events)

    def lines(self, lines: list[bytes], t_mono: float, t_wall: float, events: list[Event]) -> None:
        for raw in lines:
            self.line(raw, t_mono, t_wall, events)

    def finish(self, t_mono: float, t_wall: float) -> list[Event]:
        """End of stream: a partial last line is reported, not silently dropped."""
        events: list[Event] = []
        if self._buffer.strip():
            events.append(Gap(t_mono, t_wall, "truncated", f"the stream ended mid-line ({len(self._buffer)} bytes)",
                              len(self._buffer)))
        self._buffer = b""
        events.extend(self.end(t_mono, t_wall))
        return self.stats.count(events)

    def end(self, t_mono: float, t_wall: float) -> list[Event]:
        return []

    def ignored(self, text: str) -> bool:
        return any(p.search(text) for p in self._ignore)

    def line(self, raw: bytes, t_mono: float, t_wall: float, events: list[Event]) -> None:
        raise NotImplementedError

    @staticmethod
    def decode(raw: bytes) -> str:
        return raw.decode("utf-8", errors="replace").strip()


def _scaled(spec: FieldSpec, number: str, unit: str) -> float | None:
    """The value in SI, or ``None`` when the unit is not one the profile knows."""
    value = float(number)
    if spec.units:
        if unit in spec.units:
            return value * spec.units[unit]
        if unit == "" and "" in spec.units:
            return value * spec.units[""]
        return None
    if unit:
        return None
    return _plausible(spec, value * spec.scale, value)


def _plausible(spec: FieldSpec, value: float, raw: float) -> float:
    if spec.plausible and spec.alt_scale is not None and not spec.plausible[0] <= value <= spec.plausible[1]:
        return raw * spec.alt_scale
    return value


class LabelledLinesParser(_LineParser):
    """``lines``: each line is a record of ``Label: value unit`` pairs (INA260 simpletest)."""

    def __init__(self, profile: MonitorProfile) -> None:
        super().__init__(profile)
        self._fields = [(spec, [re.compile(r"(?:^|[\s,;|])" + re.escape(label) + r"\s*[:=]?\s*" + _NUMBER
                                           + r"\s*" + _UNIT) for label in spec.labels])
                        for spec in profile.fields]

    def line(self, raw: bytes, t_mono: float, t_wall: float, events: list[Event]) -> None:
        text = self.decode(raw)
        if not text or self.ignored(text):
            return
        values: dict[str, float] = {}
        for spec, patterns in self._fields:
            for pattern in patterns:
                match = pattern.search(text)
                if match:
                    value = _scaled(spec, match.group(1), match.group(2))
                    if value is None:
                        events.append(Gap(t_mono, t_wall, "garbled", f"unknown unit {match.group(2)!r} for "
                                          f"{spec.name} in {text[:80]!r}"))
                        return
                    values[spec.name] = value
                    break
        if not values:
            events.append(Gap(t_mono, t_wall, "garbled", f"unrecognised line {text[:80]!r}"))
            return
        events.append(self.builder.build(values, "", t_mono, t_wall))


class LabelledBlocksParser(_LineParser):
    """``blocks``: labelled lines gathered until a blank line, or until a label repeats
    (firmwares that print no blank line). A block with no recognised field is not a record."""

    def __init__(self, profile: MonitorProfile) -> None:
        super().__init__(profile)
        self._patterns: list[tuple[FieldSpec, int, re.Pattern[str]]] = []
        for spec in profile.fields:
            for rank, label in enumerate(spec.labels):
                self._patterns.append((spec, rank, re.compile(r"^\s*" + re.escape(label) + r"\s*:\s*" + _NUMBER
                                                              + r"\s*" + _UNIT + r"\s*$")))
        self._block: dict[str, tuple[int, float]] = {}
        self._labels_seen: set[str] = set()

    def line(self, raw: bytes, t_mono: float, t_wall: float, events: list[Event]) -> None:
        text = self.decode(raw)
        if not text:
            self._flush(t_mono, t_wall, events)
            return
        if self.ignored(text):
            return
        label = text.split(":", 1)[0].strip()
        if label in self._labels_seen:
            self._flush(t_mono, t_wall, events)
        matched = False
        for spec, rank, pattern in self._patterns:
            match = pattern.match(text)
            if not match:
                continue
            value = _scaled(spec, match.group(1), match.group(2))
            if value is None:
                events.append(Gap(t_mono, t_wall, "garbled", f"unknown unit {match.group(2)!r} for {spec.name} "
                                  f"in {text[:80]!r}"))
                return
            matched = True
            best = self._block.get(spec.name)
            if best is None or rank <= best[0]:
                self._block[spec.name] = (rank, value)
        if matched:
            self._labels_seen.add(label)
        else:
            events.append(Gap(t_mono, t_wall, "garbled", f"unrecognised line {text[:80]!r}"))

    def _flush(self, t_mono: float, t_wall: float, events: list[Event]) -> None:
        if self._block:
            values = {name: value for name, (_, value) in self._block.items()}
            events.append(self.builder.build(values, "", t_mono, t_wall))
        self._block = {}
        self._labels_seen = set()

    def end(self, t_mono: float, t_wall: float) -> list[Event]:
        events: list[Event] = []
        self._flush(t_mono, t_wall, events)
        return events


class KeyValueParser(_LineParser):
    """``keyvalue``: request/response replies ``key: value`` (the PiSugar server).

    Replies are gathered until the ``record_end`` key's reply completes a record. Button
    events and other ``ignore`` lines are dropped; ``errors`` lines (``Invalid request.``)
    become gaps; a bare number answers ``bare_number_key`` (old servers).
    """

    def __init__(self, profile: MonitorProfile) -> None:
        super().__init__(profile)
        self._by_label = {label: spec for spec in profile.fields for label in spec.labels}
        self._errors = [re.compile(p) for p in profile.framing.errors]
        self._number = re.compile(_NUMBER + r"$")
        self._values: dict[str, float] = {}
        self._status = ""

    def line(self, raw: bytes, t_mono: float, t_wall: float, events: list[Event]) -> None:
        text = self.decode(raw)
        if not text or self.ignored(text):
            return
        if any(p.search(text) for p in self._errors):
            events.append(Gap(t_mono, t_wall, "device_error", f"the device answered {text[:80]!r}"))
            return
        framing = self.profile.framing
        if ":" in text:
            key, value_text = (part.strip() for part in text.split(":", 1))
        elif framing.bare_number_key and self._number.match(text):
            key, value_text = framing.bare_number_key, text
        else:
            events.append(Gap(t_mono, t_wall, "garbled", f"unrecognised reply {text[:80]!r}"))
            return
        spec = self._by_label.get(key)
        if spec is not None:
            if spec.text:
                self._status = value_text
            else:
                match = self._number.match(value_text)
                if not match:
                    events.append(Gap(t_mono, t_wall, "garbled", f"{key}: expected a number, got {value_text[:40]!r}"))
                    return
                raw_value = float(match.group(1))
                self._values[spec.name] = _plausible(spec, raw_value * spec.scale, raw_value)
        if key == framing.record_end:
            if self._values:
                events.append(self.builder.build(self._values, self._status, t_mono, t_wall))
            self._values = {}
            self._status = ""


class CsvParser(_LineParser):
    """``csv``: a header naming the columns, then one record per row; ``#`` lines are comments.

    A repeated header (the device restarted) is read again. Rows are split with ``str.split``,
    not the csv module: monitors do not quote, and this is the path that must parse
    ≥ 200,000 lines/s.
    """

    def __init__(self, profile: MonitorProfile) -> None:
        super().__init__(profile)
        framing: Framing = profile.framing
        self._comment = framing.comment.encode()
        self._delimiter = framing.delimiter.encode()
        self._columns: list[tuple[str, int, float]] | None = None
        self._width = 0
        if not framing.header:
            self._set_columns([str(i) for i in range(max(int(s.column) for s in profile.fields) + 1)])
        self._names = {spec.column for spec in profile.fields}

    def _set_columns(self, header: list[str]) -> bool:
        index = {name.strip(): i for i, name in enumerate(header)}
        columns = [(spec.name, index[spec.column], spec.scale) for spec in self.profile.fields
                   if spec.column in index]
        if not columns:
            return False
        self._columns = columns
        self._width = max(i for _, i, _ in columns) + 1
        return True

    def lines(self, lines: list[bytes], t_mono: float, t_wall: float, events: list[Event]) -> None:
        """The fast path: data rows inline; headers, comments and bad rows go to :meth:`line`."""
        build = self.builder.build
        delimiter = self._delimiter
        append = events.append
        for raw in lines:
            columns = self._columns
            if columns is not None:
                cells = raw.split(delimiter)
                if len(cells) >= self._width:
                    try:
                        values = {name: float(cells[i]) * scale for name, i, scale in columns}
                    except ValueError:
                        pass
                    else:
                        append(build(values, "", t_mono, t_wall))
                        continue
            self.line(raw, t_mono, t_wall, events)

    def line(self, raw: bytes, t_mono: float, t_wall: float, events: list[Event]) -> None:
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if not raw or (self._comment and raw.startswith(self._comment)):
            return
        columns = self._columns
        text = self.decode(raw)
        names = [c.strip() for c in text.split(self._delimiter.decode())]
        if self.profile.framing.header and set(names) & self._names and self._set_columns(names):
            return
        if self.ignored(text):
            return
        reason = "garbled" if columns is not None else "no_header"
        events.append(Gap(t_mono, t_wall, reason, f"unreadable row {text[:80]!r}"))


class BinaryParser:
    """``binary``: fixed-length frames with a sync word (the model id) and an end marker.

    On a bad sync or end marker the parser drops one byte and searches again (sigrok's
    re-sync), so one slip never turns the rest of a capture into garbage.
    """

    def __init__(self, profile: MonitorProfile) -> None:
        self.profile = profile
        self.builder = RecordBuilder(profile)
        self.stats = _Stats()
        f = profile.framing
        self._f = f
        self._variants = {v.sync_value: v for v in f.variants}
        self._sync_bytes = [v.sync_value.to_bytes(f.sync_size, "big") for v in f.variants]
        self._buffer = bytearray()

    def feed(self, data: bytes, t_mono: float, t_wall: float) -> list[Event]:
        f = self._f
        buf = self._buffer
        buf += data
        events: list[Event] = []
        skipped = 0
        while len(buf) - f.sync_offset >= f.sync_size:
            sync = int.from_bytes(buf[f.sync_offset:f.sync_offset + f.sync_size], "big")
            variant = self._variants.get(sync)
            if variant is None:
                nexts = [buf.find(s, f.sync_offset + 1) for s in self._sync_bytes]
                nexts = [n - f.sync_offset for n in nexts if n >= 0]
                drop = min(nexts) if nexts else len(buf) - f.sync_offset - f.sync_size + 1
                skipped += drop
                del buf[:drop]
                continue
            if len(buf) < f.length:
                break
            frame = bytes(buf[:f.length])
            if not self._check(frame, variant.check):
                if skipped:
                    events.append(Gap(t_mono, t_wall, "garbled", f"{skipped} bytes before a sync word", skipped))
                    skipped = 0
                events.append(Gap(t_mono, t_wall, "bad_end_marker",
                                  f"{variant.name} frame with a wrong end marker or checksum; re-syncing"))
                del buf[:1]
                continue
            if skipped:
                events.append(Gap(t_mono, t_wall, "garbled", f"{skipped} bytes before a sync word", skipped))
                skipped = 0
            values = {}
            for spec in self.profile.fields:
                raw = int.from_bytes(frame[spec.offset:spec.offset + spec.size], "big", signed=spec.signed)
                values[spec.name] = raw * variant.scales.get(spec.name, spec.scale)
            events.append(self.builder.build(values, variant.name, t_mono, t_wall))
            del buf[:f.length]
        if skipped:
            events.append(Gap(t_mono, t_wall, "garbled", f"{skipped} bytes before a sync word", skipped))
        return self.stats.count(events)

    def _check(self, frame: bytes, check: str) -> bool:
        f = self._f
        if check == "xor":
            x = 0
            for byte in frame[:-1]:
                x ^= byte
            return x == frame[-1]
        return int.from_bytes(frame[f.end_offset:f.end_offset + f.end_size], "big") == f.end_value

    def finish(self, t_mono: float, t_wall: float) -> list[Event]:
        events: list[Event] = []
        if self._buffer:
            events.append(Gap(t_mono, t_wall, "truncated", f"the stream ended mid-frame ({len(self._buffer)} bytes)",
                              len(self._buffer)))
            self._buffer.clear()
        return self.stats.count(events)


def decode_sysfs(profile: MonitorProfile, files: Mapping[str, str], t_mono: float, t_wall: float) -> Event:
    """One record from the text of a power_supply folder's files (file name → content)."""
    values: dict[str, float] = {}
    status = ""
    for spec in profile.fields:
        text = files.get(spec.file or "")
        if text is None:
            continue
        text = text.strip()
        if spec.text:
            status = text
            continue
        try:
            values[spec.name] = float(text) * spec.scale
        except ValueError:
            return Gap(t_mono, t_wall, "garbled", f"{spec.file}: expected a number, got {text[:40]!r}")
    if not values:
        return Gap(t_mono, t_wall, "garbled", "none of the profile's files could be read")
    return RecordBuilder(profile).build(values, status, t_mono, t_wall)


_PARSERS = {"lines": LabelledLinesParser, "blocks": LabelledBlocksParser, "keyvalue": KeyValueParser,
            "csv": CsvParser, "binary": BinaryParser}


def make_parser(profile: MonitorProfile) -> LabelledLinesParser | LabelledBlocksParser | KeyValueParser | CsvParser | BinaryParser:
    """A fresh parser for the profile's framing (``sysfs`` has none: see :func:`decode_sysfs`)."""
    if profile.framing.type not in _PARSERS:
        raise ValueError(f"{profile.name}: the {profile.framing.type} framing is read by its transport, not parsed")
    return _PARSERS[profile.framing.type](profile)
