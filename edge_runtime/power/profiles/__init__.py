"""Declarative profiles: one TOML file per monitor firmware, battery or board.

A user adds a device by writing one file; the schema (:mod:`.monitor`, :mod:`.battery`, :mod:`.board`)
is checked completely at load, and a mistake is one :class:`~edge_runtime.errors.ProfileError` naming
the file and the dotted field, quoting the expected form, and suggesting the nearest known key.
"""

from ...errors import ProfileError
from .battery import BatteryProfile
from .board import BoardProfile
from .lookup import available, load_profile, parse_profile
from .monitor import FieldSpec, Framing, MonitorProfile

__all__ = ["BatteryProfile", "BoardProfile", "FieldSpec", "Framing", "MonitorProfile", "ProfileError", "available",
           "load_profile", "parse_profile"]
