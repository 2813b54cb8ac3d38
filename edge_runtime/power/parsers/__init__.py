"""Bytes in, immutable records out. Parsers never see a port (pyserial's Protocol role).

Every parser has ``feed(data, t_monotonic, t_wall) -> list[Event]`` and ``finish(...)``; the times
are when ``data`` was received and stamp every record completed by it. Any chunking of a stream
gives the same records; garbage is counted and reported as :class:`~..samples.Gap` events, and the
parser re-synchronises on the next line or frame. Parsers are not thread-safe: one thread feeds one
parser. One module per framing.
"""

from __future__ import annotations

from ..profiles import MonitorProfile
from .binary import BinaryParser
from .csv import CsvParser
from .keyvalue import KeyValueParser
from .lines import LabelledBlocksParser, LabelledLinesParser
from .rails import RailsParser
from .record import RecordBuilder
from .registers import RegistersParser, encode_frame
from .sysfs import decode_sysfs

Parser = (LabelledLinesParser | LabelledBlocksParser | KeyValueParser | CsvParser | BinaryParser | RegistersParser
          | RailsParser)
PARSERS: dict[str, type] = {"lines": LabelledLinesParser, "blocks": LabelledBlocksParser, "keyvalue": KeyValueParser,
                            "csv": CsvParser, "binary": BinaryParser, "registers": RegistersParser,
                            "rails": RailsParser}

__all__ = ["BinaryParser", "CsvParser", "KeyValueParser", "LabelledBlocksParser", "LabelledLinesParser", "Parser",
           "RailsParser", "RecordBuilder", "RegistersParser", "decode_sysfs", "encode_frame", "make_parser"]


def make_parser(profile: MonitorProfile) -> Parser:
    """A fresh parser for the profile's framing (``sysfs`` has none: see :func:`decode_sysfs`)."""
    if profile.framing.type not in PARSERS:
        raise ValueError(f"{profile.name}: the {profile.framing.type} framing is read by its transport, not parsed")
    return PARSERS[profile.framing.type](profile)
