"""An INA219/INA260-style sensor on the board's own I2C bus (``/dev/i2c-N``), through smbus2.

Each period: the conversion-ready register (when the profile names one) and then every register a
field needs are read as 16-bit big-endian words and passed on as one ``registers`` frame
(:func:`~..parsers.registers.encode_frame`), so the parser, ``--raw`` captures and their replays
are the same as for any other monitor. At connect the profile's ``identity`` register is checked
and its ``writes`` (configuration, calibration) are written, again after every reconnect: a sensor
that lost power has lost its calibration.

URL: ``/dev/i2c-1`` or ``/dev/i2c-1?address=0x41`` (the profile's address is the default).
"""

from __future__ import annotations

import errno
import time
import urllib.parse
from typing import Callable, Protocol

from ..parsers import encode_frame
from ..profiles import MonitorProfile
from .polled import PolledReader, ReadingFailed
from .port import ChunkCallback, Clock, EventCallback, PortError



class SMBusLike(Protocol):
    """The part of ``smbus2.SMBus`` a sensor needs (a fake board implements the same)."""

    def read_i2c_block_data(self, i2c_addr: int, register: int, length: int) -> list[int]: ...

    def write_i2c_block_data(self, i2c_addr: int, register: int, data: list[int]) -> None: ...

    def close(self) -> None: ...


BusFactory = Callable[[str], SMBusLike]


def open_smbus(path: str) -> SMBusLike:
    """The real bus: ``smbus2.SMBus`` on the device file."""
    try:
        from smbus2 import SMBus
    except ImportError:
        raise PortError(path, "reading an I2C sensor needs smbus2: pip install smbus2 (it comes with the "
                        "device extra on Linux)") from None
    return SMBus(path)


def parse_i2c_url(url: str, default_address: int) -> tuple[str, int]:
    """``/dev/i2c-1?address=0x41`` → (``/dev/i2c-1``, 0x41); a bare bus number ``1`` means ``/dev/i2c-1``."""
    path, _, query = url.partition("?")
    if path.isdigit():
        path = f"/dev/i2c-{path}"
    address = default_address
    for key, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        if key != "address":
            raise PortError(url, f'unknown option "{key}": an I2C URL takes only "address", like /dev/i2c-1?address=0x41')
        try:
            address = int(value, 0)
        except ValueError:
            address = -1
        if not 0x03 <= address <= 0x77:
            raise PortError(url, f"expected an I2C address from 0x03 to 0x77 like 0x40, got {value!r}")
    return path, address


class I2cReader(PolledReader):
    """Reads a sensor's registers every ``period_s`` and hands each read on as one ``registers`` frame."""

    def __init__(self, url: str, profile: MonitorProfile, on_chunk: ChunkCallback, on_event: EventCallback, *,
                 bus_factory: BusFactory = open_smbus, backoff: tuple[float, float] = (0.1, 5.0),
                 monotonic: Clock = time.monotonic) -> None:
        self.path, self.address = parse_i2c_url(url, profile.transport.address)
        super().__init__(f"{self.path}@0x{self.address:02X}", on_chunk, on_event,
                         period_s=profile.transport.period_s, backoff=backoff, monotonic=monotonic)
        self.profile = profile
        self.bus_factory = bus_factory
        framing = profile.framing
        self.ready = (framing.ready_register, framing.ready_mask) if framing.ready_mask else None
        wanted = [framing.overflow_register] + [spec.register for spec in profile.fields]
        self.registers = list(dict.fromkeys(r for r in wanted if r is not None))
        self._bus: SMBusLike | None = None
        self.stale_s = max(1.0, 10 * self.period_s)
        self._last_ready = 0.0

    def connect(self) -> None:
        try:
            bus = self.bus_factory(self.path)
        except FileNotFoundError:
            raise PortError(self.path, "no such I2C bus (enable I2C with raspi-config, then ls /dev/i2c-*)") from None
        except PermissionError:
            raise PortError(self.path, "permission denied (add yourself to the i2c group: sudo adduser $USER i2c, "
                            "then log in again)") from None
        except OSError as exc:
            raise PortError(self.path, exc.strerror or str(exc)) from None
        try:
            identity = self.profile.transport.identity
            if identity is not None:
                word = self._word(bus, identity.register)
                if word != identity.value:
                    raise PortError(self.url, f"register 0x{identity.register:02X} reads 0x{word:04X}, expected "
                                    f"0x{identity.value:04X}: is this the profile's chip ({self.profile.name})?")
            for write in self.profile.transport.writes:
                bus.write_i2c_block_data(self.address, write.register, [write.value >> 8, write.value & 0xFF])
        except OSError as exc:
            bus.close()
            raise PortError(self.url, f"no answer ({describe(exc)}): check the wiring and the address "
                            "(i2cdetect -y 1 lists them)") from None
        except PortError:
            bus.close()
            raise
        self._bus = bus
        self._last_ready = self.monotonic()

    def read(self) -> bytes | None:
        bus = self._bus
        assert bus is not None
        words: dict[int, int] = {}
        register = -1
        try:
            if self.ready is not None:
                register, mask = self.ready
                word = self._word(bus, register)
                if not word & mask:
                    # no conversion since the last reading (long averaging): nothing new yet, unless this lasts
                    if self.monotonic() - self._last_ready < self.stale_s:
                        return None
                    raise ReadingFailed(f"register 0x{register:02X} has not shown the conversion-ready bit "
                                        f"(0x{mask:04X}) for {self.stale_s:.0f} s; is the sensor in continuous mode?")
                self._last_ready = self.monotonic()
                words[register] = word
            for register in self.registers:
                if register not in words:
                    words[register] = self._word(bus, register)
        except OSError as exc:
            raise ReadingFailed(f"reading register 0x{register:02X} failed ({describe(exc)})") from None
        return encode_frame(words)

    def close(self) -> None:
        if self._bus is not None:
            try:
                self._bus.close()
            except OSError:
                pass
            self._bus = None

    def _word(self, bus: SMBusLike, register: int) -> int:
        high, low = bus.read_i2c_block_data(self.address, register, 2)
        return (high << 8) | low


def describe(exc: OSError) -> str:
    if exc.errno == errno.EREMOTEIO:
        return "[Errno 121] no acknowledge: a loose wire or a wrong address"
    return f"[Errno {exc.errno}] {exc.strerror or exc}"
