"""Finding and loading profiles: one TOML file each, by name or by path.

The shipped profiles live in the top-level ``firmware_profiles`` package; ``$EDGE_ADAPTIVE_PROFILES``
(a ``os.pathsep`` list of folders) is searched first, and a path to a ``.toml`` file is always
accepted. The schema is checked completely at load (:mod:`edge_runtime.schema`, strict: an
unknown key is an error with the nearest known key).
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

import firmware_profiles

from ...errors import ProfileError
from ...schema import Reader
from .battery import BatteryProfile
from .board import BoardProfile
from .monitor import MonitorProfile

PROFILE_ENV = "EDGE_ADAPTIVE_PROFILES"
KINDS: dict[str, type] = {"monitor": MonitorProfile, "battery": BatteryProfile, "board": BoardProfile}
Profile = MonitorProfile | BatteryProfile | BoardProfile


@dataclass(frozen=True)
class _Stamp:
    kind: Literal["monitor", "battery", "board"]
    name: str


def parse_profile(path: str, text: str) -> Any:
    """Parse and check one profile's TOML text; ``path`` is only for messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(path, f"not valid TOML: {exc}") from None
    stamp = Reader(path, ProfileError).read(_Stamp, data)
    stem = Path(path).stem
    if stem != stamp.name and Path(path).suffix == ".toml":
        raise ProfileError(path, f'expected "{stem}", the file\'s name, got "{stamp.name}"', "name")
    return Reader(path, ProfileError, strict=True).read(KINDS[stamp.kind], data, name=path)


def shipped_folder() -> Path:
    """The folder of the profiles that come with the package."""
    return Path(firmware_profiles.__file__).resolve().parent


def search_folders() -> list[Path]:
    extra = [Path(p) for p in os.environ.get(PROFILE_ENV, "").split(os.pathsep) if p]
    return extra + [shipped_folder()]


def available(kind: str | None = None) -> dict[str, Path]:
    """Profile name → file, over the search folders (earlier folders win)."""
    found: dict[str, Path] = {}
    for folder in search_folders():
        for file in sorted(folder.glob("*.toml")):
            if file.stem in found:
                continue
            if kind is not None:
                try:
                    data = tomllib.loads(file.read_text(encoding="utf-8"))
                except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
                    continue
                if data.get("kind") != kind:
                    continue
            found[file.stem] = file
    return found


def read_profile(file: Path) -> Any:
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(str(file), f"cannot read: {exc}") from None
    return parse_profile(str(file), text)


def load_profile(name_or_path: str, kind: str) -> Any:
    """Load the profile called ``name_or_path`` (or at that path) and check it is of ``kind``.

    A name is looked up as ``NAME.toml`` in the search folders (the first one found); only when
    that fails are all profiles listed, for the error message.
    """
    expected = KINDS[kind]
    if name_or_path.endswith(".toml") or os.sep in name_or_path:
        file = Path(name_or_path)
        if not file.is_file():
            raise ProfileError(name_or_path, "no such profile file")
        profile = read_profile(file)
        if not isinstance(profile, expected):
            raise ProfileError(str(file), f'expected a {kind} profile (kind = "{kind}")', "kind")
        return profile
    file = next((folder / f"{name_or_path}.toml" for folder in search_folders()
                 if (folder / f"{name_or_path}.toml").is_file()), None)
    if file is not None:
        profile = read_profile(file)
        if isinstance(profile, expected):
            return profile
    choices = available(kind)
    hint = difflib.get_close_matches(name_or_path, list(choices), n=1)
    tip = f' (did you mean "{hint[0]}"?)' if hint else ""
    raise ProfileError(name_or_path, f"no {kind} profile of that name{tip}: expected one of " + ", ".join(sorted(choices)))
