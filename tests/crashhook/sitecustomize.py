"""Test-only fault injection: make a benchmark worker die by a real signal mid-measurement.

Put this directory on PYTHONPATH (tests/test_batch_bench.py does) and set
``EDGEKIT_TEST_CRASH=WORD``: a worker process (``python -m edgekit.harness.worker``) whose model
file name contains WORD prints the kind of unrelated warning real runtimes print (torchao's load
warning), then kills itself with SIGSEGV (or ``EDGEKIT_TEST_CRASH_SIGNAL``) on the fourth invoke,
or on load for formats that would not load here. Nothing in edgekit knows about it: it patches
the runtime classes from outside, the way a crashing native library would behave, and only in
worker processes (the parent never invokes).
"""

import os
import signal
import sys

_WORD = os.environ.get("EDGEKIT_TEST_CRASH")

if _WORD and "edgekit.harness.worker" in getattr(sys, "orig_argv", []):
    _SIG = getattr(signal, os.environ.get("EDGEKIT_TEST_CRASH_SIGNAL", "SIGSEGV"))

    def _die():
        sys.stderr.write(
            "/venv/lib/python3.11/site-packages/torchao/__init__.py:41: UserWarning: Skipping import of "
            "cpp extensions due to incompatible torch version 2.13.0 for torchao version 0.18.0\n"
        )
        sys.stderr.flush()
        os.kill(os.getpid(), _SIG)

    def _wrap_load(cls, on_load: bool):
        original = cls.load

        def load(self, path, options):
            if _WORD not in os.path.basename(path):
                return original(self, path, options)
            if on_load:
                _die()
            session = original(self, path, options)
            invoke, calls = session.invoke, [0]

            def crashing_invoke():
                calls[0] += 1
                if calls[0] > 3:
                    _die()
                invoke()

            session.invoke = crashing_invoke
            return session

        cls.load = load

    from edgekit.runtimes.litert import TFLiteRuntime

    _wrap_load(TFLiteRuntime, on_load=False)
    from edgekit.runtimes.executorch import ExecuTorchRuntime

    _wrap_load(ExecuTorchRuntime, on_load=True)
