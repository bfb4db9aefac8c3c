"""Subcommands: one module each, discovered by edgekit.cli. Each exposes ``register(subparsers)``."""
