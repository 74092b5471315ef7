"""Turn pydantic's validation errors into one plain line per problem.

pydantic says `Input should be less than or equal to 1`; a person editing YAML wants the field
path, the whole allowed range and what they wrote: `risk.stake_pct: must be > 0 and <= 1, got
1.5`. The range is read from the field's own constraints, so the message cannot drift from the
schema.
"""

from __future__ import annotations

import reprlib
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal, Union

import annotated_types as at
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

_BOUND_TEXT = ((at.Gt, "gt", ">"), (at.Ge, "ge", ">="), (at.Lt, "lt", "<"), (at.Le, "le", "<="))
_RANGE_ERRORS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}
_NUMBER_ERRORS = {"float_parsing", "float_type", "int_parsing", "int_type", "int_from_float"}
_PLAIN_TYPE_TEXT = {
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be text",
    "list_type": "must be a list, e.g. [a, b] or one '- item' per line",
    "tuple_type": "must be a list, e.g. [a, b] or one '- item' per line",
    "path_type": "must be a file path",
}


def describe_errors(exc: ValidationError, model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[str]:
    """One `field.path: what is wrong, got X` line per error in `exc` (raised validating `model`)."""
    lines = []
    for error in exc.errors(include_url=False):
        if error["type"] == "invalid_key":     # `1: x` or `null: y`: the loc ends with the key itself
            path = _resolve(model, error["loc"][:-1])[0]
            where = ".".join((*prefix, *path)) or "(top level)"
            lines.append(f"{where}: a key must be a field's name (text), got {_show(error.get('input'))}")
            continue
        if error["loc"][-1:] == ("[key]",) and error["type"] == "string_pattern_mismatch":
            # A mapping's key (`risk_groups: {Majörs: ...}`): pydantic's loc ends `Majörs.[key]`,
            # and the rule is the key type's description, not its regular expression.
            path, field, _ = _resolve(model, error["loc"][:-2])
            rule = _key_description(field) or f"must match {(error.get('ctx') or {}).get('pattern')}"
            lines.append(f"{'.'.join((*prefix, *path))}: {_show(error.get('input'))} is not a valid name: {rule}")
            continue
        path, field, parent = _resolve(model, error["loc"])
        where, message = ".".join((*prefix, *path)), _message(error, field, parent)
        if not where and error["type"] == "value_error":
            lines.append(message)          # a rule across fields: its message names them
        else:
            lines.append(f"{where or '(top level)'}: {message}")
    return lines


def _resolve(model: type[BaseModel], loc: tuple[Any, ...]) -> tuple[list[str], FieldInfo | None, Any]:
    """Walk `loc` through the model: the printable path (discriminator tags and pydantic's
    internal steps dropped), the FieldInfo at the end, and the model that holds it."""
    path: list[str] = []
    current: Any = model
    parent: Any = model
    field: FieldInfo | None = None
    for part in loc:
        if isinstance(part, int):
            if path:
                path[-1] += f"[{part}]"
            continue
        if isinstance(current, _ValuesOf):   # a key of a mapping, `markets: {BTC/USDT: {...}}`
            path.append(str(part))
            current = current.models
            continue
        if isinstance(current, list):  # a union of models: this part is the tag that chose one
            chosen = _member_with_tag(current, part)
            if chosen is not None:
                current = chosen
                continue
        if isinstance(current, type) and issubclass(current, BaseModel) and part in current.model_fields:
            parent = current
            field = current.model_fields[part]
            path.append(part)
            current = _models_in(field.annotation)
            continue
        parent = current
        field = None
        path.append(str(part))
        current = None
    return path, field, parent


def _key_description(field: FieldInfo | None) -> str | None:
    """The description of a `dict[Key, ...]` field's key type, where it has one."""
    annotation = field.annotation if field is not None else None
    while typing.get_origin(annotation) in (Union, types.UnionType):        # `dict[...] | None`
        annotation = next((a for a in typing.get_args(annotation) if a is not type(None)), None)
    if typing.get_origin(annotation) is not dict:
        return None
    key = typing.get_args(annotation)[0]
    infos = [extra for extra in typing.get_args(key)[1:] if isinstance(extra, FieldInfo)]
    return next((info.description for info in infos if info.description), None)


def _models_in(annotation: Any) -> Any:
    """The model class an annotation holds, a list of them for a union, or None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (Union, types.UnionType):
        # `Model | None`, `A | B`, and `Annotated[A | B, Field(discriminator=...)] | None`
        members: list[Any] = []
        for arg in typing.get_args(annotation):
            found = _models_in(arg)
            members.extend(found if isinstance(found, list) else [] if found is None else [found])
        if len(members) == 1:
            return members[0]
        return members or None
    if typing.get_origin(annotation) is typing.Annotated:
        return _models_in(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (list, tuple) and typing.get_args(annotation):
        # `triggers: list[A | B]`: the index is skipped, then the item's models (and their tags)
        return _models_in(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) is dict and len(typing.get_args(annotation)) == 2:
        values = _models_in(typing.get_args(annotation)[1])
        return None if values is None else _ValuesOf(values)
    return None


@dataclass(frozen=True, slots=True)
class _ValuesOf:
    """A `dict[str, Model]` field: the next part of an error's path is a key, then the value's models."""

    models: Any


def _member_with_tag(members: list[type[BaseModel]], tag: str) -> type[BaseModel] | None:
    for member in members:
        for info in member.model_fields.values():
            if typing.get_origin(info.annotation) is Literal and tag in typing.get_args(info.annotation):
                return member
    return None


def _message(error: dict[str, Any], field: FieldInfo | None, parent: Any) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    got = f", got {_show(error.get('input'))}"
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        # Fields the program sets (`exclude`d from dumps: a basket leg's `basket`) are not offered.
        allowed = (sorted(name for name, f in parent.model_fields.items() if not f.exclude)
                   if isinstance(parent, type) and issubclass(parent, BaseModel) else [])
        return "unknown field" + (f"; allowed: {', '.join(allowed)}" if allowed else "")
    if kind in _RANGE_ERRORS:
        return f"must be {_range_text(field, ctx)}{got}"
    if kind in _NUMBER_ERRORS:
        return f"must be {'a whole number' if kind.startswith('int') else 'a number'}{got}"
    if kind == "finite_number":
        return f"must be a finite number{got}"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}{got}"
    if kind == "string_pattern_mismatch":
        rule = field.description if field is not None and field.description else f"must match {ctx.get('pattern')}"
        return f"{rule}{got}"
    if kind == "union_tag_invalid":
        name = str(ctx.get("discriminator")).strip("'")     # pydantic quotes it
        return f"{name} must be one of {ctx.get('expected_tags')}, got {_show(ctx.get('tag'))}"
    if kind == "union_tag_not_found":
        name = str(ctx.get("discriminator")).strip("'")
        tags = _tags(field, name)
        return f"needs {name} to say which kind it is" + (f": {', '.join(tags)}" if tags else "")
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"must be a mapping of fields{got}"
    if kind in ("too_short", "too_long"):
        bound = ("at least", ctx.get("min_length")) if kind == "too_short" else ("at most", ctx.get("max_length"))
        return f"must hold {bound[0]} {bound[1]} item{'s' if bound[1] != 1 else ''}{got}"
    if kind in _PLAIN_TYPE_TEXT:     # pydantic's "Input should be a valid ..." in the words of the YAML
        return f"{_PLAIN_TYPE_TEXT[kind]}{got}"
    if kind.startswith(("datetime_", "date_")):
        return f"must be a date like 2024-01-01 or a time like 2024-01-01T12:00:00Z{got}"
    if kind == "value_error":
        return str(ctx.get("error") or error["msg"].removeprefix("Value error, "))
    return f"{error['msg']}{got}"


def _tags(field: FieldInfo | None, name: str) -> list[str]:
    """The values of discriminator `name` the models of `field` (a union, or a list of one) take."""
    members = _models_in(field.annotation) if field is not None else None
    if not isinstance(members, list):
        return []
    return [tag for member in members if (info := member.model_fields.get(name)) is not None
            and typing.get_origin(info.annotation) is Literal for tag in typing.get_args(info.annotation)]


def _range_text(field: FieldInfo | None, ctx: dict[str, Any]) -> str:
    bounds = _bounds(field) if field is not None else []
    if not bounds:  # fall back on the one bound pydantic reports
        bounds = [f"{sym} {ctx[key]}" for _, key, sym in _BOUND_TEXT if key in ctx]
    return " and ".join(bounds)


def _bounds(field: FieldInfo) -> list[str]:
    """The field's numeric bounds, also from inside `Annotated[...] | None`."""
    metadata = list(field.metadata)
    for arg in typing.get_args(field.annotation):
        if typing.get_origin(arg) is typing.Annotated:
            for extra in typing.get_args(arg)[1:]:
                metadata.extend(getattr(extra, "metadata", [extra]))
    texts = []
    for cls, key, symbol in _BOUND_TEXT:
        for item in metadata:
            if isinstance(item, cls):
                texts.append(f"{symbol} {_bound_text(getattr(item, key))}")
    return texts


def _bound_text(bound: Any) -> str:
    # 1e+15 rather than 1000000000000000.0 (small floats print short already: 1e-12)
    return f"{bound:g}" if isinstance(bound, float) and abs(bound) >= 1e6 else str(bound)


# A bounded view: `repr` of a deeply nested or huge value walks all of it before it is cut.
_BOUNDED = reprlib.Repr()     # keyword arguments only from Python 3.12
_BOUNDED.maxlevel, _BOUNDED.maxstring, _BOUNDED.maxother = 3, 60, 60


def _show(value: Any) -> str:
    text = _BOUNDED.repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
