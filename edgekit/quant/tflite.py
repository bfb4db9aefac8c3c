"""Per-layer int8 error and mixed-precision models for TFLite, through TF's QuantizationDebugger.

Why the debugger: it calibrates once, then ``mlir_quantize`` re-quantizes the *calibrated* model
with any set of layers kept float (``denylisted_nodes``) in well under a second, so the repair
search can afford many whole-model evaluations. Its debug model puts a NumericVerify op after every
quantized op: the float version of that op runs on the same (dequantized) inputs, so the
difference is the error *this* layer adds, not the error it inherits ("local" measure).

Metrics per layer (``edgekit.quant.metrics``): SNR and cosine over the whole tensor, and the mean
per-channel SNR. The per-channel figure is what finds a wide-range activation: one channel with a
huge range leaves the others a handful of int8 levels, which the whole-tensor SNR (dominated by
the wide channel) hides. Layers rank by the lower of the two SNRs.

Names: TFLite tensor names carry the Keras layer path (``model/block2_conv_1/Relu;...``); the
layer the user knows is the path segment after the model name, with Keras' ``_1`` call suffix
dropped when such a layer exists in the model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from edgekit.errors import EdgekitError
from edgekit.quant.metrics import EXACT_SNR_DB, LayerError, compare, snr_db

NUMERIC_VERIFY = "NumericVerify"


def _dequant(q: np.ndarray, scale: float, zp: int) -> np.ndarray:
    return (q.astype(np.float64) - float(zp)) * float(scale)


def _direct_metrics() -> dict[str, Callable]:
    """Per-sample layer metrics on (float op output, quantized op output, scale, zero point)."""

    def signal(f, q, s, z):
        return float(np.mean(np.square(np.asarray(f, np.float64))))

    def noise(f, q, s, z):
        return float(np.mean(np.square(_dequant(q, s, z) - np.asarray(f, np.float64))))

    def channel_snr(f, q, s, z):
        f = np.asarray(f, np.float64)
        d = _dequant(q, s, z) - f
        if f.ndim < 2:
            return snr_db(float(np.mean(f * f)), float(np.mean(d * d)))
        f2, d2 = f.reshape(-1, f.shape[-1]), d.reshape(-1, d.shape[-1])
        sig, err = np.mean(f2 * f2, axis=0), np.mean(d2 * d2, axis=0)
        live = sig > 1e-12 * max(1e-30, float(sig.max()))  # dead channels (all zero) carry no signal
        if not live.any():
            return EXACT_SNR_DB
        return float(np.mean([snr_db(a, b) for a, b in zip(sig[live], err[live])]))

    def cosine(f, q, s, z):
        return compare(np.asarray(f), _dequant(q, s, z))["cosine"]

    def max_abs(f, q, s, z):
        return compare(np.asarray(f), _dequant(q, s, z))["max_abs"]

    return {"signal_power": signal, "noise_power": noise, "channel_snr_db": channel_snr, "cosine": cosine, "max_abs": max_abs}


def tensor_name(numeric_verify_name: str) -> str:
    """``NumericVerify/<tensor>N:<idx>`` -> ``<tensor>``: the name ``denylisted_nodes`` takes (the
    debugger's own ``_get_operand_name_and_index`` rule: drop the prefix, the index and one trailing
    digit that the converter appends)."""
    name = numeric_verify_name.rsplit(":", 1)[0]
    if name.startswith(NUMERIC_VERIFY + "/"):
        name = name[len(NUMERIC_VERIFY) + 1 :]
    if name and name[-1].isdigit():
        name = name[:-1]
    return name


def keras_layer_name(tensor: str, layer_names: Sequence[str]) -> str:
    """The Keras layer a TFLite tensor belongs to (see the module docstring), or the tensor name."""
    known = set(layer_names)
    first = tensor.split(";", 1)[0]
    for part in first.split("/")[1:] or first.split("/"):
        if part in known:
            return part
        base = re.sub(r"_\d+$", "", part)
        if base in known:
            return base
    return first


@dataclass
class Calibrated:
    """A calibrated int8 conversion that can be re-quantized with layers kept float."""

    debugger: Any
    tf: Any
    layer_names: list[str]

    def model(self, keep_float: Sequence[str] = (), *, int_io: bool = False) -> bytes:
        """Model bytes with ``keep_float`` tensors' ops in float (DEQUANTIZE/QUANTIZE around them).
        ``int_io``: integer input/output too (``fully_quantize``), as tflite-int8 with io_dtype int8."""
        from edgekit.targets.base import capture_native_output

        opts = self.tf.lite.experimental.QuantizationDebugOptions(
            denylisted_nodes=list(keep_float) or None, fully_quantize=int_io
        )
        with capture_native_output():
            self.debugger.options = opts
            return self.debugger.get_nondebug_quantized_model()

    def op_names(self) -> dict[str, str]:
        """Tensor name -> the op that writes it, read from the plain int8 model (the debugger's own
        interpreter shows XNNPACK-delegated ops only as DELEGATE)."""
        from edgekit.inspect.tflite_model import parse_bytes

        main = parse_bytes(self.model()).main
        names = {}
        for op in main.operators:
            for t in op.outputs:
                if 0 <= t < len(main.tensors):
                    names[main.tensors[t].name] = op.name
        return names

    def layer_errors(self, samples: Callable[[], Any]) -> list[LayerError]:
        """Local error of every quantized layer on ``samples`` (a generator factory of input lists)."""
        from edgekit.targets.base import capture_native_output

        tf = self.tf
        with capture_native_output():
            self.debugger.options = tf.lite.experimental.QuantizationDebugOptions()
            debug_model = self.debugger.get_debug_quantized_model()
            probe = tf.lite.experimental.QuantizationDebugger(
                quant_debug_model_content=debug_model,
                debug_dataset=samples,
                debug_options=tf.lite.experimental.QuantizationDebugOptions(layer_direct_compare_metrics=_direct_metrics()),
            )
            probe.run()
        op_of = self.op_names()
        layers: list[LayerError] = []
        for depth, (nv_name, stats) in enumerate(probe.layer_statistics.items()):
            tensor = tensor_name(nv_name)
            snr = snr_db(float(stats["signal_power"]), float(stats["noise_power"]))
            ch = float(stats["channel_snr_db"])
            sig = float(stats["signal_power"])
            op = op_of.get(tensor, "")
            layers.append(
                LayerError(
                    name=tensor,
                    source_name=keras_layer_name(tensor, self.layer_names),
                    op=op,
                    depth=depth,
                    measure="local",
                    snr_db=snr,
                    channel_snr_db=ch,
                    cosine=float(stats["cosine"]),
                    max_abs=float(stats["max_abs"]),
                    rel_error=float(np.sqrt(float(stats["noise_power"]) / sig)) if sig > 0 else 0.0,
                )
            )
        return layers


def calibrate(converter: Any, samples: Callable[[], Any], tf: Any, layer_names: Sequence[str]) -> Calibrated:
    """Calibrate ``converter`` (configured for int8: optimizations + representative dataset) once."""
    from edgekit.targets.base import capture_native_output

    with capture_native_output() as cap:
        try:
            dbg = tf.lite.experimental.QuantizationDebugger(converter=converter, debug_dataset=samples)
        except Exception as exc:  # converter/MLIR failures: one line, the converter's own reason
            line = next((ln for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)
            raise EdgekitError(
                f"int8 calibration for the per-layer report failed: {line[:300]}",
                "check that tflite-int8 builds for this model first",
            ) from None
    del cap
    return Calibrated(dbg, tf, list(layer_names))


def run_model(model: bytes, samples: Sequence[Sequence[np.ndarray]]) -> list[list[np.ndarray]]:
    """Float outputs of a TFLite model on each sample (inputs quantized/outputs dequantized as its
    I/O types require), in-process: the search's scorer; the shipped file is verified by the build."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=model)
    it.allocate_tensors()
    ins, outs = it.get_input_details(), it.get_output_details()
    results = []
    for sample in samples:
        for d, x in zip(ins, sample):
            x = np.asarray(x)
            if d["dtype"] != np.float32 and np.issubdtype(d["dtype"], np.integer) and d["quantization"][0]:
                s, z = d["quantization"]
                info = np.iinfo(d["dtype"])
                x = np.clip(np.round(x / s + z), info.min, info.max)
            it.set_tensor(d["index"], x.astype(d["dtype"]).reshape(d["shape"]))
        it.invoke()
        row = []
        for d in outs:
            y = it.get_tensor(d["index"])
            if d["dtype"] != np.float32 and d["quantization"][0]:
                s, z = d["quantization"]
                y = (y.astype(np.float32) - z) * s
            row.append(np.asarray(y, np.float32).copy())
        results.append(row)
    return results


