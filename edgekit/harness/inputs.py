"""Inputs for a benchmark or a run: random, from .npy/.npz, or from an image.

Random data is dtype-aware: quantized integer inputs sample their whole representable range, since
a constant or tiny input can take faster paths in some kernels and flatter latency.
Shapes and dtypes are checked here, before any runtime sees the data, so a mismatch is one clear
error instead of a crash inside a kernel. numpy (and Pillow for images) only.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from edgekit.errors import EdgekitError, EnvironmentMissing
from edgekit.runtimes.base import TensorSpec

# How float image inputs are scaled, by name; quantized inputs then get quantized with the
# tensor's own scale/zero-point.
NORMALIZATIONS = {
    "0,1": (0.0, 255.0),  # real = (pixel - mean) / std
    "-1,1": (127.5, 127.5),
    "raw": (0.0, 1.0),
    "imagenet": (None, None),  # per-channel mean/std, handled below
}
_IMAGENET_MEAN = np.array([0.485, 0.456, 0.406]) * 255.0
_IMAGENET_STD = np.array([0.229, 0.224, 0.225]) * 255.0


def _concrete_shape(spec: TensorSpec) -> list[int]:
    return [d if d > 0 else 1 for d in spec.shape]


def random_inputs(specs: Sequence[TensorSpec], seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = []
    for spec in specs:
        shape = _concrete_shape(spec)
        dtype = np.dtype(spec.dtype)
        if dtype.kind == "f":
            arr = rng.uniform(-1.0, 1.0, size=shape).astype(dtype)
        elif dtype.kind in "iu":
            info = np.iinfo(dtype)
            if spec.quantized:
                arr = rng.integers(info.min, int(info.max) + 1, size=shape, dtype=dtype)
            else:  # plain integers are usually indices or lengths: keep them small and valid
                arr = rng.integers(0, min(10, int(info.max)), size=shape, dtype=dtype)
        elif dtype.kind == "b":
            arr = rng.integers(0, 2, size=shape).astype(bool)
        else:
            raise EdgekitError(
                f"cannot make random data for input {spec.name!r} of dtype {spec.dtype}",
                "pass real inputs with --input FILE.npz",
            )
        arrays.append(arr)
    return arrays


def check_inputs(specs: Sequence[TensorSpec], arrays: Sequence[np.ndarray], origin: str) -> list[np.ndarray]:
    """Validate (and where lossless, adapt) arrays against the model's inputs."""
    if len(arrays) != len(specs):
        raise EdgekitError(
            f"{origin} has {len(arrays)} array(s) but the model has {len(specs)} input(s) ({', '.join(s.name for s in specs)})",
            "give one array per input, keyed by input name in a .npz",
        )
    checked = []
    for spec, arr in zip(specs, arrays):
        arr = np.asarray(arr)
        want = list(spec.shape)
        sig = spec.shape_signature or want
        if list(arr.shape) != want and len(arr.shape) == len(want) - 1 and want[0] == 1:
            arr = arr[None, ...]  # a single sample without its batch dimension
        if list(arr.shape) != want and (len(arr.shape) != len(want) or any(s != a and s != -1 for s, a in zip(sig, arr.shape))):
            expected = f"{want}" + (f" (signature {sig})" if list(sig) != want else "")
            raise EdgekitError(
                f"input {spec.name!r} from {origin} has shape {list(arr.shape)}, the model expects {expected}",
                "reshape the data to the model's input shape (see 'edgekit inspect'), "
                f"or run at the data's shape with --input-shape {spec.name}={','.join(map(str, arr.shape))}",
            )
        dtype = np.dtype(spec.dtype)
        if arr.dtype != dtype:
            lossless = (arr.dtype.kind == "f" and dtype.kind == "f") or (
                arr.dtype.kind in "iu"
                and dtype.kind in "iu"
                and arr.size
                and np.iinfo(dtype).min <= arr.min()
                and arr.max() <= np.iinfo(dtype).max
            )
            if not lossless:
                raise EdgekitError(
                    f"input {spec.name!r} from {origin} is {arr.dtype}, the model expects {dtype}",
                    f"convert the data to {dtype} (quantize float data with the input's scale/zero-point)",
                )
            arr = arr.astype(dtype)
        checked.append(np.ascontiguousarray(arr))
    return checked


