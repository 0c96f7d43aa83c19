"""Checking wire arguments against a hub method's type hints.

Untyped parameters and hints this module does not know pass through unchanged.
"""

from __future__ import annotations

import inspect
import types
import typing
from typing import Any


class BindingError(TypeError):
    pass


def check(value: Any, hint: Any) -> Any:
    """``value`` converted to ``hint``, or :class:`BindingError`."""
    if hint is Any or hint is inspect.Parameter.empty or hint is object:
        return value
    if hint is None or hint is type(None):
        if value is None:
            return None
        raise BindingError
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        for option in typing.get_args(hint):
            try:
                return check(value, option)
            except BindingError:
                continue
        raise BindingError
    if origin is typing.Literal:
        if value in typing.get_args(hint):
            return value
        raise BindingError
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise BindingError
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise BindingError
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise BindingError
    if hint is str:
        if isinstance(value, str):
            return value
        raise BindingError
    if hint is list or origin is list:
        if not isinstance(value, list):
            raise BindingError
        (item_hint,) = typing.get_args(hint) or (Any,)
        return [check(item, item_hint) for item in value]
    if hint is dict or origin is dict:
        if not isinstance(value, dict):
            raise BindingError
        args = typing.get_args(hint)
        value_hint = args[1] if len(args) == 2 else Any
        return {key: check(item, value_hint) for key, item in value.items()}
    return value