def whole_model_cosine(model: bytes, samples: Sequence[Sequence[np.ndarray]], reference: Sequence[Sequence[np.ndarray]]) -> float:
    """The worst output's cosine against the float reference over all samples (the budget's metric)."""
    got = run_model(model, samples)
    worst = 1.0
    for k in range(len(reference[0])):
        c = compare(np.concatenate([np.ravel(r[k]) for r in reference]), np.concatenate([np.ravel(g[k]) for g in got]))["cosine"]
        worst = min(worst, c)
    return worst


def median_latency_ms(model: bytes, sample: Sequence[np.ndarray], runs: int = 30) -> float:
    """A quick in-process p50 for the manifest's cost line (BENCHMARKS.md has the worker's numbers)."""
    import time

    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=model)
    it.allocate_tensors()
    for d, x in zip(it.get_input_details(), sample):
        it.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
    it.invoke()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        it.invoke()
        times.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(times))


INT8_TARGET = "tflite-int8"
SAMPLES = 32  # samples the report and the search score on (the held-out set gates the build)


@dataclass
class Setup:
    """A calibrated int8 conversion of ``ctx``'s source, with what the mixed target needs around it."""

    calibrated: Calibrated
    samples: list
    converter_path: str
    quantization: dict  # tflite-int8's manifest quantization record for this conversion
    io_dtype: str
    base_ctx: Any
    fp32_converter: Callable[[], Any]
    split: Any = None  # edgekit.quant.repair.SampleSplit when the search samples were held apart


