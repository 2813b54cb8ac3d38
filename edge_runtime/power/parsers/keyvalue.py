"""The ``keyvalue`` framing: request/response replies (the PiSugar server)."""

from __future__ import annotations

import re

from ..profiles import MonitorProfile
from ..samples import Event, Gap
from .lines import LineParser
from .record import NUMBER, plausible


class KeyValueParser(LineParser):
    """``keyvalue``: request/response replies ``key: value`` (the PiSugar server).

    Replies are gathered until the ``record_end`` key's reply completes a record. Button
    events and other ``ignore`` lines are dropped; ``errors`` lines (``Invalid request.``)
    become gaps; a bare number answers ``bare_number_key`` (old servers).
    """

    def __init__(self, profile: MonitorProfile) -> None:
        super().__init__(profile)
        self._by_label = {label: spec for spec in profile.fields for label in spec.labels}
        self._errors = [re.compile(p) for p in profile.framing.errors]
        self._number = re.compile(NUMBER + r"$")
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
                self._values[spec.name] = plausible(spec, raw_value * spec.scale, raw_value)
        if key == framing.record_end:
            if self._values:
                events.append(self.builder.build(self._values, self._status, t_mono, t_wall))
            self._values = {}
            self._status = ""
