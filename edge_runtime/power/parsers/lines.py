"""Text framings: bytes split into lines; ``lines`` (a labelled record per line) and ``blocks``
(labelled lines until a blank line)."""

from __future__ import annotations

import re

from ..profiles import FieldSpec, MonitorProfile
from ..samples import Event, Gap
from .record import NUMBER, UNIT, RecordBuilder, Stats, scaled

MAX_LINE = 4096


class LineParser:
    """Splits bytes into text lines; subclasses give each line a meaning."""

    def __init__(self, profile: MonitorProfile) -> None:
        self.profile = profile
        self.builder = RecordBuilder(profile)
        self.stats = Stats()
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


class LabelledLinesParser(LineParser):
    """``lines``: each line is a record of ``Label: value unit`` pairs (INA260 simpletest)."""

    def __init__(self, profile: MonitorProfile) -> None:
        super().__init__(profile)
        self._fields = [(spec, [re.compile(r"(?:^|[\s,;|])" + re.escape(label) + r"\s*[:=]?\s*" + NUMBER
                                           + r"\s*" + UNIT) for label in spec.labels])
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
                    value = scaled(spec, match.group(1), match.group(2))
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


class BlockParser(LineParser):
    """Lines gathered into one record until a blank line (or until :meth:`block_line` flushes early);
    the end of the stream flushes what is gathered."""

    def line(self, raw: bytes, t_mono: float, t_wall: float, events: list[Event]) -> None:
        text = self.decode(raw)
        if not text:
            self.flush(t_mono, t_wall, events)
        elif not self.ignored(text):
            self.block_line(text, t_mono, t_wall, events)

    def block_line(self, text: str, t_mono: float, t_wall: float, events: list[Event]) -> None:
        raise NotImplementedError

    def flush(self, t_mono: float, t_wall: float, events: list[Event]) -> None:
        raise NotImplementedError

    def end(self, t_mono: float, t_wall: float) -> list[Event]:
        events: list[Event] = []
        self.flush(t_mono, t_wall, events)
        return events


class LabelledBlocksParser(BlockParser):
    """``blocks``: labelled lines gathered until a blank line, or until a label repeats
    (firmwares that print no blank line). A block with no recognised field is not a record."""

    def __init__(self, profile: MonitorProfile) -> None:
        super().__init__(profile)
        self._patterns: list[tuple[FieldSpec, int, re.Pattern[str]]] = []
        for spec in profile.fields:
            for rank, label in enumerate(spec.labels):
                self._patterns.append((spec, rank, re.compile(r"^\s*" + re.escape(label) + r"\s*:\s*" + NUMBER
                                                              + r"\s*" + UNIT + r"\s*$")))
        self._block: dict[str, tuple[int, float]] = {}
        self._labels_seen: set[str] = set()

    def block_line(self, text: str, t_mono: float, t_wall: float, events: list[Event]) -> None:
        label = text.split(":", 1)[0].strip()
        if label in self._labels_seen:
            self.flush(t_mono, t_wall, events)
        matched = False
        for spec, rank, pattern in self._patterns:
            match = pattern.match(text)
            if not match:
                continue
            value = scaled(spec, match.group(1), match.group(2))
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

    def flush(self, t_mono: float, t_wall: float, events: list[Event]) -> None:
        if self._block:
            values = {name: value for name, (_, value) in self._block.items()}
            events.append(self.builder.build(values, "", t_mono, t_wall))
        self._block = {}
        self._labels_seen = set()
