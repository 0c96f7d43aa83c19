"""Converting wire arguments to a hub method's type hints, and saying what did not fit.

JSON and MessagePack carry null, booleans, numbers, text, lists and maps (MessagePack
also bytes and timestamps). A hint asks for more: an ``int`` rather than any number, a
``datetime`` from ISO 8601 text, an ``Enum`` member from its value, a dataclass or a
``TypedDict`` from a map. :func:`converter` turns a hint into a function once and caches
it, so binding an invocation costs a dictionary lookup and a call per argument.

Untyped parameters, ``Any``, ``object`` and classes this module does not know pass
through unchanged. Unknown keys of a map bound to a dataclass or a ``TypedDict`` are
ignored, as .NET's JSON binder ignores unknown properties.
"""

from __future__ import annotations

import base64
import binascii
import collections.abc
import dataclasses
import datetime
import decimal
import enum
import inspect
import types
import typing
import uuid
from collections.abc import Callable
from typing import Any

from ..errors import BINDING_ARGUMENTS, HubError
from ..hub import fold

Converter = Callable[[Any], Any]


class BindingError(TypeError):
    """A value that does not fit a hint: ``problem`` says how, ``path`` where inside it."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.path: list[str] = []

    def at(self, step: str) -> BindingError:
        """Record one step outward (``.field``, ``[3]``); returns itself for ``raise``."""
        self.path.insert(0, step)
        return self

    def __str__(self) -> str:
        return f"at {''.join(self.path)}: {self.problem}" if self.path else self.problem


def mismatch_text(position: int, name: str, error: BindingError) -> str:
    """The detailed-errors text for argument ``position`` (counted from 1) named ``name``.

    It starts as the official MessagePack binder's text, then says what was expected.
    """
    where = f" at {''.join(error.path)}" if error.path else ""
    official = BINDING_ARGUMENTS.replace("Error binding arguments.", f"Error binding argument {position}.")
    return f"{official} Argument '{name}'{where}: {error.problem}."


def check(value: Any, hint: Any) -> Any:
    """``value`` converted to ``hint``, or :class:`BindingError`."""
    return converter(hint)(value)


# --- describing hints and values ------------------------------------------------------------


def describe(hint: Any) -> str:
    """A hint as a reader of an error message expects it: ``list[int]``, ``Color``, ``int | None``."""
    if hint is None or hint is type(None):
        return "None"
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Union or origin is types.UnionType:
        return " | ".join(describe(arg) for arg in args)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(arg) for arg in args)
    if origin is typing.Annotated:
        return describe(args[0])
    if origin is not None:
        name = getattr(origin, "__name__", str(origin))
        if not args:
            return name
        return f"{name}[{', '.join('...' if arg is Ellipsis else describe(arg) for arg in args)}]"
    if isinstance(hint, type):
        if issubclass(hint, enum.Enum):
            return f"{hint.__name__} (one of {', '.join(repr(member.value) for member in hint)})"
        if hint is datetime.datetime:
            return "datetime (ISO 8601 text)"
        if hint is datetime.date:
            return "date (ISO 8601 text)"
        return hint.__name__
    return str(hint).replace("typing.", "")


def kind(value: Any) -> str:
    """What arrived, named by type only: a mismatch message never echoes the value."""
    return "None" if value is None else type(value).__name__


def _expected(hint: Any, value: Any) -> BindingError:
    return BindingError(f"expected {describe(hint)}, got {kind(value)}")


# --- building converters ------------------------------------------------------------------

_cache: dict[Any, Converter] = {}


def converter(hint: Any) -> Converter:
    """The function that converts a wire value to ``hint``; built once per hint."""
    try:
        return _cache[hint]
    except KeyError:
        pass
    except TypeError:  # an unhashable hint: build it every time
        return _build(hint)
    built = _cache[hint] = _build(hint)
    return built


def _passthrough(value: Any) -> Any:
    return value


def _none(value: Any) -> None:
    if value is not None:
        raise _expected(None, value)
    return None


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise _expected(bool, value)


def _int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise _expected(int, value)


def _float(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise _expected(float, value)


def _str(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise _expected(str, value)


def _bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):  # the JSON protocol writes bytes as base64, as .NET does
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise BindingError("expected bytes (base64 text), got str that is not base64") from None
    raise _expected(bytes, value)


def _iso(parse: Callable[[str], Any], hint: type) -> Converter:
    def convert(value: Any) -> Any:
        if isinstance(value, hint) and (hint is not datetime.date or not isinstance(value, datetime.datetime)):
            return value
        if isinstance(value, str):
            try:
                return parse(value)
            except ValueError:
                raise BindingError(f"expected {describe(hint)}, got str that is not ISO 8601") from None
        raise _expected(hint, value)

    return convert


def _from_text(hint: type, make: Callable[[Any], Any], accepts: tuple[type, ...] = (str,)) -> Converter:
    def convert(value: Any) -> Any:
        if isinstance(value, hint):
            return value
        if isinstance(value, accepts) and not isinstance(value, bool):
            try:
                return make(value)
            except (ValueError, ArithmeticError):
                raise BindingError(f"expected {describe(hint)}, got {kind(value)} that is not one") from None
        raise _expected(hint, value)

    return convert


_SIMPLE: dict[Any, Converter] = {
    bool: _bool,
    int: _int,
    float: _float,
    str: _str,
    bytes: _bytes,
    datetime.datetime: _iso(datetime.datetime.fromisoformat, datetime.datetime),
    datetime.date: _iso(datetime.date.fromisoformat, datetime.date),
    datetime.time: _iso(datetime.time.fromisoformat, datetime.time),
    uuid.UUID: _from_text(uuid.UUID, uuid.UUID),
    decimal.Decimal: _from_text(decimal.Decimal, lambda v: decimal.Decimal(str(v)), (str, int, float)),
}

_LISTS = (list, collections.abc.Sequence, collections.abc.MutableSequence, collections.abc.Iterable)
_MAPS = (dict, collections.abc.Mapping, collections.abc.MutableMapping)


def _build(hint: Any) -> Converter:
    if hint is Any or hint is object or hint is inspect.Parameter.empty or isinstance(hint, typing.TypeVar):
        return _passthrough
    if hint is None or hint is type(None):
        return _none
    simple = _SIMPLE.get(hint)
    if simple is not None:
        return simple
    supertype = getattr(hint, "__supertype__", None)  # typing.NewType
    if supertype is not None:
        return converter(supertype)
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Annotated:
        return converter(args[0])
    if origin is typing.Union or origin is types.UnionType:
        return _union(hint, args)
    if origin is typing.Literal:
        return _literal(hint, args)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _enum(hint)
    if hint in _LISTS or origin in _LISTS:
        return _list(hint, args[0] if args else Any, list)
    if hint in (set, frozenset) or origin in (set, frozenset, collections.abc.Set, collections.abc.MutableSet):
        return _list(hint, args[0] if args else Any, frozenset if (origin or hint) is frozenset else set)
    if hint is tuple or origin is tuple:
        return _tuple(hint, args)
    if hint in _MAPS or origin in _MAPS:
        return _dict(hint, args[0] if args else Any, args[1] if len(args) == 2 else Any)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _dataclass(hint)
    if typing.is_typeddict(hint):
        return _typeddict(hint)
    return _passthrough


def _union(hint: Any, options: tuple[Any, ...]) -> Converter:
    converters = [converter(option) for option in options if option is not type(None)]
    optional = len(converters) < len(options)
    if len(converters) == 1:
        (only,) = converters

        def optional_one(value: Any) -> Any:
            if value is None and optional:
                return None
            return only(value)  # its own message says what inside did not fit

        return optional_one

    def convert(value: Any) -> Any:
        if value is None and optional:
            return None
        for option in converters:
            try:
                return option(value)
            except BindingError:
                continue
        raise _expected(hint, value)

    return convert


def _literal(hint: Any, allowed: tuple[Any, ...]) -> Converter:
    def convert(value: Any) -> Any:
        for option in allowed:
            # ``True == 1``: a literal matches a value of its own type only.
            if value == option and type(value) is type(option):
                return option
        raise BindingError(f"expected {describe(hint)}, got {kind(value)}")

    return convert


def _enum(hint: type[enum.Enum]) -> Converter:
    def convert(value: Any) -> Any:
        if isinstance(value, hint):
            return value
        if value is not None and not isinstance(value, bool):
            try:
                return hint(value)
            except ValueError:
                pass
        raise BindingError(f"expected {describe(hint)}, got {kind(value)}")

    return convert


def _list(hint: Any, item_hint: Any, make: Callable[[list[Any]], Any]) -> Converter:
    item = converter(item_hint)

    def convert(value: Any) -> Any:
        if not isinstance(value, list):
            raise _expected(hint, value)
        if item is _passthrough:
            return make(value)
        converted = []
        for index, element in enumerate(value):
            try:
                converted.append(item(element))
            except BindingError as exc:
                raise exc.at(f"[{index}]") from None
        return make(converted)

    return convert


def _tuple(hint: Any, args: tuple[Any, ...]) -> Converter:
    if not args or (len(args) == 2 and args[1] is Ellipsis):
        return _list(hint, args[0] if args else Any, tuple)
    if args == ((),):  # tuple[()]
        args = ()
    items = [converter(arg) for arg in args]

    def convert(value: Any) -> Any:
        if not isinstance(value, list) or len(value) != len(items):
            raise BindingError(f"expected {describe(hint)} ({len(items)} items), got {kind(value)}")
        converted = []
        for index, (item, element) in enumerate(zip(items, value, strict=True)):
            try:
                converted.append(item(element))
            except BindingError as exc:
                raise exc.at(f"[{index}]") from None
        return tuple(converted)

    return convert


def _dict(hint: Any, key_hint: Any, value_hint: Any) -> Converter:
    key = converter(key_hint)
    if key is _int:
        key = _int_key
    item = converter(value_hint)

    def convert(value: Any) -> Any:
        if not isinstance(value, dict):
            raise _expected(hint, value)
        if key is _passthrough and item is _passthrough:
            return value
        converted = {}
        for name, element in value.items():
            try:
                converted[key(name)] = item(element)
            except BindingError as exc:
                raise exc.at(f"[{name!r}]") from None
        return converted

    return convert


def _int_key(value: Any) -> int:
    """JSON keys are text: ``dict[int, ...]`` takes ``"3"`` as well as ``3``."""
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            raise BindingError("expected an int key, got str that is not a number") from None
    return _int(value)


@dataclasses.dataclass(slots=True)
class _Field:
    name: str
    folded: str
    convert: Converter
    required: bool


def _resolve_hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception:  # unresolvable forward references: check those fields for nothing
        return {}


def _dataclass(hint: type) -> Converter:
    fields: list[_Field] | None = None  # resolved on first use: a class may refer to itself

    def convert(value: Any) -> Any:
        nonlocal fields
        if fields is None:
            hints = _resolve_hints(hint)
            fields = [
                _Field(
                    f.name,
                    fold(f.name),
                    converter(hints.get(f.name, Any)),
                    f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
                )
                for f in dataclasses.fields(hint)
                if f.init
            ]
        if not isinstance(value, dict):
            raise BindingError(f"expected {describe(hint)} (an object), got {kind(value)}")
        folded: dict[str, Any] | None = None
        arguments = {}
        for field in fields:
            if field.name in value:
                element = value[field.name]
            else:
                # ``sentAt`` and ``SentAt`` reach ``sent_at``, as method names do.
                if folded is None:
                    folded = {fold(k): k for k in value if isinstance(k, str)}
                key = folded.get(field.folded)
                if key is None:
                    if field.required:
                        raise BindingError(f"missing required field '{field.name}' of {hint.__name__}")
                    continue
                element = value[key]
            try:
                arguments[field.name] = field.convert(element)
            except BindingError as exc:
                raise exc.at(f".{field.name}") from None
        try:
            return hint(**arguments)
        except HubError:  # its message is meant for the client: it passes through
            raise
        except Exception as exc:  # __post_init__ validation, of any kind (ValidationError, KeyError, ...)
            raise BindingError(f"{hint.__name__} refused the value ({exc})") from None

    return convert


def typeddict_keys(hint: Any) -> dict[str, tuple[Any, bool]]:
    """A ``TypedDict``'s keys: name -> (hint, required).

    ``__required_keys__`` misses ``NotRequired[...]`` written as text (``from __future__
    import annotations``) on Python 3.11, so the resolved wrappers decide where present.
    """
    try:
        hints = typing.get_type_hints(hint, include_extras=True)
    except Exception:
        return {}
    required_keys = getattr(hint, "__required_keys__", frozenset(hints))
    keys = {}
    for name, value in hints.items():
        required = name in required_keys
        while typing.get_origin(value) in (typing.Required, typing.NotRequired, typing.Annotated):
            if typing.get_origin(value) is not typing.Annotated:
                required = typing.get_origin(value) is typing.Required
            value = typing.get_args(value)[0]
        keys[name] = (value, required)
    return keys


def _typeddict(hint: Any) -> Converter:
    fields: list[_Field] | None = None

    def convert(value: Any) -> Any:
        nonlocal fields
        if fields is None:
            fields = [_Field(name, name, converter(h), req) for name, (h, req) in typeddict_keys(hint).items()]
        if not isinstance(value, dict):
            raise BindingError(f"expected {describe(hint)} (an object), got {kind(value)}")
        converted = {}
        for field in fields:
            if field.name not in value:
                if field.required:
                    raise BindingError(f"missing required key '{field.name}' of {hint.__name__}")
                continue
            try:
                converted[field.name] = field.convert(value[field.name])
            except BindingError as exc:
                raise exc.at(f".{field.name}") from None
        return converted

    return convert
