"""ExportedProgram -> .pte bytes, through ``to_edge_transform_and_lower`` with the chosen partitioners.

Delegation coverage is taken from the lowered edge graph here (build time, with op types), and
the ETRecord (for per-op profiles later) is written only on request: it doubles the lowering's
memory and holds a copy of the weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edgekit.errors import EdgekitError, EnvironmentMissing


@dataclass
class Lowered:
    buffer: bytes
    delegation: dict
    warnings: list[str] = field(default_factory=list)


def partitioners_for(backend: str | None) -> list:
    """The partitioner instances for one backend name (None: portable kernels only)."""
    if backend is None:
        return []
    try:
        if backend == "XnnpackBackend":
            from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner

            return [XnnpackPartitioner()]
        if backend == "CoreMLBackend":
            from executorch.backends.apple.coreml.partition import CoreMLPartitioner

            return [CoreMLPartitioner()]
    except ImportError as exc:
        raise EnvironmentMissing(
            f"the {backend} partitioner cannot be imported ({exc})",
            "install the pinned stack: pip install 'edgekit[torch]' (executorch 1.5.1, coremltools 9.0)",
        ) from None
    raise EdgekitError(f"no partitioner for backend {backend!r}", "use XnnpackBackend or CoreMLBackend")


def lower(
    exported_program: Any, backend: str | None, *, etrecord_path: str | None = None, quantized_kernels: bool = False
) -> Lowered:
    from executorch.exir import to_edge_transform_and_lower

    from edgekit.torchkit import delegation
    from edgekit.torchkit.export import first_reason

    if quantized_kernels:  # quantized ops left on portable kernels need their out-variants registered
        import executorch.kernels.quantized  # noqa: F401
    try:
        edge = to_edge_transform_and_lower(
            exported_program, partitioner=partitioners_for(backend), generate_etrecord=bool(etrecord_path)
        )
        report = delegation.analyse(edge.exported_program().graph_module, backend)
        program = edge.to_executorch()
    except EdgekitError:
        raise
    except Exception as exc:
        raise EdgekitError(
            f"lowering to ExecuTorch ({backend or 'portable'}) failed: {first_reason(exc)}",
            "an op has no ExecuTorch kernel or the backend rejected it; try executorch-portable to find out which",
        ) from None
    if etrecord_path:
        program.get_etrecord().save(etrecord_path)
    return Lowered(bytes(program.buffer), report, delegation.warnings_for(report))