def int8_context(ctx: Any, target_name: str = INT8_TARGET) -> Any:
    """``ctx`` as tflite-int8 would get it: its own name and only the options it knows."""
    import dataclasses

    from edgekit.targets import TARGETS

    base = TARGETS.get(target_name)
    return dataclasses.replace(ctx, target=target_name, options={k: v for k, v in ctx.options.items() if k in base.option_names})


def setup(ctx: Any, n_samples: int = SAMPLES, *, hold_apart: bool = False) -> Setup:
    """Calibrate the source exactly as tflite-int8 converts it (same converter path, options, I/O).

    ``hold_apart`` (the repair search): calibrate on one part of the calibration data only and
    return the other part as ``samples`` (at most ``n_samples``), so candidates are never scored on
    samples that set the int8 ranges (``edgekit.quant.repair.split_samples``). Without it (the
    per-layer report of tflite-int8 itself) every sample calibrates and the first ``n_samples`` are
    measured, as tflite-int8 converts."""
    import dataclasses

    from edgekit.quant.repair import split_samples
    from edgekit.targets import TARGETS
    from edgekit.targets.tflite import CONVERTERS
    from edgekit.targets.tflite_tf import import_tf

    tf = import_tf()
    base = TARGETS.get(INT8_TARGET)
    tf_conv = CONVERTERS.get("tf")  # TensorFlow's QuantizationDebugger: the TF converter's path only
    bctx = int8_context(ctx)
    cal = ctx.calibration
    if cal is None or len(cal) == 0:
        raise EdgekitError("the per-layer report needs calibration samples", "pass --calibration DATA")
    split = None
    if hold_apart:
        split = split_samples(len(cal), max_search=n_samples)
        bctx = dataclasses.replace(bctx, calibration=cal.subset(split.calibrate))
        samples = [cal.sample(i) for i in split.search]
    else:
        samples = [cal.sample(i) for i in range(min(len(cal), n_samples))]
    path_name, conv = next(iter(tf_conv.converters(tf, base, bctx)))
    quant = tf_conv.configure(tf, conv, base, bctx)

    def gen():
        yield from samples

    layer_names = [layer.name for layer in getattr(ctx.source.model, "layers", [])]
    return Setup(
        calibrate(conv, gen, tf, layer_names),
        samples,
        path_name,
        quant,
        base.io_dtype(bctx),
        bctx,
        lambda: next(iter(tf_conv.converters(tf, base, bctx)))[1],
        split,
    )


class TFLiteBackend:
    """``edgekit.quant.BACKENDS["tflite"]``: per-layer error of full-int8 TFLite conversions."""

    modes = ("int8", "int8-mixed")

    def layer_errors(self, target: Any, ctx: Any) -> list[LayerError]:
        mode = getattr(target, "mode", "int8-mixed" if target.name.endswith("-mixed") else "")
        if mode not in self.modes:
            raise EdgekitError(
                f"no per-layer report for {target.name}: TF's QuantizationDebugger covers full-int8 conversions only",
                "build tflite-int8 with --explain to see which layers int8 hurts",
            )
        s = setup(ctx)

        def gen():
            yield from s.samples

        return s.calibrated.layer_errors(gen)


def _register() -> None:
    from edgekit.quant import BACKENDS

    BACKENDS.register("tflite", TFLiteBackend())


_register()
