"""The build stage: source model -> checked artifacts + manifest (orchestrator, cache, calibration,
accuracy drift, the spec file and the manifest schema). Targets live in ``edgekit.targets``."""
