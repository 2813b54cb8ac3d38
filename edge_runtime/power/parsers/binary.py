"""The ``binary`` framing: fixed-length frames with a sync word (the model id) and an end marker."""

from __future__ import annotations

from ..profiles import MonitorProfile
from ..samples import Event, Gap
from .record import RecordBuilder, Stats, mid_frame


class BinaryParser:
    """``binary``: fixed-length frames with a sync word (the model id) and an end marker.

    On a bad sync or end marker the parser drops one byte and searches again (sigrok's
    re-sync), so one slip never turns the rest of a capture into garbage.
    """

    def __init__(self, profile: MonitorProfile) -> None:
        self.profile = profile
        self.builder = RecordBuilder(profile)
        self.stats = Stats()
        f = profile.framing
        self._f = f
        self._variants = {v.sync: v for v in f.variants}
        self._sync_bytes = [v.sync.to_bytes(f.sync.size, "big") for v in f.variants]
        self._buffer = bytearray()

    def feed(self, data: bytes, t_mono: float, t_wall: float) -> list[Event]:
        f = self._f
        buf = self._buffer
        buf += data
        events: list[Event] = []
        skipped = 0
        while len(buf) - f.sync.offset >= f.sync.size:
            sync = int.from_bytes(buf[f.sync.offset:f.sync.offset + f.sync.size], "big")
            variant = self._variants.get(sync)
            if variant is None:
                nexts = [buf.find(s, f.sync.offset + 1) for s in self._sync_bytes]
                nexts = [n - f.sync.offset for n in nexts if n >= 0]
                drop = min(nexts) if nexts else len(buf) - f.sync.offset - f.sync.size + 1
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
        return int.from_bytes(frame[f.end.offset:f.end.offset + f.end.size], "big") == f.end.value

    def finish(self, t_mono: float, t_wall: float) -> list[Event]:
        return self.stats.count(mid_frame(self._buffer, t_mono, t_wall))
