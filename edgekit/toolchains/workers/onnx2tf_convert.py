"""ONNX -> TFLite with onnx2tf, run by the ``onnx2tf`` toolchain's own Python.

Usage: ``python onnx2tf_convert.py SPEC.json OUT.json``. Standalone on purpose: edgekit is not
installed in the toolchain environment (onnx2tf 1.29.24 pins tensorflow 2.19.0, numpy 1.26.4,
onnx 1.19.1 ...), so this script imports only the standard library, numpy, onnx, onnxsim and
onnx2tf. It writes OUT.json with the result, or ``{"error": ..., "hint": ...}`` (one line each).

SPEC.json::

    {"onnx": "model.onnx", "input_shapes": {"x": [1, 3, 48, 192]},
     "mode": "fp32" | "fp16" | "int8", "io_dtype": "int8" | "uint8" | "float32",
     "calibration": {"x": "cal_x.npy"} | null,   # samples in the ONNX (source) layout, preprocessed
     "disable_group_convolution": false,
     "output": "out.tflite", "workdir": "DIR"}

What onnx2tf needs and does not do itself, measured with 1.29.24 on the RapidOCR models:
1. static shapes: its own ``-b``/``-ois`` fail on Paddle2ONNX's ``-1`` dims ("Dimension -1 must be
   >= 0"), so the graph is fixed first with onnxsim's ``overwrite_input_shapes`` (what the
   ``onnxsim --overwrite-input-shape`` command line does);
2. node names TensorFlow accepts as scope names (``[A-Za-z0-9_./-]``; Paddle2ONNX writes
   ``Softmax@0``): renamed, the old -> new map goes into the result;
3. ``calibration_image_sample_data_20x128x128x3_float32.npy`` in the working directory: for any
   4-D 3-channel input onnx2tf otherwise DOWNLOADS it at run time (even for float32 output) and
   feeds it to its onnxruntime dummy inference. It is written here from the build's calibration
   samples (NHWC, resized to 128x128, in the model's own input range), or from seeded noise when
   the build has none; the result says which.
4. int8: ``-oiqt`` with ``-cind NAME FILE MEAN STD``: onnx2tf reads FILE as the calibration
   tensor "in dimension order after conversion to TF" (NHWC for a 4-D NCHW input: it transposes
   3-D/4-D/5-D inputs channels-last) and feeds ``(data - MEAN) / STD``; edgekit's samples are
   already preprocessed, so MEAN 0 and STD 1.
5. ``disable_group_convolution`` (``-dgc``) when edgekit asks for it (an ``edgetpu`` target compiles
   the artifact): onnx2tf's grouped convolutions are CONV_2D version 6, which edgetpu_compiler 16
   does not know; with -dgc they are SPLIT + CONV_2D version 1 + CONCATENATION.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import tempfile
import time
import traceback

SAMPLE_FILE = "calibration_image_sample_data_20x128x128x3_float32.npy"
SAFE_NAME = re.compile(r"[^A-Za-z0-9_./-]")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
OUTPUT_SUFFIX = {  # onnx2tf's file per mode (and io dtype for int8)
    "fp32": "_float32.tflite",
    "fp16": "_float16.tflite",
    "int8": "_full_integer_quant.tflite",
    "int8/float32": "_integer_quant.tflite",
}


def progress(text: str) -> None:
    """A line edgekit's console shows while the worker runs (the toolchain worker contract)."""
    print("edgekit-progress: " + text, flush=True)


class Failure(Exception):
    def __init__(self, error: str, hint: str):
        super().__init__(error)
        self.error, self.hint = error, hint


def channels_last_perm(rank: int) -> list[int]:
    """onnx2tf's input transposition for 3-D/4-D/5-D inputs: NCW->NWC, NCHW->NHWC, NCDHW->NDHWC."""
    return [0, *range(2, rank), 1]


@contextlib.contextmanager
def captured(log_path: str):
    """fd-level redirect of stdout/stderr into the log (TF and onnx2tf print hundreds of lines)."""
    for s in (sys.stdout, sys.stderr):
        s.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    with open(log_path, "ab") as log:
        for fd in (1, 2):
            os.dup2(log.fileno(), fd)
        try:
            yield
        finally:
            for s in (sys.stdout, sys.stderr):
                try:
                    s.flush()
                except Exception:
                    pass
            for fd, orig in saved.items():
                os.dup2(orig, fd)
                os.close(orig)


EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit)\b.*")
OP_LINE = re.compile(r"onnx_op_type: (\S+) onnx_op_name: (.*)$")


