"""One way to read settings: YAML plus ``--set a.b=c`` overrides into typed config dataclasses.

Each configurable part of the engine and the trainer (a stage, a source, the dedup phase, a
training run) describes its settings as a dataclass next to the code that uses them. This
module turns mappings into those dataclasses, for the engine and the trainer alike (the
trainer never imports ``dataengine``, so the loader lives in the shared ``schemas``):

- ``from_mapping(cls, data, where)`` builds ``cls`` from a mapping, reading the annotations
  for real (``typing.get_type_hints``): ``bool``, ``int``, ``float`` (an int is taken),
  ``str`` (a path too), ``None``, unions and ``Optional``, ``list``/``tuple``/``dict`` of
  anything, nested dataclasses, ``Literal``, enums, ``Any``, and other classes by ``isinstance``.
- ``parse_overrides`` reads ``KEY=VALUE`` strings (the key dotted, the value YAML) and
  ``set_key`` puts one into a loaded mapping; ``read_yaml`` reads a file with ``yaml.safe_load``;
  ``load`` does all three for a whole file.

Every problem is a ``ConfigError`` whose message starts with the full dotted key
(``model.dim: expected an integer, got 'big'``, ``stages[0] (fetch_images): unknown parameter
'timeout_s'; known: ...``) and says what was expected.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import functools
import os
import re
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePath
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints

import yaml

__all__ = ["ConfigError", "convert", "expected", "from_mapping", "join_key", "load", "parse_overrides", "read_yaml",
           "set_key", "unknown"]

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration file or value is wrong; the message names the full key and what was expected."""


def join_key(where: str, key: str | int) -> str:
    """The dotted key of ``key`` inside ``where`` (``model`` + ``dim`` -> ``model.dim``; list items ``[i]``)."""
    if isinstance(key, int):
        return f"{where}[{key}]"
    return f"{where}.{key}" if where else str(key)


def _prefixed(where: str, message: str) -> str:
    return f"{where}: {message}" if where else message


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def unknown(noun: str, name: object, known: list[str]) -> str:
    """``unknown stage 'dedupe' (did you mean 'dedup'?); known: ...``, the message of every unknown name."""
    close = difflib.get_close_matches(str(name), known, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown {noun} {name!r}{hint}; known: {', '.join(known) or 'none'}"


def from_mapping(cls: type[T], data: Mapping[str, Any] | None, where: str = "", *, noun: str = "key") -> T:
    """An instance of dataclass ``cls`` from ``data`` (``None``: every default), each value converted to its field type.

    ``where`` is the dotted key of ``data`` itself, the start of every message; ``noun`` is what
    the messages call a key (``parameter``, ``top-level key``). Unknown and missing keys, values of
    the wrong type and whatever ``cls`` itself refuses (a ``ValueError`` from ``__post_init__``)
    are ``ConfigError``.
    """
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(_prefixed(where, f"expected a mapping, got {_shown(data)}"))
    fields = [f for f in dataclasses.fields(cls) if f.init]
    names = [f.name for f in fields]
    for key in data:
        if key not in names:
            raise ConfigError(_prefixed(where, unknown(noun, key, names)))
    for f in fields:
        if f.name not in data and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(_prefixed(where, f"missing {noun} {f.name!r}, which has no default"))
    hints = _hints(cls)
    values = {key: convert(hints[key], value, join_key(where, key)) for key, value in data.items()}
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:  # ConfigError is a ValueError: what __post_init__ refused
        raise ConfigError(_prefixed(where, str(exc))) from None


def convert(annotation: Any, value: Any, where: str) -> Any:
    """``value`` as type ``annotation`` (see the module docstring), or a ``ConfigError`` naming ``where``."""
    origin = get_origin(annotation)
    if annotation is Any or annotation is object:
        return value
    if annotation is None or annotation is type(None):
        if value is None:
            return None
    elif origin is typing.Union or origin is types.UnionType:
        return _convert_union(annotation, value, where)
    elif origin is Literal:
        if value in get_args(annotation):
            return value
        raise ConfigError(f"{where}: must be one of {', '.join(map(repr, get_args(annotation)))}, got {value!r}")
    elif origin in (list, tuple, dict, Iterable, Mapping) or annotation in (list, tuple, dict):
        return _convert_collection(annotation, value, where)
    elif isinstance(annotation, type):
        return _convert_class(annotation, value, where)
    else:
        raise TypeError(f"{where}: the loader cannot read values of type {annotation!r}")
    raise ConfigError(f"{where}: expected {expected(annotation)}, got {_shown(value)}")


def _convert_union(annotation: Any, value: Any, where: str) -> Any:
    arms = [arm for arm in get_args(annotation) if arm is not type(None)]
    if value is None and len(arms) < len(get_args(annotation)):
        return None
    if len(arms) == 1:  # Optional[X]: X's own message says more (a nested key, an item)
        return convert(arms[0], value, where)
    for arm in arms:
        try:
            return convert(arm, value, where)
        except ConfigError:
            continue
    raise ConfigError(f"{where}: expected {expected(annotation)}, got {_shown(value)}")


def _convert_collection(annotation: Any, value: Any, where: str) -> Any:
    origin, args = get_origin(annotation) or annotation, get_args(annotation)
    if origin in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected {expected(annotation)}, got {_shown(value)}")
        key_type, item_type = args or (Any, Any)
        return {convert(key_type, k, where): convert(item_type, v, join_key(where, k)) for k, v in value.items()}
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{where}: expected {expected(annotation)}, got {_shown(value)}")
    if origin is tuple and args and args[-1] is not Ellipsis:
        if len(value) != len(args):
            raise ConfigError(f"{where}: expected {len(args)} items, got {len(value)}")
        return tuple(convert(t, v, join_key(where, i)) for i, (t, v) in enumerate(zip(args, value)))
    item_type = args[0] if args else Any
    items = [convert(item_type, v, join_key(where, i)) for i, v in enumerate(value)]
    return tuple(items) if origin is tuple else items


def _convert_class(cls: type, value: Any, where: str) -> Any:
    if cls is bool:
        if isinstance(value, bool):
            return value
    elif cls is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif cls is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and _EXPONENT.fullmatch(value.strip()):
            # YAML 1.1 reads 3e-3 (no dot) as a string; it is a number to anyone who writes it.
            return float(value)
    elif cls is str:
        if isinstance(value, (str, os.PathLike)):
            return os.fspath(value)
    elif dataclasses.is_dataclass(cls):
        return value if isinstance(value, cls) else from_mapping(cls, value, where)
    elif issubclass(cls, enum.Enum):
        for member in cls:
            if value is member or value == member.value or value == member.name:
                return member
        raise ConfigError(f"{where}: must be one of {', '.join(repr(m.value) for m in cls)}, got {value!r}")
    elif issubclass(cls, PurePath) and isinstance(value, (str, os.PathLike)):
        return cls(value)
    else:
        try:
            if isinstance(value, cls):
                return value
        except TypeError:  # a Protocol that is not runtime-checkable: nothing to check it by
            return value
    raise ConfigError(f"{where}: expected {expected(cls)}, got {_shown(value)}")


_EXPONENT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")
_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string", type(None): "null"}


def expected(annotation: Any) -> str:
    """What a value of ``annotation`` is, in words (``an integer or null``)."""
    origin, args = get_origin(annotation), get_args(annotation)
    if annotation in _NAMES or annotation is None:
        return _NAMES.get(annotation, "null")
    if origin is typing.Union or origin is types.UnionType:
        return " or ".join(expected(arm) for arm in args)
    if origin is Literal:
        return "one of " + ", ".join(map(repr, args))
    if (origin or annotation) in (list, tuple, Iterable):
        return f"a list of {_plural(args[0])}" if args and args[0] is not Any else "a list"
    if (origin or annotation) in (dict, Mapping):
        return "a mapping" if not args or args[1] is Any else f"a mapping to {_plural(args[1])}"
    if dataclasses.is_dataclass(annotation):
        return f"a mapping ({annotation.__name__})"
    return getattr(annotation, "__name__", str(annotation))


def _plural(annotation: Any) -> str:
    words = expected(annotation)
    for article in ("an ", "a "):
        words = words.removeprefix(article)
    for noun in ("mapping", "list"):
        if words.startswith(noun):
            return f"{noun}s{words[len(noun):]}"
    return {"integer": "integers", "number": "numbers", "string": "strings"}.get(words, words)


def _shown(value: Any) -> str:
    """``value`` for a message: its type and, for a scalar, the value itself (kept short)."""
    if isinstance(value, (Mapping, list, tuple)):
        return f"a {type(value).__name__}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """``["a.b=1", "c=[x, y]"]`` -> ``{"a.b": 1, "c": ["x", "y"]}``: keys dotted, values read as YAML (empty: null)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected key=value (a dotted key, a YAML value), e.g. a.b=3")
        try:
            out[key] = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"--set {key}: the value is not valid YAML: {_one_line(exc)}") from None
    return out


