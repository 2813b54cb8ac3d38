"""Transports: the port (:mod:`.port`), sysfs folder (:mod:`.sysfs`), I2C bus (:mod:`.i2c`) or command
(:mod:`.command`, on :mod:`.polled`'s loop) and its reader thread, one object each; :mod:`.monitor`
wires one to its profile's parser.

Ports are opened only through ``serial.serial_for_url``, so ``/dev/ttyUSB0``, ``loop://``,
``socket://``, ``rfc2217://``, ``hwgrep://`` and this package's ``unix://`` and ``replay://``
all work. Each chunk is stamped with ``time.monotonic()`` and ``time.time()`` the moment it
is read, so records carry receive times, not write times.

Threads: ``start()`` spawns one daemon reader thread; every callback (``on_chunk``,
``on_event``, ``on_end``) runs on it and must not block for long. ``stop()`` may be called
from any thread and returns once the thread has ended.
"""

from .command import CommandReader
from .i2c import I2cReader
from .monitor import Monitor, parse_monitor_spec
from .port import PortError, PortReader, open_port, split_baud
from .sysfs import SysfsReader

__all__ = ["CommandReader", "I2cReader", "Monitor", "PortError", "PortReader", "SysfsReader", "open_port", "parse_monitor_spec", "split_baud"]
