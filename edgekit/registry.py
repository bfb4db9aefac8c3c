"""A small named registry, used for targets, runtimes and transports.

Adding a backend is one module that calls ``REGISTRY.register(name, obj)`` at import; the
registry lists its modules so it can import them lazily by name instead of importing every
heavy backend up front.
"""

from __future__ import annotations

import importlib
from typing import Generic, Iterator, TypeVar

from edgekit.errors import EdgekitError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str, modules: dict[str, str] | None = None):
        """``modules`` maps a registered name to the module that registers it (imported on first use)."""
        self.kind = kind
        self._items: dict[str, T] = {}
        self._modules: dict[str, str] = dict(modules or {})

    def register(self, name: str, item: T) -> T:
        if name in self._items and self._items[name] is not item:
            raise ValueError(f"{self.kind} {name!r} registered twice")
        self._items[name] = item
        return item

    def declare(self, name: str, module: str) -> None:
        """Say which module registers ``name`` so it can be imported only when asked for."""
        self._modules[name] = module

    def names(self) -> list[str]:
        return sorted(set(self._items) | set(self._modules))

    def get(self, name: str) -> T:
        if name not in self._items and name in self._modules:
            importlib.import_module(self._modules[name])
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(self.names()) or "none"
            raise EdgekitError(f"unknown {self.kind} {name!r}", f"choose one of: {known}") from None

    def __contains__(self, name: str) -> bool:
        return name in self._items or name in self._modules

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
