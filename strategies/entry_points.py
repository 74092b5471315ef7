"""Classes offered by installed packages through an entry-point group, found by name.

A package declares them in its pyproject.toml, and needs no edit of this repository:

    [project.entry-points."botrunner.strategies"]
    donchian_breakout = "my_package.donchian:DonchianBreakout"

`EntryPointGroup` reads the group's names from the installed packages' metadata once (a few
milliseconds: no import), and imports an entry point's module only when its name is asked for,
once. An entry point that cannot be used (its module fails to import, its object is not a
subclass of the group's base, its `name` differs from the entry point's, or two packages offer
the same name) raises `EntryPointError` naming the package and the entry point, for that name
only: the others, and the built-ins, are unaffected.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Generic, TypeVar

__all__ = ["EntryPointError", "EntryPointGroup", "Offered"]

T = TypeVar("T", bound=type)


class EntryPointError(LookupError):
    """A name an installed package offers cannot be used; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Offered:
    """One name of the group, as a listing shows it: where it comes from, and whether it loads."""

    name: str
    package: str                 # the distribution's name, e.g. botrunner-example
    target: str                  # module:attribute
    problem: str = ""            # why it cannot be used; "" when it loads


class EntryPointGroup(Generic[T]):
    """The classes installed packages offer under `group`, each a subclass of `base` whose
    class attribute `name` is the entry point's name. `kind` ("strategy", "plugin") words the
    errors."""

    def __init__(self, group: str, base: T, kind: str) -> None:
        self.group = group
        self._base = base
        self._kind = kind
        self._offered: dict[str, list[EntryPoint]] | None = None
        self._loaded: dict[str, T | EntryPointError] = {}

    def names(self) -> list[str]:
        """Every name offered, loadable or not (reads the metadata the first time only)."""
        return sorted(self._entry_points())

    def __contains__(self, name: str) -> bool:
        return name in self._entry_points()

    def load(self, name: str) -> T:
        """The class offered as `name`, imported on the first call. Raises `EntryPointError`
        when it cannot be used, and KeyError when no package offers `name`."""
        found = self._loaded.get(name)
        if found is None:
            found = self._loaded[name] = self._import(name)
        if isinstance(found, EntryPointError):
            raise found
        return found

    def describe(self) -> list[Offered]:
        """Every name offered, with its package and, for one that cannot be used, why (each is
        imported to know)."""
        listing = []
        for name, found in sorted(self._entry_points().items()):
            try:
                self.load(name)
                problem = ""
            except EntryPointError as exc:
                problem = str(exc)
            listing.append(Offered(name, _packages(found), found[0].value, problem))
        return listing

    def where(self, name: str) -> str:
        """`entry point NAME of package P (group G)`, for messages about `name`."""
        return f"entry point {name!r} of package {_packages(self._entry_points()[name])} ({self.group})"

    def _entry_points(self) -> dict[str, list[EntryPoint]]:
        if self._offered is None:
            offered: dict[str, list[EntryPoint]] = {}
            for entry in entry_points(group=self.group):
                offered.setdefault(entry.name, []).append(entry)
            self._offered = offered
        return self._offered

    def _import(self, name: str) -> T | EntryPointError:
        found = self._entry_points()[name]
        where = self.where(name)
        if len(found) > 1:
            return EntryPointError(f"{where}: {len(found)} packages offer a {self._kind} of this name; "
                                   "uninstall all but one")
        entry = found[0]
        try:
            cls = entry.load()
        except Exception as exc:   # whatever the package's import raises: it is that name's problem only
            return EntryPointError(f"{where}: cannot load {entry.value} ({type(exc).__name__}: {exc})")
        if not (isinstance(cls, type) and issubclass(cls, self._base)):
            return EntryPointError(f"{where}: {entry.value} is not a subclass of "
                                   f"{self._base.__module__}.{self._base.__qualname__}")
        if getattr(cls, "name", None) != name:
            return EntryPointError(f"{where}: {entry.value} has name = {getattr(cls, 'name', None)!r}; "
                                   f"the class's name must be the entry point's, {name!r}")
        return cls


def _packages(found: list[EntryPoint]) -> str:
    return ", ".join(sorted(e.dist.name if e.dist is not None else "(unknown package)" for e in found))
