"""Read flatbuffer table fields in one struct call each, from layouts learned from the generated code.

The ``tflite`` bindings spend ~10 Python calls per field (Offset -> vtable lookup -> Get ->
enforce_number -> unpack); on a model with tens of thousands of operators that is seconds per
``inspect`` (90 us per operator measured, half of it in the options tables). This module learns each
generated class's field layout once, by reading the getters' own source (``Offset(N)`` and the
``...Flags`` type they use), so nothing about the schema is written here by hand and a newer
``tflite`` package brings its new fields along. Every read is bounds-checked: a corrupt offset
raises ``FieldError`` (the parser turns it into one "corrupt" EdgekitError) instead of reading from
the other end of the buffer as Python's negative indices would.
"""

from __future__ import annotations

import ast
import inspect
import re
import struct
from dataclasses import dataclass
from typing import Any

_I32 = struct.Struct("<i")
_U32 = struct.Struct("<I")
_U16 = struct.Struct("<H")

_OFFSET = re.compile(r"self\._tab\.Offset\((\d+)\)")
_SCALAR = re.compile(r"return (bool\()?self\._tab\.Get\(flatbuffers\.number_types\.(\w+)Flags, o \+ self\._tab\.Pos\)")
_VECTOR = re.compile(r"return self\._tab\.GetVectorAsNumpy\(flatbuffers\.number_types\.(\w+)Flags, o\)")
_DEFAULT = re.compile(r"\n\s+return (.+)\s*$")


class FieldError(Exception):
    """An offset or length that points outside the buffer."""


@dataclass(frozen=True)
class Field:
    name: str
    slot: int  # vtable offset of the field
    kind: str  # "scalar" | "bool" | "vector"
    fmt: struct.Struct | None
    dtype: Any  # numpy dtype of a vector's elements
    default: Any


_LAYOUTS: dict[tuple[type, bool], dict[str, Field] | None] = {}


_SLOTS: dict[tuple[type, str], int] = {}


def slot(cls, getter: str) -> int:
    """The vtable offset a generated getter reads (``Offset(N)`` in its source), learned once."""
    key = (cls, getter)
    if key not in _SLOTS:
        m = _OFFSET.search(inspect.getsource(getattr(cls, getter)))
        if not m:
            raise LookupError(f"{cls.__name__}.{getter} reads no vtable slot")
        _SLOTS[key] = int(m.group(1))
    return _SLOTS[key]


def layout(cls, partial: bool = False) -> dict[str, Field] | None:
    """{getter name: Field} for the scalar, bool and numeric-vector getters of a generated table class.

    None if any getter with no arguments has a shape this reader does not know (strings, nested
    tables, unions): the caller then uses the generated getters for that class. With ``partial``
    such getters are left out instead.
    """
    key = (cls, partial)
    if key in _LAYOUTS:
        return _LAYOUTS[key]
    import flatbuffers.number_types as N
    import numpy as np

    fields: dict[str, Field] | None = {}
    for name, fn in vars(cls).items():
        if name.startswith("_") or name.startswith("GetRootAs") or name in ("Init",) or not callable(fn):
            continue
        if name.endswith(("IsNone", "Length", "BufferHasIdentifier")):
            continue
        try:
            if list(inspect.signature(fn).parameters) != ["self"]:
                continue
            src = inspect.getsource(fn)
        except (TypeError, ValueError, OSError):
            if partial:
                continue
            fields = None
            break
        off, default = _OFFSET.search(src), _DEFAULT.search(src)
        scalar, vector = _SCALAR.search(src), _VECTOR.search(src)
        try:
            value = ast.literal_eval(default.group(1)) if default else None
        except (ValueError, SyntaxError):
            if partial:
                continue
            fields = None
            break
        if off and scalar:
            flags = getattr(N, scalar.group(2) + "Flags")
            fields[name] = Field(name, int(off.group(1)), "bool" if scalar.group(1) else "scalar", flags.packer_type, None, value)
        elif off and vector:
            flags = getattr(N, vector.group(1) + "Flags")
            fields[name] = Field(name, int(off.group(1)), "vector", None, np.dtype(flags.packer_type.format), value)
        elif not partial:
            fields = None
            break
    _LAYOUTS[key] = fields
    return fields


def field_offset(buf: bytes | bytearray, pos: int, slot: int) -> int:
    """Offset of a field inside the table at ``pos`` (0: absent), read from the table's vtable."""
    n = len(buf)
    if not 0 <= pos <= n - 4:
        raise FieldError(f"table at {pos} outside a {n}-byte buffer")
    vt = pos - _I32.unpack_from(buf, pos)[0]
    if not 0 <= vt <= n - 4:
        raise FieldError(f"vtable at {vt} outside a {n}-byte buffer")
    if slot >= _U16.unpack_from(buf, vt)[0]:
        return 0
    return _U16.unpack_from(buf, vt + slot)[0]


def read(buf: bytes | bytearray, pos: int, f: Field) -> Any:
    o = field_offset(buf, pos, f.slot)
    if not o:
        return f.default
    at = pos + o
    if f.kind != "vector":
        if at + f.fmt.size > len(buf):
            raise FieldError(f"field {f.name} at {at} past the end")
        value = f.fmt.unpack_from(buf, at)[0]
        return bool(value) if f.kind == "bool" else value
    start, count = vector_span(buf, at, f.dtype.itemsize)
    import numpy as np

    return np.frombuffer(buf, dtype=f.dtype.newbyteorder("<"), count=count, offset=start)


def vector_span(buf: bytes | bytearray, at: int, itemsize: int) -> tuple[int, int]:
    """(first element's byte offset, element count) of the vector whose uoffset is stored at ``at``."""
    n = len(buf)
    if at + 4 > n:
        raise FieldError(f"vector offset at {at} past the end")
    vec = at + _U32.unpack_from(buf, at)[0]
    if vec + 4 > n:
        raise FieldError(f"vector at {vec} outside a {n}-byte buffer")
    count = _U32.unpack_from(buf, vec)[0]
    if vec + 4 + count * itemsize > n:
        raise FieldError(f"a vector claims {count} entries past the end of a {n}-byte buffer")
    return vec + 4, count


def table_at(buf: bytes | bytearray, at: int) -> int:
    """Position of the table whose uoffset is stored at ``at`` (vector elements, unions, sub-tables)."""
    if not 0 <= at <= len(buf) - 4:
        raise FieldError(f"offset at {at} outside a {len(buf)}-byte buffer")
    return at + _U32.unpack_from(buf, at)[0]


def read_all(buf: bytes | bytearray, pos: int, fields: dict[str, Field]) -> dict[str, Any]:
    """Every field of a table as plain Python values (vectors as lists)."""
    out = {}
    for name, f in fields.items():
        value = read(buf, pos, f)
        out[name] = value.tolist() if hasattr(value, "tolist") else value
    return out
