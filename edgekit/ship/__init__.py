"""The ship stage: put verified artifacts on a device (deploy, its lock) or into an app (package)."""
