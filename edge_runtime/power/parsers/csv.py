"""The ``csv`` framing: a header naming the columns, then one record per row."""

from __future__ import annotations

from ..profiles import Framing, MonitorProfile
from ..samples import Event, Gap
from .lines import LineParser


class CsvParser(LineParser):
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
