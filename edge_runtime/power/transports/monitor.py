"""A profile's parser wired to its transport: raw bytes → parser → events, on the transport's thread."""

from __future__ import annotations

import time
from typing import Callable

from ..parsers import make_parser
from ..profiles import MonitorProfile
from ..samples import Event, Gap
from .command import CommandReader
from .i2c import BusFactory, I2cReader, open_smbus
from .port import ChunkCallback, EventCallback, PortError, PortReader, split_baud
from .sysfs import SysfsReader

Transport = PortReader | SysfsReader | I2cReader | CommandReader


class Monitor:
    """A profile's parser wired to its transport: raw bytes → parser → ``on_events``.

    ``on_raw`` (optional) sees every chunk before parsing, for ``--raw`` captures. Parser and
    callbacks run on the transport's thread. I2C and command profiles read their bus or command,
    unless the URL is a pyserial one (``replay://`` of a raw capture). ``i2c_bus`` opens an I2C bus
    by path (``smbus2.SMBus`` unless given).
    """

    def __init__(self, profile: MonitorProfile, url: str, on_events: EventCallback, *,
                 on_raw: ChunkCallback | None = None, on_end: Callable[[], None] | None = None,
                 baud: int | None = None, backoff: tuple[float, float] = (0.1, 5.0),
                 i2c_bus: BusFactory = open_smbus) -> None:
        self.profile = profile
        self.on_events = on_events
        self.on_raw = on_raw
        self._on_end = on_end
        self.parser = None if profile.transport.type == "sysfs" else make_parser(profile)
        self.transport: Transport
        url = url or profile.transport.default_url
        kind = profile.transport.type
        if kind == "command" and "://" not in url:
            self.url = url
            self.transport = CommandReader(url, profile, self._chunk, self._port_events, backoff=backoff)
            return
        if not url:
            raise PortError(profile.name, "no URL given and the profile names no default: expected PROFILE@URL")
        self.url = url
        if kind == "i2c" and "://" not in url:
            self.transport = I2cReader(url, profile, self._chunk, self._port_events, bus_factory=i2c_bus,
                                       backoff=backoff)
        elif kind == "sysfs":
            self.transport = SysfsReader(url, profile, on_events, period_s=profile.transport.period_s)
        else:
            url, url_baud = split_baud(url)
            self.url = url
            self.transport = PortReader(url, baud or url_baud or profile.transport.baud, self._chunk,
                                        self._port_events, on_end=self._end, requests=profile.transport.requests,
                                        poll_s=profile.transport.poll_s, backoff=backoff)

    def _chunk(self, data: bytes, t_mono: float, t_wall: float) -> None:
        if self.on_raw is not None:
            self.on_raw(data, t_mono, t_wall)
        assert self.parser is not None
        events = self.parser.feed(data, t_mono, t_wall)
        if events:
            self.on_events(events)

    def _port_events(self, events: list[Event]) -> None:
        """A disconnect ends the stream: a partial line or frame from before it must never be
        completed by bytes from after it, so the parser is flushed (and reports it) first."""
        assert self.parser is not None
        if any(isinstance(e, Gap) and e.reason == "disconnected" for e in events):
            events = self.parser.finish(events[0].t_monotonic, events[0].t_wall) + events
        self.on_events(events)

    def _end(self) -> None:
        if self.parser is not None:
            events = self.parser.finish(time.monotonic(), time.time())
            if events:
                self.on_events(events)
        if self._on_end is not None:
            self._on_end()

    def open(self) -> None:
        self.transport.open()

    def start(self) -> None:
        self.transport.start()

    def stop(self) -> None:
        self.transport.stop()

    @property
    def running(self) -> bool:
        return self.transport.running


def parse_monitor_spec(spec: str) -> tuple[str, str]:
    """``PROFILE@URL`` → (profile, url); the URL may be empty for profiles with a default."""
    profile, _, url = spec.partition("@")
    if not profile:
        raise PortError(spec, 'expected PROFILE@URL, like "adafruit-ina219-sketch@/dev/ttyACM0"')
    return profile, url