def reason_from_log(log_path: str) -> str:
    """onnx2tf's own reason in one line, from its log (colour codes removed).

    In order: "<Op> OP is not yet implemented." (an op it cannot convert); the exception its trace
    block ends with (a shape that must be constant ...), with the ONNX node it was converting
    (printed at verbosity debug); any other ERROR line; the last line.
    """
    try:
        with open(log_path, encoding="utf-8", errors="replace") as f:
            lines = [ANSI.sub("", l).rstrip() for l in f if l.strip()]
    except OSError:
        return ""
    for l in lines:
        if l.startswith("ERROR:") and "not yet implemented" in l:
            return l[len("ERROR:") :].strip()[:300]
    banner = next((i for i, l in enumerate(lines) if l.startswith("ERROR:") and "trace log is below" in l), None)
    if banner is not None:
        exc = next((l.strip() for l in lines[banner + 1 :] if not l.startswith((" ", "\t")) and EXCEPTION_LINE.match(l)), None)
        if exc:
            ops = [m for m in (OP_LINE.search(l) for l in lines[:banner]) if m]
            where = f" (converting {ops[-1].group(1)} node {ops[-1].group(2).strip()})" if ops else ""
            return (exc + where)[:300]
    errors = [l[len("ERROR:") :].strip() for l in lines if l.startswith("ERROR:") and len(l) > len("ERROR:") + 3]
    if errors:
        return errors[0][:300]
    excs = [l.strip() for l in lines if EXCEPTION_LINE.match(l)]
    if excs:
        return excs[-1][:300]
    return lines[-1].strip()[:300] if lines else ""


def hint_for(reason: str) -> str:
    low = reason.lower()
    if any(k in low for k in ("not supported", "unsupported", "not implemented", "not yet implemented")):
        return "onnx2tf has no TensorFlow equivalent for that op: replace it in the model, or build the onnx targets"
    if "shape" in low or "dimension" in low:
        return "fix every dynamic dimension with --input-shape NAME=... (shapes must be constant for TFLite)"
    return "see the onnx2tf log in the build log (--debug); try another --input-shape or the onnx targets"


def fix_shapes(model, shapes: dict):
    """onnxsim with fixed input shapes; also folds the shape arithmetic onnx2tf cannot do."""
    import onnxsim

    try:
        simplified, ok = onnxsim.simplify(model, overwrite_input_shapes={k: list(v) for k, v in shapes.items()})
    except Exception as exc:
        raise Failure(
            f"onnxsim could not fix the input shapes {shapes}: {first_line(exc)}",
            "check --input-shape against the model's inputs (edgekit inspect model.onnx)",
        ) from None
    if not ok:
        raise Failure(
            f"onnxsim could not verify the model simplified at {shapes}",
            "check --input-shape; the model may not run at that shape",
        )
    return simplified


def rename_nodes(model) -> dict:
    """Node names TensorFlow rejects as scope names -> safe ones (unique); returns old -> new."""
    used = {n.name for n in model.graph.node}
    renamed = {}
    for node in model.graph.node:
        if node.name and SAFE_NAME.search(node.name):
            base = SAFE_NAME.sub("_", node.name)
            new, i = base, 1
            while new in used:
                new, i = f"{base}_{i}", i + 1
            used.add(new)
            renamed[node.name] = new
            node.name = new
    return renamed


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return ANSI.sub("", text.splitlines()[0])[:300] if text else type(exc).__name__


def write_sample_data(workdir: str, shapes: dict, calibration: dict | None) -> str:
    """The 20x128x128x3 file onnx2tf would download, from the build's own samples when it has them."""
    import numpy as np

    path = os.path.join(workdir, SAMPLE_FILE)
    image_inputs = [n for n, s in shapes.items() if len(s) == 4 and s[1] == 3]
    source = None
    if calibration:
        for name in image_inputs:
            if name in calibration:
                source = name
                break
    if source is not None:
        import tensorflow as tf

        x = np.load(calibration[source]).astype(np.float32)  # N,C,H,W in the model's input range
        nhwc = np.transpose(x, (0, 2, 3, 1))
        idx = np.arange(20) % nhwc.shape[0]
        data = tf.image.resize(nhwc[idx], (128, 128)).numpy().astype(np.float32)
        origin = f"calibration samples of input {source!r} ({x.shape[0]} samples, resized to 128x128)"
    else:
        data = np.random.default_rng(0).uniform(0.0, 1.0, size=(20, 128, 128, 3)).astype(np.float32)
        origin = "seeded uniform noise in [0, 1] (the build has no calibration data)"
    np.save(path, data)
    return origin


def calibration_args(calibration: dict, shapes: dict, workdir: str) -> list:
    """-cind entries: NHWC (onnx2tf's converted layout) float32 samples, mean 0, std 1."""
    import numpy as np

    entries = []
    for name, path in calibration.items():
        x = np.load(path).astype(np.float32)
        rank = len(shapes.get(name, x.shape))
        if 3 <= rank <= 5 and x.ndim == rank:
            x = np.transpose(x, channels_last_perm(rank))
        target = os.path.join(workdir, f"cind_{len(entries)}.npy")
        np.save(target, np.ascontiguousarray(x))
        entries.append([name, target, np.zeros(1, np.float32), np.ones(1, np.float32)])
    return entries


# Distributions whose versions the manifest records (package names, not artifact formats).
RECORDED_DISTRIBUTIONS = ("onnx2tf", "tensorflow", "onnx", "onnxruntime", "onnxsim", "numpy")


