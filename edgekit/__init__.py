"""edgekit: build, measure and ship models for edge devices.

This module must stay import-light: `import edgekit` is on the path of every CLI call and of the
single-file runner pushed to devices, so it imports nothing beyond the standard library.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
