"""``package.module:function`` sources: call a Python function that returns a model.

The factory is framework-neutral: it imports the module, calls the function with no arguments and
hands the returned object to the loader registered for its framework (``OBJECT_KINDS``). The cache
key then comes from that loader (weights and architecture), not from the factory's code alone,
so a factory that trains or seeds differently rebuilds.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

from edgekit.errors import EdgekitError
from edgekit.sources import SOURCES, InputSpec, Source, SourceLoader, kind_of_object


def call_factory(ref: str, what: str = "factory") -> Any:
    """Import ``module`` and call ``function`` from ``module:function``; errors become one line."""
    module_name, _, func_name = ref.partition(":")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())  # like `python -m`: modules next to the user's spec
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise EdgekitError(
            f"cannot import {module_name!r} for the {what} {ref} ({exc})",
            "check the module name and that it is on PYTHONPATH (or in the current directory)",
        ) from None
    func = getattr(module, func_name, None)
    if not callable(func):
        raise EdgekitError(f"{module_name} has no function {func_name!r}", f"define {func_name}() in {module_name}")
    try:
        return func()
    except EdgekitError:
        raise
    except Exception as exc:
        raise EdgekitError(
            f"the {what} {ref} failed: {type(exc).__name__}: {str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ''}",
            "fix the function (run it on its own to see the traceback)",
        ) from None


class FactoryLoader(SourceLoader):
    kind = "factory"

    def load(self, ref: str, inputs: list[InputSpec] | None, options: dict) -> Source:
        obj = call_factory(ref)
        kind = kind_of_object(obj if not isinstance(obj, tuple) else obj[0])
        loader = SOURCES.get(kind)
        if options.get("args"):
            from edgekit.sources import refuse_args

            refuse_args(loader, options["args"], ref)
        source = loader.from_object(obj, ref, inputs, options)
        source.info.setdefault("factory", ref)
        return source


SOURCES.register("factory", FactoryLoader())
