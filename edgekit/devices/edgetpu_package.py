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
    from flatbuffers import flexbuffers

    from edgekit.inspect.tflite_model import EDGETPU_CUSTOM_OP, load

    best: int | None = None
    try:
        model = load(path)  # edgekit's one TFLite reader; it keeps the Edge TPU ops' custom options
        for _, op in model.all_operators():
            if op.name != EDGETPU_CUSTOM_OP or not op.custom_options:
                continue
            raw = op.custom_options
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
    return best
