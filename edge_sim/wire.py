"""What a firmware sends: one record's values encoded as the profile's text template or binary frame,
and deterministic value sources (a battery, or a pattern a capture can be checked against)."""

from __future__ import annotations

from typing import Callable, Mapping

from edge_runtime.power.profiles import MonitorProfile

SHUNT_OHM = 0.1
ValueSource = Callable[[int, float], Mapping[str, float]]


def record_values(volts: float, amps: float, watts: float, percent: float, t: float = 0.0,
                  charge_c: float = 0.0, energy_j: float = 0.0) -> dict[str, float]:
    """Every name a profile's ``[emulate] template`` may use, for one record."""
    return {"voltage_v": volts, "current_a": amps, "power_w": watts, "percent": percent,
            "current_ma": amps * 1e3, "power_mw": watts * 1e3, "shunt_v": amps * SHUNT_OHM,
            "shunt_mv": amps * SHUNT_OHM * 1e3, "t": t, "charge_c": charge_c, "energy_j": energy_j}


def encode_record(profile: MonitorProfile, values: Mapping[str, float], variant: int = 0) -> bytes:
    """One record as the firmware would send it (text template or binary frame)."""
    if profile.framing.type == "binary":
        return encode_frame(profile, values, variant)
    if not profile.emulate_template:
        raise ValueError(f"{profile.name}: the profile has no [emulate] template")
    return profile.emulate_template.format(**values).encode()


def encode_frame(profile: MonitorProfile, values: Mapping[str, float], variant: int = 0) -> bytes:
    """A binary frame of ``profile.framing.variants[variant]`` carrying ``values``."""
    f = profile.framing
    v = f.variants[variant]
    frame = bytearray(f.length)
    frame[f.sync.offset:f.sync.offset + f.sync.size] = v.sync.to_bytes(f.sync.size, "big")
    for spec in profile.fields:
        if spec.name not in values or spec.offset is None:
            continue
        raw = round(values[spec.name] / v.scales.get(spec.name, spec.scale))
        limit = 1 << (8 * spec.size)
        raw = min(max(raw, -(limit >> 1) if spec.signed else 0), (limit >> 1) - 1 if spec.signed else limit - 1)
        frame[spec.offset:spec.offset + spec.size] = raw.to_bytes(spec.size, "big", signed=spec.signed)
    if v.check == "xor":
        x = 0
        for byte in frame[:-1]:
            x ^= byte
        frame[-1] = x
    else:
        frame[f.end.offset:f.end.offset + f.end.size] = f.end.value.to_bytes(f.end.size, "big")
    return bytes(frame)


def header(profile: MonitorProfile) -> bytes:
    """The header line a CSV firmware prints first (empty for other framings)."""
    if profile.framing.type != "csv" or not profile.framing.header:
        return b""
    return (profile.framing.delimiter.join(s.column or "" for s in profile.fields) + "\n").encode()


def pattern_values(seq: int, t: float) -> Mapping[str, float]:
    """Deterministic values from the record number, so a capture can be checked row by row."""
    volts = 3.0 + (seq % 1000) / 1000.0
    amps = 0.1 + (seq % 997) / 10000.0
    return record_values(volts, amps, volts * amps, 50.0, t)


def pattern_check(seq: int, volts: float, amps: float) -> bool:
    """True when a captured (volts, amps) is what :func:`pattern_values` sent as record ``seq``."""
    v = pattern_values(seq, 0.0)
    return abs(volts - v["voltage_v"]) < 5e-4 and abs(amps - v["current_a"]) < 5e-6
