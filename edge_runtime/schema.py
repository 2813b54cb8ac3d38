"""Typed records that check themselves on the way in and write themselves on the way out.

One definition serves both sides of a file format: the converter builds a record and calls
:func:`dump`; the runtime calls :meth:`Reader.read` on the parsed JSON or TOML and gets the same
record back, checked. Records are frozen dataclasses; each field's type hint says what is
accepted (``int``, ``float``, ``str``, ``bool``, ``Literal[...]``, ``tuple[X, ...]``,
``dict[str, X]``, ``X | None``, a nested record, ``Any``) and :func:`spec` adds what a type cannot
say: the wording of the expected form, a check, another key name.

Every problem is one :class:`SchemaError` line, ``FILE: dotted.field: what is wrong``, with the
expected form and the value found, and a "did you mean" for a mistyped key or choice.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import types
import typing
from typing import Any, Callable, Literal, TypeVar, Union

from .errors import SchemaError

T = TypeVar("T")
MISSING = dataclasses.MISSING


def spec(expected: str = "", *, check: Callable[[Any], bool] | None = None, default: Any = MISSING,
         default_factory: Any = MISSING, key: str | None = None, from_key: bool = False,
         by_name: bool = False, rest: bool = False) -> Any:
    """A record field with its expected form spelled out for error messages.

    Args:
        expected: how the expected value is described ("a positive integer").
        check: a predicate the converted value must satisfy.
        key: the key in the file, when it differs from the field's name.
        from_key: the field holds the key under which the record sits in a ``dict[str, Record]``
            (not written inside the record).
        by_name: a ``dict[str, Record]`` written as a list of records each carrying ``name``.
        rest: a ``dict[str, Any]`` that collects the keys no other field reads.
    """
    metadata = {"expected": expected, "check": check, "key": key, "from_key": from_key, "by_name": by_name,
                "rest": rest}
    if default_factory is not MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def show(value: Any) -> str:
    """A value as quoted in messages (shortened)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _choice(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if hint is int:
        return "an integer"
    if hint is float:
        return "a number"
    if hint is str:
        return "a string"
    if hint is bool:
        return "true or false"
    if origin is Literal:
        return "one of " + ", ".join(_choice(c) for c in typing.get_args(hint))
    if origin in (tuple, list):
        return "a list"
    if origin is dict or dataclasses.is_dataclass(hint):
        return "an object"
    return "a value"


@functools.cache
def _type_hints(cls: type) -> dict[str, Any]:
    """``cls``'s resolved field types (read-only; resolving them costs more than reading a manifest's values)."""
    return typing.get_type_hints(cls)


class Reader:
    """Reads records out of parsed data, naming ``path`` and the dotted field in every error.

    Args:
        path: the file, for messages.
        error: the :class:`SchemaError` subclass to raise.
        strict: an unknown key is an error (with a "did you mean"); otherwise it is ignored.
    """

    def __init__(self, path: str, error: type[SchemaError] = SchemaError, strict: bool = False) -> None:
        self.path = path
        self.error = error
        self.strict = strict

    def fail(self, where: str | None, message: str) -> SchemaError:
        return self.error(self.path, message, where or None)

    def read(self, cls: type[T], raw: Any, where: str = "", name: str | None = None) -> T:
        """A ``cls`` record from ``raw`` (a dict), every field converted and checked."""
        if not isinstance(raw, dict):
            raise self.fail(where, f"expected an object, got {show(raw)}")
        hints = _type_hints(cls)
        values: dict[str, Any] = {}
        used: set[str] = set()
        rest_field = None
        for f in dataclasses.fields(cls):
            meta = f.metadata
            if meta.get("from_key"):
                values[f.name] = name
                continue
            if meta.get("rest"):
                rest_field = f.name
                continue
            key = meta.get("key") or f.name
            used.add(key)
            at = f"{where}.{key}" if where else key
            expected = meta.get("expected") or _describe(hints[f.name])
            if key not in raw:
                if f.default is not MISSING:
                    values[f.name] = f.default
                elif f.default_factory is not MISSING:
                    values[f.name] = f.default_factory()
                else:
                    raise self.fail(at, f"missing: expected {expected}")
                continue
            value = self.value(hints[f.name], raw[key], at, expected, meta)
            check = meta.get("check")
            if check is not None and value is not None and not check(value):
                raise self.fail(at, f"expected {expected}, got {show(raw[key])}")
            values[f.name] = value
        leftover = [k for k in raw if k not in used]
        if rest_field is not None:
            values[rest_field] = {k: raw[k] for k in leftover}
        elif self.strict and leftover:
            key = leftover[0]
            hint = difflib.get_close_matches(key, sorted(used), n=1)
            tip = f' (did you mean "{hint[0]}"?)' if hint else ""
            raise self.fail(f"{where}.{key}" if where else key, f"unknown key{tip}")
        record = cls(**values)
        validate = getattr(record, "validate", None)
        if validate is not None:
            validate(self, where)
        return record

    def value(self, hint: Any, raw: Any, at: str, expected: str, meta: Any = None) -> Any:
        """``raw`` converted to the type ``hint`` describes."""
        origin = typing.get_origin(hint)
        args = typing.get_args(hint)
        wrong = lambda: self.fail(at, f"expected {expected}, got {show(raw)}")  # noqa: E731
        if hint is Any:
            return raw
        if origin in (Union, types.UnionType):
            if raw is None and type(None) in args:
                return None
            inner = [a for a in args if a is not type(None)]
            return self.value(inner[0], raw, at, expected, meta)
        if hint is bool:
            if not isinstance(raw, bool):
                raise wrong()
            return raw
        if hint is int:
            if isinstance(raw, bool) or not isinstance(raw, int):
                raise wrong()
            return raw
        if hint is float:
            if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw):
                raise wrong()
            return float(raw)
        if hint is str:
            if not isinstance(raw, str):
                raise wrong()
            return raw
        if origin is Literal:
            if raw not in args:
                close = difflib.get_close_matches(str(raw), [str(a) for a in args], n=1)
                tip = f' (did you mean "{close[0]}"?)' if close else ""
                raise self.fail(at, f"expected {expected}, got {show(raw)}{tip}")
            return raw
        if origin is tuple:
            if not isinstance(raw, (list, tuple)):
                raise wrong()
            if len(args) == 2 and args[1] is Ellipsis:
                return tuple(self.value(args[0], v, f"{at}[{i}]", _describe(args[0]), None) for i, v in enumerate(raw))
            if len(raw) != len(args):
                raise wrong()
            return tuple(self.value(a, v, f"{at}[{i}]", _describe(a), None) for i, (a, v) in enumerate(zip(args, raw)))
        if origin is dict:
            if meta and meta.get("by_name"):
                if not isinstance(raw, list):
                    raise wrong()
                records = [self.read(args[1], v, f"{at}[{i}]") for i, v in enumerate(raw)]
                return {r.name: r for r in records}
            if not isinstance(raw, dict):
                raise wrong()
            if dataclasses.is_dataclass(args[1]):
                return {k: self.read(args[1], v, f"{at}.{k}", name=k) for k, v in raw.items()}
            return {k: self.value(args[1], v, f"{at}.{k}", _describe(args[1]), None) for k, v in raw.items()}
        if dataclasses.is_dataclass(hint):
            return self.read(hint, raw, at)
        raise TypeError(f"schema: no reader for {hint!r} at {at}")  # a mistake in a record definition


def dump(record: Any) -> Any:
    """The JSON-ready form of a record (and of what it contains), the inverse of :meth:`Reader.read`."""
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        out: dict[str, Any] = {}
        for f in dataclasses.fields(record):
            meta = f.metadata
            value = getattr(record, f.name)
            if meta.get("from_key"):
                continue
            if meta.get("rest"):
                out.update({k: dump(v) for k, v in value.items()})
                continue
            if meta.get("by_name"):
                out[meta.get("key") or f.name] = [dump(v) for v in value.values()]
                continue
            out[meta.get("key") or f.name] = dump(value)
        return out
    if isinstance(record, dict):
        return {k: dump(v) for k, v in record.items()}
    if isinstance(record, (list, tuple)):
        return [dump(v) for v in record]
    return record
