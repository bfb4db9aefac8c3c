"""How each artifact format is measured on an Android phone (no Python there): the format record's
``android_runner`` (edgekit.runtimes.formats), a native-tool runner called as
``runner(transport, spec, local, remote, run_dir, timeout) -> result`` after the artifact is
pushed to ``remote`` and its sha256 checked; it returns a result document (status ok or error).
"""

from __future__ import annotations

from typing import Callable


def device_runner(fmt: str | None) -> Callable | None:
    """The runner of ``fmt`` on a phone, None when the format has none (or is unknown)."""
    from edgekit.runtimes.formats import FORMATS, resolve

    if fmt not in FORMATS or not FORMATS.get(fmt).android_runner:
        return None
    return resolve(FORMATS.get(fmt).android_runner)


def android_formats() -> tuple[str, str]:
    """('tflite (benchmark_model) and pte (executor_runner)', '.tflite/.pte'), from the records."""
    from edgekit.runtimes.formats import FORMATS

    records = [r for r in FORMATS.records() if r.android_runner]
    runs = [f"{r.name} ({r.android_tool})" for r in records]
    text = runs[0] if len(runs) == 1 else ", ".join(runs[:-1]) + " and " + runs[-1]
    return text, "/".join(r.suffixes[0] for r in records)
