"""The parameters a search varies: `fast=5:30`, `slow=20:120:5`, `risk.stop_loss_pct=0.01:0.05:0.01`,
`strategy.params.mode=a,b,c`, given on the command line or in a YAML file, and how a chosen set
of values becomes a bot config.

A bare name is a strategy parameter (`fast` is `strategy.params.fast`); a dotted one is a path
into the bot config (`risk.stop_loss_pct`). A range `LOW:HIGH[:STEP]` includes both ends; it is
an integer range when all of its numbers are written without a decimal point (periods are
strict ints, so `fast=5:30` must give 5, not 5.0). A float range without a step is continuous:
random and TPE search sample it, grid search refuses it. `a,b,c` lists the values to try.
"""

from __future__ import annotations

import copy
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = ["ParamSpace", "ParamSpec", "ParamError", "apply_params", "load_params_file", "parse_param"]

# The candles are loaded once per worker, from the config as given: a trial cannot change them.
_FIXED_ROOTS = ("id", "mode", "symbol", "timeframe", "market", "exchange")


class ParamError(ValueError):
    """A parameter range that cannot be searched; the message names it and says what is expected."""


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """One searched parameter: a range (`low`..`high`, by `step` or continuous) or `choices`."""

    name: str
    path: tuple[str, ...]
    low: float | None = None
    high: float | None = None
    step: float | None = None
    integer: bool = False
    choices: tuple[Any, ...] | None = None

    def grid_values(self) -> list[Any]:
        """Every value a grid search tries, in order; ParamError for a continuous range."""
        if self.choices is not None:
            return list(self.choices)
        if self.step is None:
            raise ParamError(f"{self.name}: a grid needs a step for a float range (e.g. {self.low}:{self.high}:0.01)")
        count = int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1
        if self.integer:
            return [int(self.low + i * self.step) for i in range(count)]
        # Rounded: 0.01 + 2 * 0.01 is 0.030000000000000002, which would print and save badly.
        return [round(self.low + i * self.step, 12) for i in range(count)]

    def sample(self, rng: random.Random) -> Any:
        """One value drawn uniformly, on the grid where there is one."""
        if self.choices is not None or self.step is not None:      # integer ranges always have a step
            return rng.choice(self.grid_values())
        return rng.uniform(self.low, self.high)

    def describe(self) -> str:
        if self.choices is not None:
            return f"{self.name}={','.join(map(str, self.choices))}"
        step = "" if self.step is None else f":{_number_text(self.step, self.integer)}"
        return f"{self.name}={_number_text(self.low, self.integer)}:{_number_text(self.high, self.integer)}{step}"


@dataclass(frozen=True, slots=True)
class ParamSpace:
    """The searched parameters, in the order given."""

    specs: tuple[ParamSpec, ...]

    @property
    def names(self) -> list[str]:
        return [spec.name for spec in self.specs]

    def grid_size(self) -> int:
        return math.prod(len(spec.grid_values()) for spec in self.specs)

    def describe(self) -> list[str]:
        return [spec.describe() for spec in self.specs]


def parse_param(text: str) -> ParamSpec:
    """`NAME=LOW:HIGH[:STEP]` or `NAME=A,B,C` as a ParamSpec; ParamError says what is wrong."""
    name, sep, value = text.partition("=")
    name, value = name.strip(), value.strip()
    if not sep or not name or not value:
        raise ParamError(f"--param {text!r}: expected NAME=LOW:HIGH[:STEP] or NAME=A,B,C, e.g. fast=5:30")
    return _spec(name, value)


class _RangeLoader(yaml.SafeLoader):
    """yaml's safe loader, except that an unquoted `5:30` stays the range it was written as:
    YAML 1.1 reads it as the base-60 number 330, and searching the single value 330 is no search."""