def load_array_file(path: str, specs: Sequence[TensorSpec]) -> list[np.ndarray]:
    if not os.path.exists(path):
        raise EdgekitError(f"no such input file: {path}", "check the path given to --input")
    try:
        data = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise EdgekitError(f"cannot read {path} as .npy/.npz ({exc})", "save inputs with numpy.save or numpy.savez") from None
    if isinstance(data, np.ndarray):
        return check_inputs(specs, [data], path)
    with data:
        keys = list(data.keys())
        names = [s.name for s in specs]
        if all(n in keys for n in names):
            arrays = [data[n] for n in names]
        elif len(keys) == len(specs):
            arrays = [data[k] for k in keys]  # positional: arr_0, arr_1, ... in savez order
        else:
            raise EdgekitError(
                f"{path} holds arrays {keys}, the model's inputs are {names}",
                "key the .npz by input name, or give exactly one array per input",
            )
    return check_inputs(specs, arrays, path)


def array_shapes(path: str) -> dict:
    """Shapes of the arrays in an --input file, by position and (for a .npz) by key, read before
    the model is loaded so a dynamic input can be resized to them before allocation. Positions
    come first so a key that names an input wins over its position. Unreadable files give {}:
    load_array_file reports them properly once the model is loaded."""
    try:
        if path.endswith(".npy"):
            return {0: list(np.load(path, mmap_mode="r", allow_pickle=False).shape)}
        with np.load(path, allow_pickle=False) as data:
            if isinstance(data, np.ndarray):
                return {0: list(data.shape)}
            keys = list(data.keys())
            shapes = {k: list(data[k].shape) for k in keys}
    except Exception:
        return {}
    out: dict = {i: shapes[k] for i, k in enumerate(keys)}
    out.update(shapes)
    return out


def image_to_array(path: str, spec: TensorSpec, normalize: str | None = None) -> np.ndarray:
    """Load, resize and convert an image for an NHWC image input.

    Quantized inputs default to raw pixels shifted into the dtype's range (the convention of the
    Coral and TF-hub quantized classifiers); float inputs default to [0,1]. ``normalize`` overrides:
    "0,1", "-1,1", "raw" or "imagenet".
    """
    try:
        from PIL import Image
    except ImportError:
        raise EnvironmentMissing("reading images needs Pillow", "pip install pillow") from None
    if not os.path.exists(path):
        raise EdgekitError(f"no such image: {path}", "check the path given to --image")
    if len(spec.shape) != 4 or spec.shape[-1] not in (1, 3):
        raise EdgekitError(
            f"input {spec.name!r} has shape {spec.shape}, not an NHWC image",
            "pass the input as an array with --input FILE.npy instead of --image",
        )
    _, h, w, c = spec.shape
    try:
        img = Image.open(path)
        img = img.convert("L" if c == 1 else "RGB").resize((w, h), Image.BILINEAR)
    except Exception as exc:
        raise EdgekitError(f"cannot read image {path} ({exc})", "use a JPEG, PNG or BMP file") from None
    pixels = np.asarray(img, dtype=np.float64).reshape(1, h, w, c)
    dtype = np.dtype(spec.dtype)
    if normalize is None and dtype.kind in "iu":
        shift = 128 if dtype == np.int8 else 0
        return (pixels - shift).astype(dtype)
    norm = normalize or "0,1"
    if norm not in NORMALIZATIONS:
        raise EdgekitError(f"unknown normalization {norm!r}", f"choose one of: {', '.join(NORMALIZATIONS)}")
    if norm == "imagenet":
        real = (pixels - _IMAGENET_MEAN[:c]) / _IMAGENET_STD[:c]
    else:
        mean, std = NORMALIZATIONS[norm]
        real = (pixels - mean) / std
    if dtype.kind == "f":
        return real.astype(dtype)
    if not spec.quantized:
        raise EdgekitError(f"input {spec.name!r} is {dtype} but not quantized", "pass raw data with --input")
    info = np.iinfo(dtype)
    q = np.round(real / spec.scale + spec.zero_point)
    return np.clip(q, info.min, info.max).astype(dtype)


def quantize(x: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """Float samples -> what an input takes (quantized with its scale/zero-point); the inverse
    of ``dequantize``, used where float evaluation data feeds a quantized artifact."""
    dtype = np.dtype(spec.dtype)
    if dtype.kind == "f" or x.dtype == dtype:
        return x.astype(dtype, copy=False)
    if dtype.kind in "iu" and spec.quantized:
        info = np.iinfo(dtype)
        return np.clip(np.round(x / spec.scale + spec.zero_point), info.min, info.max).astype(dtype)
    return x.astype(dtype)


def dequantize(arr: np.ndarray, spec: TensorSpec) -> np.ndarray:
    if spec.quantized and arr.dtype.kind in "iu":
        return (arr.astype(np.float32) - spec.zero_point) * spec.scale
    return arr.astype(np.float32) if arr.dtype.kind == "f" else arr
