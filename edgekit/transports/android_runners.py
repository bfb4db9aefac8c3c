"""How each artifact format is measured on an Android phone (no Python there): a table from
format to the native-tool runner that measures it. A runner is called as
``runner(transport, spec, local, remote, run_dir, timeout) -> result`` after the artifact is
pushed to ``remote`` and its sha256 checked; it returns a result document (status ok or error).
"""

from __future__ import annotations

from edgekit.registry import Registry
from edgekit.transports.android_benchmark_model import run_benchmark_model
from edgekit.transports.android_executor_runner import run_executor_runner

DEVICE_RUNNERS: Registry = Registry("Android runner")

DEVICE_RUNNERS.register("tflite", run_benchmark_model)
DEVICE_RUNNERS.register("pte", run_executor_runner)
