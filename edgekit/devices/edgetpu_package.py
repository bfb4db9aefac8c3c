"""The Edge TPU runtime version an ``_edgetpu`` model demands, read from the compiler's package."""

from __future__ import annotations

import struct


def edgetpu_package_runtime_version(path: str) -> int | None:
    """The Edge TPU runtime version an ``_edgetpu`` model requires.

    The compiler stores its output as a 'DWN1' flatbuffer (a darwinn Package) in the custom options
    of each edgetpu-custom-op, under flexbuffer key "4"; the Package's first field is the minimum
    runtime version libedgetpu must report (its 'RuntimeVersion(N)'). A libedgetpu below it
    refuses the model with "Package requires runtime version (N), which is newer than this runtime".
    """
    import tflite
    from flatbuffers import flexbuffers

    with open(path, "rb") as f:
        data = f.read()
    best: int | None = None
    try:
        model = tflite.Model.GetRootAsModel(data, 0)
        for s in range(model.SubgraphsLength()):
            graph = model.Subgraphs(s)
            for j in range(graph.OperatorsLength()):
                op = graph.Operators(j)
                code = model.OperatorCodes(op.OpcodeIndex()).CustomCode()
                if code != b"edgetpu-custom-op" or not op.CustomOptionsLength():
                    continue
                raw = bytes(op.CustomOptionsAsNumpy())
                ref = flexbuffers.GetRoot(raw).AsMap["4"]
                pkg = flexbuffers.String(ref._Indirect(), ref._byte_width).Bytes
                if pkg[4:8] != b"DWN1":
                    continue
                root = struct.unpack_from("<I", pkg, 0)[0]
                vtable = root - struct.unpack_from("<i", pkg, root)[0]
                vt_len = struct.unpack_from("<H", pkg, vtable)[0]
                if vt_len < 6:
                    continue
                field0 = struct.unpack_from("<H", pkg, vtable + 4)[0]
                if field0:
                    version = struct.unpack_from("<i", pkg, root + field0)[0]
                    best = version if best is None else max(best, version)
    except Exception:  # an unreadable package is reported by the load check instead
        return best
    return best