def versions() -> dict:
    from importlib import metadata

    out = {}
    for dist in RECORDED_DISTRIBUTIONS:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def convert(spec: dict) -> dict:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import onnx

    mode = spec.get("mode", "fp32")
    io_dtype = spec.get("io_dtype", "int8")
    key = "int8/float32" if (mode == "int8" and io_dtype == "float32") else mode
    if key not in OUTPUT_SUFFIX:
        raise Failure(f"onnx2tf_convert has no mode {mode!r}", "use fp32, fp16 or int8")
    workdir = os.path.abspath(spec["workdir"])
    output = os.path.abspath(spec["output"])
    os.makedirs(workdir, exist_ok=True)
    log_path = os.path.join(workdir, "onnx2tf.log")
    shapes = {k: [int(d) for d in v] for k, v in (spec.get("input_shapes") or {}).items()}
    calibration = spec.get("calibration") or None
    if mode == "int8" and not calibration:
        raise Failure("int8 through onnx2tf needs calibration samples", "pass --calibration DATA")
    t0 = time.perf_counter()
    try:
        model = onnx.load(spec["onnx"])
    except Exception as exc:
        raise Failure(
            f"onnx {onnx.__version__} cannot read {spec['onnx']}: {first_line(exc)}", "re-export the model with a supported opset"
        ) from None
    progress(f"onnxsim: fixing input shapes {shapes}" if shapes else "onnxsim: no shapes to fix")
    with captured(log_path):
        model = fix_shapes(model, shapes) if shapes else model
    renamed = rename_nodes(model)
    fixed_path = os.path.join(workdir, "fixed.onnx")
    onnx.save(model, fixed_path)
    timings = {"onnxsim_s": round(time.perf_counter() - t0, 3)}

    os.chdir(workdir)  # onnx2tf reads the sample-data file from the current directory
    sample_origin = write_sample_data(workdir, shapes, calibration)
    kwargs = dict(
        input_onnx_file_path=fixed_path,
        output_folder_path=os.path.join(workdir, "out"),
        not_use_onnxsim=True,  # already simplified at the fixed shapes above
        verbosity="debug",  # per-node lines: a failure can name the node
    )
    if spec.get("disable_group_convolution"):
        kwargs["disable_group_convolution"] = True  # -dgc
    if mode == "int8":
        kwargs.update(
            output_integer_quantized_tflite=True,
            custom_input_op_name_np_data_path=calibration_args(calibration, shapes, workdir),
            input_quant_dtype="uint8" if io_dtype == "uint8" else "int8",
            output_quant_dtype="uint8" if io_dtype == "uint8" else "int8",
            quant_type="per-channel",
        )
    progress(f"onnx2tf {versions().get('onnx2tf', '?')}: converting ({'int8, calibrated' if mode == 'int8' else mode})")
    t1 = time.perf_counter()
    failure = None
    with captured(log_path):
        try:
            import onnx2tf

            onnx2tf.convert(**kwargs)
        except SystemExit as exc:  # onnx2tf prints ERROR: lines, then sys.exit(1)
            failure = f"onnx2tf exited with status {exc.code}"
        except Exception as exc:
            traceback.print_exc()
            failure = f"{type(exc).__name__}: {first_line(exc)}"
    timings["onnx2tf_s"] = round(time.perf_counter() - t1, 3)
    stem = os.path.splitext(os.path.basename(fixed_path))[0]
    produced = os.path.join(workdir, "out", stem + OUTPUT_SUFFIX[key])
    if failure is not None or not os.path.isfile(produced):
        reason = reason_from_log(log_path) or failure or f"onnx2tf wrote no {os.path.basename(produced)}"
        raise Failure(f"onnx2tf could not convert the model: {reason}", hint_for(reason))
    os.replace(produced, output)
    return {
        "tflite": output,
        "onnx2tf_file": os.path.basename(produced),
        "mode": mode,
        "io_dtype": io_dtype if mode == "int8" else "float32",
        "input_shapes": shapes,
        "renamed_nodes": renamed,
        "sample_data": sample_origin,
        "calibration_layout": "NHWC (transposed from the source layout)" if mode == "int8" else None,
        "tool_versions": versions(),
        "timings": timings,
        "log": log_path,
    }


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: onnx2tf_convert.py SPEC.json OUT.json", file=sys.stderr)
        return 2
    out_path = os.path.abspath(argv[2])  # convert() changes directory (onnx2tf reads from the cwd)
    with open(argv[1], encoding="utf-8") as f:
        spec = json.load(f)
    try:
        result = convert(spec)
    except Failure as exc:
        result = {"error": exc.error, "hint": exc.hint}
    except Exception as exc:  # a bug here or in a dependency: still one line, traceback on stderr
        traceback.print_exc()
        result = {
            "error": f"onnx2tf_convert failed: {type(exc).__name__}: {first_line(exc)}",
            "hint": "rerun with --debug for the worker's traceback",
        }
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(out_path), suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(result, f)
    os.replace(tmp, out_path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
