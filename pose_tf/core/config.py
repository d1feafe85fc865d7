"""The one configuration loader: YAML files validated against dataclasses.

Every declarative file of the project (experiment settings under `setting/`, fusion
recipes under `datasets/`, tracker weights) is loaded with `load_config(path, Schema)`.
An unknown key, a missing required key or a value of the wrong type raises a
`PoseTfError` that names the file and the dotted key.
"""
from __future__ import annotations

import dataclasses
import os
import typing
from typing import Any, Type, TypeVar

import yaml

from .errors import PoseTfError, require_file

T = TypeVar("T")


def load_yaml(path) -> Any:
    path = require_file(path, "config file")
    try:
        with open(path, encoding="utf-8") as f:
            return yaml.safe_load(f)
    except yaml.YAMLError as exc:
        raise PoseTfError(f"{path}: not valid YAML: {exc}".splitlines()[0]) from None


def load_config(path, schema: Type[T]) -> T:
    """Load YAML file `path` into dataclass `schema`, validating every key."""
    data = load_yaml(path)
    return from_dict(data if data is not None else {}, schema, source=os.fspath(path))


def from_dict(data: Any, schema: Type[T], source: str = "<dict>", key: str = "") -> T:
    if not isinstance(data, dict):
        raise PoseTfError(f"{source}: {key or 'top level'} must be a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(schema)
    fields = {f.name: f for f in dataclasses.fields(schema)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        where = f"{key}.{unknown[0]}" if key else unknown[0]
        raise PoseTfError(f"{source}: unknown key {where!r} (allowed: {', '.join(sorted(fields))})")
    values = {}
    for name, f in fields.items():
        dotted = f"{key}.{name}" if key else name
        if name in data:
            values[name] = _convert(data[name], hints[name], source, dotted)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise PoseTfError(f"{source}: missing required key {dotted!r}")
    obj = schema(**values)
    check = getattr(obj, "validate", None)
    if check is not None:
        try:
            check()
        except (ValueError, AssertionError) as exc:
            raise PoseTfError(f"{source}: {exc}") from None
    return obj


def to_dict(obj) -> dict:
    """The inverse of `from_dict`, for writing configs back (e.g. next to a checkpoint)."""
    return dataclasses.asdict(obj)


def _convert(value, hint, source, key):
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Union:  # Optional[X] and unions
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, source, key)
            except PoseTfError as exc:
                errors.append(str(exc))
        raise PoseTfError(errors[0] if errors else f"{source}: bad value for {key!r}")
    if origin is typing.Literal:
        if value not in args:
            raise PoseTfError(f"{source}: {key!r} must be one of {list(args)}, got {value!r}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise PoseTfError(f"{source}: {key!r} must be a list, got {value!r}")
        inner = args[0] if args else Any
        items = [_convert(v, inner, source, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise PoseTfError(f"{source}: {key!r} must be a mapping, got {value!r}")
        vt = args[1] if len(args) > 1 else Any
        return {k: _convert(v, vt, source, f"{key}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(hint):
        return from_dict(value, hint, source, key)
    if hint is Any:
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool):
        if isinstance(value, bool) and hint is not bool:
            raise PoseTfError(f"{source}: {key!r} must be {hint.__name__}, got {value!r}")
        if not isinstance(value, hint):
            raise PoseTfError(f"{source}: {key!r} must be {hint.__name__}, got {value!r}")
        return value
    return value
