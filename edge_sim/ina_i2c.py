"""INA219 and INA260 chips behind an ``smbus2.SMBus``-shaped object: the I2C side of a Pi, emulated.

Each chip keeps the datasheet's register map and arithmetic: the INA219's current and power
registers stay 0 until the calibration register is written (Current = Shunt × Cal / 4096,
Power = Current × Bus / 5000), its conversion-ready bit is cleared by reading power and its overflow
bit set when the shunt voltage leaves its range; the INA260's conversion-ready flag is cleared by
reading the mask/enable register. ``power_cycle()`` resets a chip (calibration lost) and
``fail_next()`` makes the next transfers fail with ``[Errno 121]`` as a loose wire does. The values
come from a source ``() -> (volts, amps)`` read at each conversion.

Thread rules: one lock per bus; a transfer and a test's ``power_cycle`` may come from any thread.
"""

from __future__ import annotations

import errno
import threading
import time
from typing import Callable

Source = Callable[[], tuple[float, float]]

CONVERSION_S = 0.00106  # one 12-bit shunt and one bus conversion (532 µs each)


def to_word(value: int) -> int:
    """A signed integer → its 16-bit two's complement word (clamped to the register's range)."""
    return max(-0x8000, min(0x7FFF, value)) & 0xFFFF


def from_word(word: int) -> int:
    return word - 0x10000 if word & 0x8000 else word


class Ina219:
    """An INA219 with a shunt of ``shunt_ohm``."""

    RESET = {0x00: 0x399F, 0x05: 0x0000}
    PGA_RANGE_V = {0: 0.04, 1: 0.08, 2: 0.16, 3: 0.32}  # config bits 12-11

    def __init__(self, source: Source, shunt_ohm: float = 0.1, clock: Callable[[], float] = time.monotonic) -> None:
        self.source, self.shunt_ohm, self.clock = source, shunt_ohm, clock
        self.power_cycle()

    def power_cycle(self) -> None:
        self.config, self.calibration = self.RESET[0x00], self.RESET[0x05]
        self.shunt = self.bus = self.current = self.power = 0
        self.ready = self.overflow = False
        self.converted_at = -1.0

    def convert(self) -> None:
        """A conversion, if the chip is in a continuous mode and one has finished since the last."""
        now = self.clock()
        if self.config & 0x7 not in (5, 6, 7) or now - self.converted_at < CONVERSION_S:
            return
        self.converted_at = now
        volts, amps = self.source()
        shunt_v = amps * self.shunt_ohm
        limit = self.PGA_RANGE_V[(self.config >> 11) & 0x3]
        self.shunt = round(max(-limit, min(limit, shunt_v)) / 1e-5)
        self.bus = max(0, min(0x1FFF, round(volts / 0.004)))
        self.current = int(self.shunt * self.calibration / 4096)
        self.power = int(self.current * self.bus / 5000)
        self.overflow = abs(shunt_v) > limit or abs(self.current) > 0x7FFF
        self.ready = True

    def read(self, register: int) -> int:
        self.convert()
        if register == 0x00:
            return self.config
        if register == 0x01:
            return to_word(self.shunt)
        if register == 0x02:
            return (self.bus << 3) | (0x2 if self.ready else 0) | (0x1 if self.overflow else 0)
        if register == 0x03:
            self.ready = False
            return to_word(self.power)
        if register == 0x04:
            return to_word(self.current)
        if register == 0x05:
            return self.calibration
        raise OSError(errno.EREMOTEIO, "Remote I/O error")  # no such register: the chip NAKs

    def write(self, register: int, word: int) -> None:
        if register == 0x00:
            if word & 0x8000:  # the reset bit
                self.power_cycle()
            else:
                self.config = word
        elif register == 0x05:
            self.calibration = word & 0xFFFE  # bit 0 is read-only zero
        else:
            raise OSError(errno.EREMOTEIO, "Remote I/O error")


class Ina260:
    """An INA260 (the shunt is inside: 1.25 mA, 1.25 mV and 10 mW per bit)."""

    def __init__(self, source: Source, clock: Callable[[], float] = time.monotonic) -> None:
        self.source, self.clock = source, clock
        self.power_cycle()

    def power_cycle(self) -> None:
        self.config, self.mask_enable = 0x6127, 0x0000
        self.current = self.bus = self.power = 0
        self.converted_at = -1.0

    def convert(self) -> None:
        now = self.clock()
        if self.config & 0x7 not in (5, 6, 7) or now - self.converted_at < 2 * 0.0011:
            return
        self.converted_at = now
        volts, amps = self.source()
        self.current = round(amps / 0.00125)
        self.bus = max(0, min(0x7FFF, round(volts / 0.00125)))
        self.power = round(abs(volts * amps) / 0.01)
        overflow = abs(self.current) > 0x7FFF or self.power > 0xFFFF
        self.mask_enable = (self.mask_enable & ~0x000C) | 0x0008 | (0x0004 if overflow else 0)

    def read(self, register: int) -> int:
        self.convert()
        if register == 0x06:
            word, self.mask_enable = self.mask_enable, self.mask_enable & ~0x0008
            return word
        words = {0x00: self.config, 0x01: to_word(self.current), 0x02: min(self.bus, 0xFFFF),
                 0x03: min(self.power, 0xFFFF), 0xFE: 0x5449, 0xFF: 0x2270}
        if register not in words:
            raise OSError(errno.EREMOTEIO, "Remote I/O error")
        return words[register]

    def write(self, register: int, word: int) -> None:
        if register == 0x00:
            if word & 0x8000:
                self.power_cycle()
            else:
                self.config = word
        elif register == 0x06:
            self.mask_enable = (self.mask_enable & 0x000F) | (word & 0xFC13)
        else:
            raise OSError(errno.EREMOTEIO, "Remote I/O error")


Chip = Ina219 | Ina260


class FakeBus:
    """``smbus2.SMBus``'s block transfers over emulated chips at their addresses.

    Use as ``Monitor(..., i2c_bus=bus.opener)``: ``opener(path)`` returns the bus, or raises
    ``FileNotFoundError`` for a path other than ``path`` (a bus that does not exist).
    """

    def __init__(self, chips: dict[int, Chip], path: str = "/dev/i2c-1") -> None:
        self.chips = chips
        self.path = path
        self.lock = threading.Lock()
        self.failures = 0
        self.opened = 0
        self.closed = 0
        self.transfers = 0

    def opener(self, path: str) -> "FakeBus":
        if path != self.path:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        self.opened += 1
        return self

    def fail_next(self, count: int) -> None:
        """The next ``count`` transfers fail with [Errno 121] (no acknowledge)."""
        with self.lock:
            self.failures = count

    def _chip(self, address: int) -> Chip:
        self.transfers += 1
        if self.failures:
            self.failures -= 1
            raise OSError(errno.EREMOTEIO, "Remote I/O error")
        chip = self.chips.get(address)
        if chip is None:
            raise OSError(errno.EREMOTEIO, "Remote I/O error")
        return chip

    def read_i2c_block_data(self, i2c_addr: int, register: int, length: int) -> list[int]:
        with self.lock:
            word = self._chip(i2c_addr).read(register)
        return [(word >> 8) & 0xFF, word & 0xFF][:length]

    def write_i2c_block_data(self, i2c_addr: int, register: int, data: list[int]) -> None:
        with self.lock:
            self._chip(i2c_addr).write(register, (data[0] << 8) | data[1])

    def close(self) -> None:
        self.closed += 1
