"""The ``registers`` framing: one read of an I2C sensor's registers (INA219, INA260) is one record.

The I2C transport turns each read into a frame, so raw captures (``--raw``) and their replays go
through the same parser as a live bus::

    0xA5 0x5A  n  (register, high byte, low byte) × n

The words are the chip's, big-endian as on the wire. A field's value is its register's word,
two's complement when ``signed``, shifted right by ``shift`` bits, times ``scale``.
"""

from __future__ import annotations

from typing import Mapping

from ..profiles import MonitorProfile
from ..samples import Event, Gap
from .record import RecordBuilder, Stats, mid_frame

MAGIC = b"\xa5\x5a"
MAX_WORDS = 32


def encode_frame(words: Mapping[int, int]) -> bytes:
    """The frame for one read: register → 16-bit word, in the order given."""
    if not 0 < len(words) <= MAX_WORDS:
        raise ValueError(f"a frame holds 1–{MAX_WORDS} registers, got {len(words)}")
    body = bytearray(MAGIC)
    body.append(len(words))
    for register, word in words.items():
        body += bytes((register & 0xFF, (word >> 8) & 0xFF, word & 0xFF))
    return bytes(body)


def field_value(word: int, signed: bool, shift: int, scale: float) -> float:
    """A register word → the field's SI value."""
    if signed and word & 0x8000:
        word -= 0x10000
    return (word >> shift) * scale


class RegistersParser:
    """``registers``: frames of register words → records. Re-synchronises on the magic after garbage."""

    def __init__(self, profile: MonitorProfile) -> None:
        self.profile = profile
        self.builder = RecordBuilder(profile)
        self.stats = Stats()
        framing = profile.framing
        self._overflow = (framing.overflow_register, framing.overflow_mask)
        self._buffer = bytearray()

    def feed(self, data: bytes, t_mono: float, t_wall: float) -> list[Event]:
        buf = self._buffer
        buf += data
        events: list[Event] = []
        while True:
            start = buf.find(MAGIC)
            if start < 0:
                keep = 1 if buf.endswith(MAGIC[:1]) else 0
                if len(buf) > keep:
                    events.append(Gap(t_mono, t_wall, "garbled", f"{len(buf) - keep} bytes without a register frame",
                                      len(buf) - keep))
                    del buf[:len(buf) - keep]
                break
            if start:
                events.append(Gap(t_mono, t_wall, "garbled", f"{start} bytes before a register frame", start))
                del buf[:start]
            if len(buf) < 3:
                break
            count = buf[2]
            if not 0 < count <= MAX_WORDS:
                events.append(Gap(t_mono, t_wall, "garbled", f"a register frame claiming {count} words; re-syncing"))
                del buf[:1]
                continue
            end = 3 + 3 * count
            if len(buf) < end:
                break
            words = {buf[i]: (buf[i + 1] << 8) | buf[i + 2] for i in range(3, end, 3)}
            del buf[:end]
            events.append(self._record(words, t_mono, t_wall))
        return self.stats.count(events)

    def _record(self, words: Mapping[int, int], t_mono: float, t_wall: float) -> Event:
        register, mask = self._overflow
        if mask and register in words and words[register] & mask:
            return Gap(t_mono, t_wall, "out_of_range", f"the sensor flagged an overflow (register 0x{register:02X} = "
                       f"0x{words[register]:04X}): current and power are invalid; the shunt voltage exceeds its range")
        values = {spec.name: field_value(words[spec.register], spec.signed, spec.shift, spec.scale)
                  for spec in self.profile.fields if spec.register in words}
        if not values:
            return Gap(t_mono, t_wall, "garbled", "a register frame without any of the profile's registers")
        return self.builder.build(values, "", t_mono, t_wall)

    def finish(self, t_mono: float, t_wall: float) -> list[Event]:
        return self.stats.count(mid_frame(self._buffer, t_mono, t_wall))
