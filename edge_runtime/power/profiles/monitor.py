"""A power monitor's profile: how to reach it, how its records are framed, where each value is.

The records below are the schema of ``kind = "monitor"`` files (see ``firmware_profiles/README.md``),
read and checked by :mod:`edge_runtime.schema` like every manifest.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, fields
from typing import Literal

from ...schema import Reader, spec

QUANTITIES = ("voltage_v", "current_a", "power_w", "percent")
WHERE_BY_FRAMING = {"lines": "labels", "blocks": "labels", "keyvalue": "labels", "csv": "column",
                    "binary": "offset", "sysfs": "file", "registers": "register", "rails": "labels"}
WHERE_EXAMPLE = {"labels": 'labels = ["Current"]', "column": 'column = "current"', "offset": "offset = 2",
                 "file": 'file = "current_now"', "register": "register = 0x02"}


@dataclass(frozen=True)
class FieldSpec:
    """Where one named value is in a record and how to scale it to SI.

    Text framings use ``labels`` (tried in order) and ``units`` (unit text → factor); ``csv`` uses
    ``column``; ``binary`` uses ``offset``/``size``/``signed``; ``sysfs`` uses ``file``; ``registers``
    uses ``register``/``shift``/``signed`` (a 16-bit word, shifted right, then scaled). ``scale``
    applies when no unit is printed. A value outside ``plausible`` is retried with ``alt_scale``
    (old PiSugar servers print mV where new ones print V).
    """

    name: str = spec(from_key=True)
    labels: tuple[str, ...] = spec('a list of labels like ["Bus Voltage"]', default=())
    units: dict[str, float] = spec("a table of unit → factor to SI like { V = 1.0, mV = 0.001 }",
                                   default_factory=dict)
    scale: float = spec("a number (factor to SI)", default=1.0)
    column: str | None = spec('a CSV header name like "voltage"', default=None)
    offset: int | None = spec("a byte offset (integer ≥ 0)", check=lambda v: v >= 0, default=None)
    size: Literal[1, 2, 4] = spec("1, 2 or 4 (bytes, big-endian)", default=2)
    signed: bool = spec(default=False)
    file: str | None = spec('a sysfs file name like "voltage_now"', default=None)
    plausible: tuple[float, float] | None = spec("[low, high]", default=None)
    alt_scale: float | None = spec(default=None)
    text: bool = spec(default=False)
    register: int | None = spec("a register address (0–255) like 0x02", check=lambda v: 0 <= v <= 255, default=None)
    shift: int = spec("bits to shift the register word right (0–15)", check=lambda v: 0 <= v <= 15, default=0)

    def validate(self, reader: Reader, where: str) -> None:
        for unit, factor in self.units.items():
            if factor == 0:
                raise reader.fail(f"{where}.units.{unit}", f"expected a non-zero number (factor to SI), got {factor}")


@dataclass(frozen=True)
class BinaryVariant:
    """A model of a binary meter, recognised by its sync value, with its own scales."""

    sync: int = spec("the model id at the sync offset, like 0x0963")
    name: str = spec('a model name like "UM24C"')
    scales: dict[str, float] = spec("a table of field → factor to SI", default_factory=dict)
    check: Literal["end_marker", "xor"] = spec(default="end_marker")


@dataclass(frozen=True)
class Place:
    """Where a marker sits in a binary frame: byte offset, size, and (for the end marker) its value."""

    offset: int = spec("a byte offset", default=0)
    size: Literal[1, 2, 4] = spec("1, 2 or 4", default=2)
    value: int = spec("the end marker as an integer like 0xFFF1", default=0)


@dataclass(frozen=True)
class Framing:
    """How records are delimited in the byte stream; the keys after ``ignore`` belong to one type each."""

    type: Literal["lines", "blocks", "csv", "binary", "keyvalue", "sysfs", "registers", "rails"]
    ignore: tuple[str, ...] = spec('a list of regular expressions like ["^Hello!"]', default=())
    # csv
    header: bool = spec(default=True)
    comment: str = spec('a comment prefix like "#"', default="#")
    delimiter: str = spec('one character like ","', check=lambda v: len(v) == 1, default=",")
    # binary
    length: int = spec("the frame length in bytes", default=0)
    sync: Place = spec(default_factory=Place)
    end: Place = spec(default_factory=Place)
    variants: tuple[BinaryVariant, ...] = spec('a list of tables like [[framing.variants]] sync = 0x0963 name = "UM24C"',
                                               default=())
    # keyvalue
    record_end: str = spec('the key whose reply completes a record, like "battery"', default="")
    bare_number_key: str = spec("the key a bare-number reply answers", default="")
    errors: tuple[str, ...] = spec('a list of regular expressions like ["^Invalid request"]', default=())
    # registers
    ready_register: int | None = spec("the register holding the conversion-ready bit", default=None)
    ready_mask: int = spec("the conversion-ready bit's mask, like 0x0002", default=0)
    overflow_register: int | None = spec("the register holding the overflow bit", default=None)
    overflow_mask: int = spec("the overflow bit's mask, like 0x0001", default=0)
    # rails
    voltage_rail: str = spec('the rail whose volts the record reports, like "EXT5V_V"', default="")
    loss_factor: float = spec("the factor from the rails' watts to the input's (≥ 1)", check=lambda v: v >= 1,
                              default=1.0)
    loss_w: float = spec("watts the rails do not see, added after loss_factor (≥ 0)", check=lambda v: v >= 0,
                         default=0.0)

    OWNERS = {"header": "csv", "comment": "csv", "delimiter": "csv", "length": "binary", "sync": "binary",
              "end": "binary", "variants": "binary", "record_end": "keyvalue", "bare_number_key": "keyvalue",
              "errors": "keyvalue", "ready_register": "registers", "ready_mask": "registers",
              "overflow_register": "registers", "overflow_mask": "registers", "voltage_rail": "rails",
              "loss_factor": "rails", "loss_w": "rails"}

    def validate(self, reader: Reader, where: str) -> None:
        defaults = Framing(self.type)
        for f in fields(self):
            owner = self.OWNERS.get(f.name)
            if owner and owner != self.type and getattr(self, f.name) != getattr(defaults, f.name):
                raise reader.fail(f"{where}.{f.name}", f"applies to a {owner} framing, this one is {self.type}")
        for key in ("ignore", "errors"):
            for pattern in getattr(self, key):
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise reader.fail(f"{where}.{key}", f"not a regular expression ({exc}): {pattern!r}") from None
        if self.type == "binary":
            if not self.variants:
                raise reader.fail(f"{where}.variants", "expected at least one [[framing.variants]] with the sync value "
                                  "of a model")
            if self.length <= 0:
                raise reader.fail(f"{where}.length", "missing: expected the frame length in bytes")
            if self.end.offset + self.end.size > self.length:
                raise reader.fail(f"{where}.end.offset", f"the end marker must lie inside the {self.length}-byte frame")
        for flag in ("ready", "overflow"):
            if getattr(self, f"{flag}_mask") and getattr(self, f"{flag}_register") is None:
                raise reader.fail(f"{where}.{flag}_register", f"missing: {flag}_mask needs the register it is read "
                                  "from, like 0x02")
        if self.type == "keyvalue" and not self.record_end:
            raise reader.fail(f"{where}.record_end", 'missing: expected the key whose reply completes a record, like '
                              '"battery"')


def decode_request(text: str) -> bytes:
    """A request as written in a profile: text with escapes (``get battery\\n``), or ``hex:F0`` for bytes."""
    if text.startswith("hex:"):
        return bytes.fromhex(text[4:])
    return text.encode().decode("unicode_escape").encode("latin-1")


@dataclass(frozen=True)
class RegisterWord:
    """A 16-bit register's value: written when an I2C sensor is opened (its configuration, its
    calibration), or read to check which chip answers (a manufacturer id)."""

    register: int = spec("a register address like 0x05", check=lambda v: 0 <= v <= 255)
    value: int = spec("a 16-bit word like 4096", check=lambda v: 0 <= v <= 0xFFFF)


@dataclass(frozen=True)
class Transport:
    """How to reach the monitor: a pyserial URL (serial or socket), a sysfs folder, an I2C bus
    (``/dev/i2c-1``, with the sensor's ``address``) or a command run every period (``command``).

    ``baud`` is the default only; ``?baud=`` in the URL or ``--baud`` overrides it. ``requests`` are
    sent every ``poll_s`` for request/response devices.
    """

    type: Literal["serial", "socket", "sysfs", "i2c", "command"]
    baud: int = spec("a baud rate like 115200", check=lambda v: v > 0, default=115200)
    default_url: str = spec('a default URL or path like "socket://localhost:8423"', key="url", default="")
    period_s: float = spec("the expected seconds between records (> 0)", check=lambda v: v > 0, default=1.0)
    poll_s: float = spec("seconds between requests (> 0)", default=0.0)
    request_texts: tuple[str, ...] = spec('a list of requests like ["get battery\\n"] or ["hex:f0"]', key="requests",
                                          default=())
    address: int = spec("the sensor's I2C address like 0x40", check=lambda v: 0x03 <= v <= 0x77, default=0x40)
    writes: tuple[RegisterWord, ...] = spec("a list of { register = 0x05, value = 4096 }", default=())
    identity: RegisterWord | None = spec("{ register = 0xFE, value = 0x5449 }: what the chip must answer",
                                         default=None)
    command: tuple[str, ...] = spec('the command and its arguments, like ["vcgencmd", "pmic_read_adc"]', default=())

    @functools.cached_property
    def requests(self) -> tuple[bytes, ...]:
        return tuple(decode_request(text) for text in self.request_texts)

    def validate(self, reader: Reader, where: str) -> None:
        for text in self.request_texts:
            try:
                decode_request(text)
            except ValueError:
                raise reader.fail(f"{where}.requests", f'expected "hex:" followed by hex digits like "hex:f0", got '
                                  f'"{text}"') from None
        if self.request_texts and self.poll_s <= 0:
            raise reader.fail(f"{where}.poll_s", "expected seconds between requests (> 0) when requests are given")


@dataclass(frozen=True)
class CurrentSign:
    sign: Literal["positive_is_discharge", "negative_is_discharge", "from_status"] = "positive_is_discharge"


@dataclass(frozen=True)
class Emulation:
    template: str = spec("a format string over the field names", default="")


@dataclass(frozen=True)
class MonitorProfile:
    """A monitor firmware's profile. ``path`` is the file it came from."""

    kind: Literal["monitor"]
    name: str
    transport: Transport
    framing: Framing
    path: str = spec(from_key=True)
    field_table: dict[str, FieldSpec] = spec('tables like [fields.voltage_v] labels = ["Bus Voltage"]', key="fields",
                                             default_factory=dict)
    description: str = spec("a sentence", default="")
    source: str = spec("where the format is defined", default="")
    current: CurrentSign = spec(default_factory=CurrentSign)
    emulate: Emulation = spec(default_factory=Emulation)

    @property
    def fields(self) -> tuple[FieldSpec, ...]:
        return tuple(self.field_table.values())

    @property
    def current_sign(self) -> str:
        return self.current.sign

    @property
    def emulate_template(self) -> str:
        return self.emulate.template

    def validate(self, reader: Reader, where: str) -> None:
        framing = self.framing.type
        if (framing == "sysfs") != (self.transport.type == "sysfs"):
            raise reader.fail("framing.type", 'a "sysfs" framing goes with a "sysfs" transport and only with it')
        if (framing == "registers") != (self.transport.type == "i2c"):
            raise reader.fail("framing.type", 'a "registers" framing goes with an "i2c" transport and only with it')
        if self.transport.type == "command" and not self.transport.command:
            raise reader.fail("transport.command", 'missing: a "command" transport runs a command, like '
                              '["vcgencmd", "pmic_read_adc"]')
        if framing == "rails" and not self.framing.voltage_rail:
            raise reader.fail("framing.voltage_rail", 'missing: expected the rail whose volts the record reports, '
                              'like "EXT5V_V"')
        need = WHERE_BY_FRAMING[framing]
        for f in self.fields if framing != "rails" else ():  # rails: every rail the command prints
            if getattr(f, need) in (None, ()):
                raise reader.fail(f"fields.{f.name}.{need}", f'missing: a "{framing}" framing needs each field to say '
                                  f"where it is, like {WHERE_EXAMPLE[need]}")
        names = set(self.field_table)
        if framing != "rails" and not names & set(QUANTITIES):
            raise reader.fail("fields", "expected at least one of the fields " + ", ".join(QUANTITIES))
        if framing == "keyvalue" and self.framing.record_end not in {label for f in self.fields for label in f.labels}:
            raise reader.fail("framing.record_end", f'"{self.framing.record_end}" is not the label of any field')
        if self.current_sign == "from_status" and "status" not in names:
            raise reader.fail("current.sign", 'sign "from_status" needs a field named "status"')
