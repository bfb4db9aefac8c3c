"""The measurement harness: statistics, inputs and the worker that runs one benchmark per process.

Everything in this package (and in edgekit.runtimes) depends only on the standard library and
numpy at import time, because the same files are zipped into the single-file runner that is pushed
to a Raspberry Pi or a Coral board.
"""