def _base60_as_text(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    if ":" in node.value:
        return loader.construct_scalar(node)
    return loader.construct_yaml_int(node)


_RangeLoader.add_constructor("tag:yaml.org,2002:int", _base60_as_text)


def load_params_file(path: Path) -> list[ParamSpec]:
    """A YAML mapping of name to range text (`fast: "5:30"`), list of values, or
    `{low, high, step}` mapping."""
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_RangeLoader)
    except FileNotFoundError:
        raise ParamError(f"{path}: no such parameter file") from None
    except OSError as exc:
        raise ParamError(f"{path}: cannot read the parameter file: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ParamError(f"{path}: not UTF-8 text; expected YAML such as fast: \"5:30\"") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ParamError(f"{path}: invalid YAML{where}: {getattr(exc, 'problem', None) or exc}") from None
    if not isinstance(raw, dict) or not raw:
        raise ParamError(f"{path}: expected a mapping of parameter name to range, e.g. fast: \"5:30\"")
    specs = []
    for name, value in raw.items():
        if isinstance(value, list) and value:
            specs.append(_spec(str(name), value))
        elif isinstance(value, dict) and {"low", "high"} <= value.keys():
            text = f"{value['low']}:{value['high']}" + (f":{value['step']}" if value.get("step") is not None else "")
            specs.append(_spec(str(name), text))
        elif isinstance(value, (str, int, float)):
            specs.append(_spec(str(name), str(value)))
        else:
            raise ParamError(f"{path}: {name}: expected \"LOW:HIGH[:STEP]\", a list of values or {{low, high, step}}")
    return specs


def make_space(specs: list[ParamSpec]) -> ParamSpace:
    """The specs as a space; ParamError for none at all or a name given twice."""
    if not specs:
        raise ParamError("nothing to search: give at least one --param (e.g. --param fast=5:30) or --params FILE")
    paths = [spec.path for spec in specs]
    repeated = sorted({".".join(p) for p in paths if paths.count(p) > 1})
    if repeated:
        raise ParamError(f"parameters given more than once: {', '.join(repeated)}")
    return ParamSpace(tuple(specs))


def apply_params(raw_config: dict[str, Any], space: ParamSpace, values: dict[str, Any]) -> dict[str, Any]:
    """A copy of the config mapping with each searched value set at its path."""
    config = copy.deepcopy(raw_config)
    for spec in space.specs:
        node = config
        for key in spec.path[:-1]:
            child = node.get(key)
            if not isinstance(child, dict):
                child = node[key] = {}
            node = child
        node[spec.path[-1]] = values[spec.name]
    return config


def _spec(name: str, value: str | list[Any]) -> ParamSpec:
    path = tuple(name.split(".")) if "." in name else ("strategy", "params", name)
    if not all(path) or path[0] in _FIXED_ROOTS:
        raise ParamError(f"{name}: cannot be searched (the market, symbol and timeframe are the config's; "
                         "a bare name is a strategy parameter, a dotted one a config path such as risk.stop_loss_pct)")
    if isinstance(value, list):
        return ParamSpec(name, path, choices=tuple(value))
    if ":" not in value:
        choices = tuple(_scalar(part.strip()) for part in value.split(","))
        return ParamSpec(name, path, choices=choices)
    parts = value.split(":")
    if len(parts) not in (2, 3):
        raise ParamError(f"{name}={value}: expected LOW:HIGH or LOW:HIGH:STEP")
    try:
        numbers = [float(part) for part in parts]
    except ValueError:
        raise ParamError(f"{name}={value}: LOW, HIGH and STEP must be numbers") from None
    if not all(math.isfinite(n) for n in numbers):
        raise ParamError(f"{name}={value}: LOW, HIGH and STEP must be finite numbers")
    low, high = numbers[0], numbers[1]
    step = numbers[2] if len(numbers) == 3 else None
    integer = not any(c in part for part in parts for c in ".eE")
    if high < low:
        raise ParamError(f"{name}={value}: HIGH ({parts[1]}) is below LOW ({parts[0]})")
    if step is not None and step <= 0:
        raise ParamError(f"{name}={value}: STEP must be above 0")
    if integer and step is None:
        step = 1.0
    return ParamSpec(name, path, low=low, high=high, step=step, integer=integer)


def _scalar(text: str) -> Any:
    """A listed value as YAML reads it: `5` an int, `0.5` a float, `true` a bool, else the text."""
    value = yaml.safe_load(text)
    return value if isinstance(value, (int, float, bool, str)) else text


def _number_text(value: float, integer: bool) -> str:
    return str(int(value)) if integer else f"{value:g}"
