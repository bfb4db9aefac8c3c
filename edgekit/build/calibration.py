"""Calibration and evaluation data for builds: numpy arrays out, whatever the framework.

Sources: ``.npy``/``.npz`` files, a folder of images with declared preprocessing, or a Python
generator ``module:function``. Random data exists only behind an explicit option, with a loud
warning and a flag in the manifest, because int8 calibrated on noise looks fine in a size table
and is wrong on real inputs. The samples are split into calibration and held-out evaluation sets
that never overlap, so accuracy drift is never measured on what the quantizer saw.

A Dataset holds one array per model input with the samples on the first axis; a sample fed to a
model is ``arr[i:i+1]`` (the model's batch dimension is 1).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence


from typing import TYPE_CHECKING

from edgekit.errors import EdgekitError

if TYPE_CHECKING:  # numpy is imported where it is used: the quick cache path never loads it
    import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".ppm", ".pgm")
INPUT_KEYS = ("x", "inputs", "input", "images", "data", "features")
LABEL_KEYS = ("y", "labels", "label", "targets")
SCALES = {"0,1": (0.0, 255.0), "-1,1": (127.5, 127.5), "0,255": (0.0, 1.0)}


@dataclass
class Preprocess:
    """How an image becomes a model input: resize to the input's H, W, then channel order, then
    ``(pixel - offset) / divisor`` from ``scale``, then optional per-channel ``(x - mean) / std``."""

    scale: str = "0,1"  # 0,1 | -1,1 | 0,255
    channel_order: str = "rgb"  # rgb | bgr
    mean: list[float] | None = None
    std: list[float] | None = None
    layout: str | None = None  # nhwc | nchw; None: guessed from the input shape

    def validate(self) -> None:
        if self.scale not in SCALES:
            raise EdgekitError(f"unknown image scaling {self.scale!r}", f"choose one of: {', '.join(SCALES)}")
        if self.channel_order not in ("rgb", "bgr"):
            raise EdgekitError(f"unknown channel order {self.channel_order!r}", "choose rgb or bgr")
        if self.layout not in (None, "nhwc", "nchw"):
            raise EdgekitError(f"unknown layout {self.layout!r}", "choose nhwc or nchw")
        if self.std is not None and any(s == 0 for s in self.std):
            raise EdgekitError("image std contains 0", "give a non-zero std per channel")


@dataclass
class DataSpec:
    """Where samples come from (one of ``path``/``generator``/``random``) and how many to use."""

    path: str | None = None  # .npy, .npz or an image folder
    generator: str | None = None  # package.module:function yielding samples
    random: bool = False  # explicit opt-in: not representative
    count: int = 200  # calibration samples
    eval_count: int = 200  # held-out evaluation samples
    seed: int = 0
    preprocess: Preprocess = field(default_factory=Preprocess)

    def describe(self) -> str:
        return self.path or self.generator or ("random" if self.random else "none")


@dataclass
class Dataset:
    inputs: list[np.ndarray]  # one per model input, samples on axis 0
    labels: np.ndarray | None = None
    source: str = ""
    random: bool = False
    indices: list[int] | None = None  # positions in the loaded data (to prove the split is disjoint)

    def __len__(self) -> int:
        return int(self.inputs[0].shape[0]) if self.inputs else 0

    def sample(self, i: int) -> list[np.ndarray]:
        return [a[i : i + 1] for a in self.inputs]

    def subset(self, idx: Sequence[int]) -> "Dataset":
        idx = list(idx)
        base = self.indices or list(range(len(self)))
        return Dataset(
            [a[idx] for a in self.inputs],
            None if self.labels is None else self.labels[idx],
            self.source,
            self.random,
            [base[i] for i in idx],
        )

    def sha256(self) -> str:
        import numpy as np

        h = hashlib.sha256()
        for a in self.inputs:
            a = np.ascontiguousarray(a)
            h.update(f"{a.dtype}{a.shape}".encode())
            h.update(a.tobytes())
        if self.labels is not None:
            h.update(np.ascontiguousarray(self.labels).tobytes())
        return h.hexdigest()

    def describe(self) -> dict:
        return {
            "source": self.source,
            "count": len(self),
            "sha256": self.sha256(),
            "random": self.random,
            "labels": self.labels is not None,
        }


def _resolve(path: str, base_dir: str | None) -> str:
    return path if os.path.isabs(path) or not base_dir else os.path.join(base_dir, path)


def load_data(spec: DataSpec, inputs: Sequence[Any], base_dir: str | None = None, progress: Any = None) -> Dataset:
    """Load, preprocess and validate samples for the model inputs ``inputs`` (InputSpec-like)."""
    chosen = [x for x in (spec.path, spec.generator, spec.random or None) if x]
    if len(chosen) > 1:
        raise EdgekitError("give one calibration source: a file/folder, a generator or random", "drop the others")
    if spec.count < 1 or spec.eval_count < 0:
        raise EdgekitError("calibration count must be at least 1 and eval count at least 0", "fix count/eval_count")
    if spec.random:
        data = random_data(inputs, spec.count + spec.eval_count, spec.seed)
    elif spec.generator:
        data = _from_generator(spec.generator, inputs, spec.count + spec.eval_count)
    elif spec.path:
        path = _resolve(spec.path, base_dir)
        if not os.path.exists(path):
            raise EdgekitError(f"no such calibration data: {path}", "give a .npy/.npz file, an image folder or module:function")
        if os.path.isdir(path):
            spec.preprocess.validate()
            data = _from_images(path, inputs, spec.preprocess, progress)
        elif path.lower().endswith((".npy", ".npz")):
            data = _from_numpy(path, inputs)
        else:
            raise EdgekitError(
                f"cannot read calibration data from {path}", "use a .npy/.npz file, an image folder or module:function"
            )
    else:
        raise EdgekitError("no calibration data given", "pass --calibration FILE.npz|DIR|module:function")
    return validate(data, inputs)


def random_data(inputs: Sequence[Any], n: int, seed: int = 0) -> Dataset:
    """Uniform noise in [-1, 1]: only for smoke builds, never representative of real inputs."""
    import numpy as np

    rng = np.random.default_rng(seed)
    arrays = [rng.uniform(-1.0, 1.0, size=(n, *spec.shape[1:])).astype(spec.dtype) for spec in inputs]
    return Dataset(arrays, None, "random", True)


def _pick_key(keys: list[str], wanted: Iterable[str]) -> str | None:
    lower = {k.lower(): k for k in keys}
    for w in wanted:
        if w in lower:
            return lower[w]
    return None


def _from_numpy(path: str, inputs: Sequence[Any]) -> Dataset:
    import numpy as np

    try:
        if path.lower().endswith(".npy"):
            arr = np.load(path, allow_pickle=False)
            if len(inputs) != 1:
                raise EdgekitError(
                    f"{path} holds one array but the model has {len(inputs)} inputs",
                    "use a .npz with one array per input name",
                )
            return Dataset([arr], None, path)
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except EdgekitError:
        raise
    except Exception as exc:
        raise EdgekitError(f"cannot read {path} ({exc})", "write it with numpy.save / numpy.savez") from None
    keys = list(data)
    label_key = _pick_key(keys, LABEL_KEYS)
    arrays = []
    for spec in inputs:
        key = spec.name if spec.name in data else None
        if key is None and len(inputs) == 1:
            rest = [k for k in keys if k != label_key]
            key = _pick_key(rest, INPUT_KEYS) or (rest[0] if len(rest) == 1 else None)
        if key is None:
            raise EdgekitError(
                f"{path} has no array for input {spec.name!r} (arrays: {', '.join(keys)})",
                f"name the arrays after the inputs ({', '.join(s.name for s in inputs)}) or use x/y",
            )
        arrays.append(data[key])
    labels = data[label_key] if label_key else None
    return Dataset(arrays, labels, path)


def _image_layout(spec: Any, pre: Preprocess) -> str:
    if pre.layout:
        return pre.layout
    shape = spec.shape
    if len(shape) == 4 and shape[-1] in (1, 3, 4):
        return "nhwc"
    if len(shape) == 4 and shape[1] in (1, 3, 4):
        return "nchw"
    raise EdgekitError(
        f"cannot feed images to input {spec.name!r} of shape {shape}", "images need a 4-D input; set layout = nhwc or nchw"
    )


def image_files(folder: str) -> tuple[list[str], list[int] | None, list[str]]:
    """Images of ``folder``; with one subfolder per class, also their labels (sorted class names)."""
    subdirs = sorted(d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d)) and not d.startswith("."))
    if subdirs:
        files, labels = [], []
        for i, d in enumerate(subdirs):
            for name in sorted(os.listdir(os.path.join(folder, d))):
                if name.lower().endswith(IMAGE_SUFFIXES):
                    files.append(os.path.join(folder, d, name))
                    labels.append(i)
        return files, labels, subdirs
    files = [os.path.join(folder, n) for n in sorted(os.listdir(folder)) if n.lower().endswith(IMAGE_SUFFIXES)]
    return files, None, []


def preprocess_image(path: str, spec: Any, pre: Preprocess) -> np.ndarray:
    import numpy as np
    from PIL import Image

    layout = _image_layout(spec, pre)
    if layout == "nhwc":
        _, h, w, c = spec.shape
    else:
        _, c, h, w = spec.shape
    try:
        with Image.open(path) as img:
            img = img.convert("L" if c == 1 else "RGB").resize((w, h), Image.BILINEAR)
            px = np.asarray(img, dtype=np.float32).reshape(h, w, c)
    except Exception as exc:
        raise EdgekitError(f"cannot read image {path} ({exc})", "remove it or convert it to JPEG/PNG") from None
    if pre.channel_order == "bgr" and c == 3:
        px = px[..., ::-1]
    offset, divisor = SCALES[pre.scale]
    px = (px - offset) / divisor
    if pre.mean is not None:
        px = px - np.asarray(pre.mean, dtype=np.float32)[:c]
    if pre.std is not None:
        px = px / np.asarray(pre.std, dtype=np.float32)[:c]
    if layout == "nchw":
        px = px.transpose(2, 0, 1)
    return px.astype(spec.dtype)


def _from_images(folder: str, inputs: Sequence[Any], pre: Preprocess, progress: Any = None) -> Dataset:
    import numpy as np

    if len(inputs) != 1:
        raise EdgekitError(f"an image folder feeds one input, the model has {len(inputs)}", "use a .npz or a generator")
    files, labels, classes = image_files(folder)
    if not files:
        raise EdgekitError(f"{folder} holds no images", f"put {', '.join(IMAGE_SUFFIXES[:4])} files in it")
    task = progress.task(f"calibration: reading {len(files)} images", len(files)) if progress else None
    samples = []
    for f in files:
        samples.append(preprocess_image(f, inputs[0], pre))
        if task:
            task.advance()
    ds = Dataset([np.stack(samples)], None if labels is None else np.asarray(labels), folder)
    return ds


def _from_generator(ref: str, inputs: Sequence[Any], limit: int) -> Dataset:
    import numpy as np
    from edgekit.sources.factory import call_factory

    items = call_factory(ref, "calibration generator")
    per_input: list[list[np.ndarray]] = [[] for _ in inputs]
    labels: list[Any] = []
    try:
        for n, item in enumerate(items):
            if n >= limit:
                break
            label = None
            if isinstance(item, dict):
                label = item.get("label")
                try:
                    parts = [item[s.name] for s in inputs]
                except KeyError as exc:
                    raise EdgekitError(f"generator {ref} yielded a dict without {exc}", "key samples by input name") from None
            elif isinstance(item, (list, tuple)):
                parts = list(item)
            else:
                parts = [item]
            if len(parts) != len(inputs):
                raise EdgekitError(
                    f"generator {ref} yielded {len(parts)} arrays per sample, the model has {len(inputs)} inputs",
                    "yield one array per input (a dict keyed by input name for several)",
                )
            for lst, p, spec in zip(per_input, parts, inputs):
                p = np.asarray(p)
                if p.ndim == len(spec.shape):  # came with the batch dimension: one or more samples
                    lst.extend(list(p))
                else:
                    lst.append(p)
            if label is not None:
                labels.append(label)
    except TypeError:
        raise EdgekitError(f"{ref} did not return an iterable of samples", "make it a generator (yield arrays)") from None
    if not per_input[0]:
        raise EdgekitError(f"generator {ref} yielded no samples", "yield at least two samples")
    try:
        arrays = [np.stack(lst) for lst in per_input]
    except ValueError as exc:
        raise EdgekitError(f"generator {ref} yielded samples of different shapes ({exc})", "yield fixed-shape arrays") from None
    lab = np.asarray(labels) if labels and len(labels) == len(arrays[0]) else None
    return Dataset(arrays, lab, ref)


def validate(data: Dataset, inputs: Sequence[Any]) -> Dataset:
    """Shapes, dtypes and finiteness, checked once here so no converter ever sees bad samples."""
    import numpy as np

    fixed = []
    for arr, spec in zip(data.inputs, inputs):
        arr = np.asarray(arr)
        want = tuple(spec.shape[1:])
        if tuple(arr.shape[1:]) != want:
            if arr.ndim == len(spec.shape) + 1 and arr.shape[1] == 1 and tuple(arr.shape[2:]) == want:
                arr = arr[:, 0]  # samples saved with their batch dimension of 1
            elif tuple(arr.shape) == want:
                arr = arr[None]  # a single sample
            else:
                raise EdgekitError(
                    f"calibration data for input {spec.name!r} has shape {list(arr.shape)}; "
                    f"expected [N, {', '.join(map(str, want))}]",
                    f"give samples shaped like the model input {spec.shape} (samples on the first axis)",
                )
        if arr.dtype.kind not in "fiub":
            raise EdgekitError(f"calibration data for {spec.name!r} has dtype {arr.dtype}", "use numeric arrays")
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
            raise EdgekitError(
                f"calibration data for input {spec.name!r} contains {bad} NaN/Inf values", "clean the data before building"
            )
        fixed.append(arr.astype(spec.dtype, copy=False))
    n = {a.shape[0] for a in fixed}
    if len(n) != 1:
        raise EdgekitError(f"the inputs have different sample counts {sorted(n)}", "give the same number of samples per input")
    labels = data.labels
    if labels is not None:
        labels = np.asarray(labels).reshape(-1)
        if labels.shape[0] != fixed[0].shape[0]:
            raise EdgekitError(f"{labels.shape[0]} labels for {fixed[0].shape[0]} samples", "give one label per sample (or none)")
    return Dataset(fixed, labels, data.source, data.random)


def split(data: Dataset, count: int, eval_count: int, seed: int = 0) -> tuple[Dataset, Dataset | None]:
    """Shuffle once, then hold out evaluation samples first and calibrate on the rest (disjoint)."""
    import numpy as np

    n = len(data)
    if eval_count <= 0:
        return data.subset(range(min(count, n))), None
    if n < 2:
        raise EdgekitError(
            f"only {n} calibration sample; at least 2 are needed to hold one out for evaluation",
            "give more samples, or a separate evaluation set",
        )
    order = np.random.default_rng(seed).permutation(n)
    n_eval = min(eval_count, n // 2) if n < count + eval_count else eval_count
    ev = order[:n_eval]
    cal = order[n_eval : n_eval + count]
    return data.subset(cal), data.subset(ev)
