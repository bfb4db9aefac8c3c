"""Devices: profiles (how to reach a device), doctor (what it can run), provision (fix it), and the
pool that benchmarks on several devices at once. Transports live in ``edgekit.transports``."""