def set_key(raw: dict[str, Any], key: str, value: Any) -> None:
    """Set dotted ``key`` of the mapping ``raw`` to ``value``, making the mappings on the way.

    A part that is a number indexes a list (``stages.0.steps``: the first stage's steps).
    """
    parts = key.split(".")
    if not all(parts):
        raise ConfigError(f"--set {key}: a dotted key has no empty parts")
    target: Any = raw
    for depth, part in enumerate(parts):
        where = ".".join(parts[:depth + 1])
        last = depth == len(parts) - 1
        if isinstance(target, list):
            if not part.isdigit() or int(part) >= len(target):
                raise ConfigError(f"--set {key}: {'.'.join(parts[:depth]) or key} is a list of {len(target)}; "
                                  f"{part!r} is not an index of it")
            index: Any = int(part)
        elif isinstance(target, dict):
            index = part
            if not last and target.get(part) is None:
                target[part] = {}
        else:
            raise ConfigError(f"--set {key}: {'.'.join(parts[:depth])} is not a mapping")
        if last:
            target[index] = value
            return
        target = target[index]
        if not isinstance(target, (dict, list)):
            raise ConfigError(f"--set {key}: {where} is not a mapping")


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


def read_yaml(path: str | os.PathLike[str], what: str = "config") -> Any:
    """The YAML document at ``path`` (``yaml.safe_load``: plain data only); ``what`` names the file in errors."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: {what} file not found")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {_one_line(exc)}") from None


def load(cls: type[T], path: str | os.PathLike[str] | None, overrides: Mapping[str, Any] | None = None, *,
         what: str = "config", section: str | None = None, noun: str = "key") -> T:
    """Dataclass ``cls`` from the YAML at ``path`` (``None``: the defaults) with dotted ``overrides`` applied.

    A file holding only ``section:`` is read from inside that key. Messages start with the
    path of the file, then the key.
    """
    raw: Any = {} if path is None else read_yaml(path, what)
    if raw is None:
        raw = {}
    if section is not None and isinstance(raw, dict) and set(raw) == {section}:
        raw = raw[section] or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of settings, got {_shown(raw)}")
    for key, value in (overrides or {}).items():
        set_key(raw, key, value)
    try:
        return from_mapping(cls, raw, noun=noun)
    except ConfigError as exc:
        raise ConfigError(_prefixed(str(path) if path is not None else "", str(exc))) from None
