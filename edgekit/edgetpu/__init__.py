"""Coral Edge TPU support: preflight placement check, compiler wrapper and log parser, discovery.

preflight  predicts, per op, whether edgetpu_compiler 16 maps it (runs anywhere, no compiler needed)
compiler   runs edgetpu_compiler and parses its log into a structured report
discovery  lists attached Edge TPUs (pycoral, else USB ids and /dev/apex_*)
Running compiled models lives in edgekit/runtimes/edgetpu.py (it ships to devices).
"""
