"""Per-layer quantization error and mixed-precision re-quantization for PT2E (ExecuTorch .pte).

Float and quantize-simulated models are the same FX graph before and after PT2E
(``prepare_pt2e``/``convert_pt2e``): node names survive, so every layer's output can be compared
node for node. A *layer* is a PyTorch module path (``layers.2.fc1``: the name the user knows,
from each node's ``nn_module_stack``) and holds the ops whose innermost module it is; a container
(``layers.2``) holds only its own ops (the residual adds), so every op belongs to one layer. A
layer's quantized value is what the next layer sees: the output's dequantize when PT2E put a
quantize/dequantize pair after it.

Calibrating is the slow part (HistogramObserver; ~1 s a sample on a loaded 2-core machine), and
observer statistics do not depend on which layers are kept float: a prepared model computes in
float throughout and each observer only records the float tensor it sits on. So
:class:`Simulation` calibrates once, and a mixed configuration is prepared again and handed the
already-calibrated observers of the tensors it observes; only an observer that the full
configuration did not have triggers a new calibration. The numbers are the eager PT2E simulation;
the orchestrator then checks the lowered .pte on held-out samples, which is the verdict.

Registered as ``BACKENDS["pte"]`` with ``layer_errors(target, ctx)`` (the call shape every
backend shares, see ``edgekit.quant``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgekit.errors import EdgekitError
from edgekit.quant import BACKENDS
from edgekit.quant.metrics import LayerError, compare_batches

SEARCH_SAMPLES = 64  # calibration samples the repair search and the report score on (worst-sample
# cosine: one sentence of 64 can be the one that breaks, so the search must see enough of them)
REPORT_SAMPLES = 16  # samples the per-layer report compares every layer on
# aten ops the XNNPACK quantizer annotates itself (the rest only share their inputs' quantization)
COMPUTE_OPS = ("aten.linear", "aten.conv", "aten.add.Tensor", "aten.mul.Tensor", "aten.cat", "aten.adaptive_avg_pool")


def _observer_key(node: Any, observer: Any) -> tuple:
    """Observers of the same float tensor with the same settings see the same values."""
    return (
        node.args[0].name if node.args and hasattr(node.args[0], "name") else None,
        type(observer).__name__,
        str(getattr(observer, "dtype", "")),
        str(getattr(observer, "qscheme", "")),
        getattr(observer, "quant_min", None),
        getattr(observer, "quant_max", None),
        getattr(observer, "ch_axis", None),
        bool(getattr(observer, "is_dynamic", False)),
    )


def _observer_nodes(gm: Any) -> list:
    return [n for n in gm.graph.nodes if n.op == "call_module" and "activation_post_process" in str(n.target)]


def _is_qdq(node: Any, kind: str) -> bool:
    t = str(getattr(node, "target", ""))
    return node.op == "call_function" and t.split(".")[-2 if t.count(".") >= 2 else -1].startswith(kind) if t else False


def _seen_as(node: Any) -> Any:
    """The node whose value the next layer reads: ``node``'s dequantize when q/dq follow it."""
    for q in node.users:
        name = str(q.target)
        if q.op == "call_function" and "quantize_per_tensor" in name and "dequantize" not in name:
            for dq in q.users:
                if "dequantize" in str(dq.target):
                    return dq
    return node


@dataclass
class Layer:
    path: str  # module path ('' is the top-level module's own ops)
    output: str  # node name of the layer's output (the last node read outside it)
    op: str
    depth: int
    inputs: list[str] = field(default_factory=list)  # module paths feeding it


def layers_of(gm: Any) -> list[Layer]:
    """Module-path layers of a float exported graph, in topological order of their outputs."""
    from edgekit.torchkit.pt2e import is_float_node, module_path

    nodes = [
        n
        for n in gm.graph.nodes
        if n.op == "call_function" and is_float_node(n) and getattr(n.meta.get("val"), "shape", None) is not None
    ]
    unit = {n: module_path(n) for n in nodes}
    last: dict[str, Any] = {}
    feeds: dict[str, set] = {}
    for n in nodes:
        u = unit[n]
        if any(unit.get(user) != u for user in n.users):
            last[u] = n
        for a in n.all_input_nodes:
            if a in unit and unit[a] != u:
                feeds.setdefault(u, set()).add(unit[a])
    order = sorted(last.items(), key=lambda kv: nodes.index(kv[1]))
    return [
        Layer(
            path or "<top>",
            n.name,
            str(n.target).replace(".default", ""),
            d,
            sorted(("<top>" if f == "" else f) for f in feeds.get(path, ())),
        )
        for d, (path, n) in enumerate(order)
    ]


def capture(gm: Any, batches: Sequence[Sequence[Any]], names: Iterable[str]) -> dict[str, list[np.ndarray]]:
    """The values of the named nodes of ``gm`` on every batch (torch.fx.Interpreter)."""
    import torch

    wanted = set(names)
    seen: dict[str, list[np.ndarray]] = {n: [] for n in wanted}

    class Capture(torch.fx.Interpreter):
        def run_node(self, n):
            out = super().run_node(n)
            if n.name in wanted and isinstance(out, torch.Tensor):
                seen[n.name].append(out.detach().float().numpy().copy())
            return out

    with torch.no_grad():
        for b in batches:
            Capture(gm).run(*b)
    return seen


class Simulation:
    """One exported program, calibrated once, re-quantizable with any set of layers kept float."""

    def __init__(
        self,
        exported_program: Any,
        calibration: Sequence[Sequence[Any]],
        *,
        per_channel: bool = True,
        dynamic: bool = False,
        on_sample: Callable[[], None] | None = None,
    ):
        from edgekit.torchkit import pt2e

        self.ep = exported_program
        self.calibration = list(calibration)
        self.per_channel, self.dynamic = per_channel, dynamic
        self.recalibrations = 0
        full = pt2e.prepare(exported_program, pt2e.make_quantizer(per_channel, dynamic))
        self.samples_seen = pt2e.calibrate(full, self.calibration, on_sample)
        self._observers = {}
        for n in _observer_nodes(full):
            obs = getattr(full, n.target)
            self._observers.setdefault(_observer_key(n, obs), obs)
        self.quantized_layers = self._quantized_paths(full)
        self._converted: dict[tuple, Any] = {(): pt2e.convert(full)}

    @staticmethod
    def _quantized_paths(prepared: Any) -> list[str]:
        """Module paths owning a quantized compute op (linear, conv, add, mul, cat, pooling) that
        reads an observed tensor. Views and layer norms only pass quantization along: keeping
        them float changes nothing, so they are not repair candidates."""
        from edgekit.torchkit.pt2e import module_path

        paths: list[str] = []
        obs = set(_observer_nodes(prepared))
        for n in prepared.graph.nodes:
            if n.op != "call_function" or not any(k in str(n.target) for k in COMPUTE_OPS):
                continue
            if any(a in obs for a in n.all_input_nodes):
                p = module_path(n) or "<top>"
                if p not in paths:
                    paths.append(p)
        return paths

    def converted(self, keep_float: Iterable[str] = ()) -> Any:
        """The quantize-simulated module with ``keep_float`` module paths left in float."""
        from edgekit.torchkit import pt2e

        key = tuple(sorted(keep_float))
        if key not in self._converted:
            kept = ["" if k == "<top>" else k for k in key]
            prepared = pt2e.prepare(self.ep, pt2e.make_quantizer(self.per_channel, self.dynamic, kept))
            missing = False
            for n in _observer_nodes(prepared):
                cached = self._observers.get(_observer_key(n, getattr(prepared, n.target)))
                if cached is None:
                    missing = True
                    break
                setattr(prepared, n.target, copy.deepcopy(cached))
            if missing:  # an observer the full configuration never had: calibrate this one for real
                self.recalibrations += 1
                pt2e.calibrate(prepared, self.calibration)
            self._converted[key] = pt2e.convert(prepared)
        return self._converted[key]

    def outputs(self, keep_float: Iterable[str], batches: Sequence[Sequence[Any]]) -> list[list[np.ndarray]]:
        import torch

        model = self.converted(keep_float)
        out = []
        with torch.no_grad():
            for b in batches:
                r = model(*b)
                out.append([t.detach().float().numpy() for t in (r if isinstance(r, (tuple, list)) else [r])])
        return out

    def layer_errors(self, batches: Sequence[Sequence[Any]], keep_float: Iterable[str] = ()) -> list[LayerError]:
        """Float vs quantized output of every module-path layer on ``batches`` (carried error)."""
        float_gm = self.ep.module()
        quant_gm = self.converted(keep_float)
        layers = layers_of(float_gm)
        qnodes = {n.name: n for n in quant_gm.graph.nodes}
        q_name = {l.output: _seen_as(qnodes[l.output]).name for l in layers if l.output in qnodes}
        ref = capture(float_gm, batches, [l.output for l in layers])
        got = capture(quant_gm, batches, q_name.values())
        quantized = set(self.quantized_layers)
        out: list[LayerError] = []
        for l in layers:
            r, c = ref.get(l.output), got.get(q_name.get(l.output, ""))
            if not r or not c or len(r) != len(c):
                continue
            m = compare_batches(r, c)
            out.append(
                LayerError(
                    name=l.path,
                    source_name=l.path,
                    op=l.op,
                    depth=l.depth,
                    inputs=l.inputs,
                    measure="carried",
                    quantized=l.path in quantized,
                    **m,
                )
            )  # type: ignore[typeddict-item]
        return out


def _noise_ratio(snr_db: float) -> float:
    return float(10.0 ** (-float(snr_db) / 10.0))


def repair_order(layers: Sequence[LayerError], candidates: Iterable[str]) -> list[str]:
    """Candidate layers (module paths) most sensitive first, for the repair search.

    Sensitivity is the noise a layer adds, as a share of the signal (``10^(-SNR/10)`` minus its
    worst input's): 200 -> 40 dB is harmless, 20 -> 10 dB is not, which ranking by dB lost hides.
    A layer that cannot be kept float itself (softmax attention, a layer norm) passes what it adds
    on to the candidate layers feeding it: attention amplifies the quantization error of the q/k
    projections, and keeping those float is the fix."""
    cands = set(candidates)
    by_name = {l["name"]: l for l in layers}
    added: dict[str, float] = {}
    for l in layers:
        feeders = [by_name[i] for i in l.get("inputs", []) if i in by_name]
        before = max((_noise_ratio(f["snr_db"]) for f in feeders), default=0.0)
        added[l["name"]] = max(0.0, _noise_ratio(l["snr_db"]) - before)
    score = {c: added.get(c, 0.0) for c in cands}
    for l in layers:
        if l["name"] in cands:
            continue
        blamed = [i for i in l.get("inputs", []) if i in cands]
        for i in blamed:
            score[i] += added[l["name"]] / len(blamed)
    depth = {l["name"]: l.get("depth", 0) for l in layers}
    return sorted(cands, key=lambda c: (-score[c], depth.get(c, 0)))


def batches_of(dataset: Any, example: Sequence[Any], limit: int | None = None) -> list[tuple]:
    """Calibration samples as torch tensors of the example inputs' dtypes."""
    from edgekit.torchkit.export import as_tensors

    n = len(dataset) if limit is None else min(limit, len(dataset))
    dtypes = [t.dtype for t in example]
    return [tuple(t.to(d) for t, d in zip(as_tensors(dataset.sample(i)), dtypes)) for i in range(n)]


def whole_model_cosine(reference: Sequence[Sequence[np.ndarray]], got: Sequence[Sequence[np.ndarray]]) -> float:
    """The drift check's cosine (worst sample, worst output; edgekit.build.accuracy), so the
    search aims at the number the build gates on."""
    from edgekit.build import accuracy

    n_out = len(reference[0])
    drift = accuracy.compare(
        [np.concatenate([np.asarray(r[k]).reshape(1, -1) for r in reference]) for k in range(n_out)],
        [np.concatenate([np.asarray(g[k]).reshape(1, -1) for g in got]) for k in range(n_out)],
    )
    cos = drift.get("cosine")
    return float(cos) if cos is not None else -1.0


def median_latency_ms(program: bytes, sample: Sequence[Any], runs: int = 20) -> float | None:
    """Median wall time of one forward of a lowered .pte, in this process (indicative only: eager
    torch in the same process slows XNNPACK; ``edgekit bench`` measures in a clean worker)."""
    import time

    try:
        import executorch.kernels.quantized  # noqa: F401
        from executorch.extension.pybindings import portable_lib

        module = portable_lib._load_for_executorch_from_buffer(program)
        inputs = tuple(sample)
        module.forward(inputs)
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            module.forward(tuple(t.clone() for t in inputs))  # fresh inputs each run (buffers are reused)
            times.append((time.perf_counter() - t0) * 1e3)
        return float(np.median(times))
    except Exception:  # noqa: BLE001 - the cost line is advice, never a failure
        return None  # the cost line is advice; it never fails the target


class PT2EBackend:
    """``BACKENDS["pte"]``: per-layer error of a PT2E-quantized ExecuTorch target."""

    format = "pte"

    def simulation(self, target: Any, ctx: Any, on_sample: Callable[[], None] | None = None) -> Simulation:
        from edgekit.torchkit.export import example_inputs, fresh_program

        quantize = getattr(target, "quantize", None)
        if quantize not in ("static", "dynamic"):
            raise EdgekitError(
                f"{getattr(target, 'name', '?')} is not a PT2E-quantized target",
                "ask for the per-layer report of executorch-xnnpack-int8 (or -dynamic-int8)",
            )
        example = example_inputs(ctx.source)
        if quantize == "static":
            if ctx.calibration is None:
                raise EdgekitError("a per-layer report of static int8 needs calibration data", "pass --calibration")
            cal = batches_of(ctx.calibration, example)
        else:
            cal = [tuple(example)]
        return Simulation(
            fresh_program(ctx.source, getattr(ctx.spec, "targets", None)),
            cal,
            per_channel=bool(ctx.options.get("per_channel", True)),
            dynamic=quantize == "dynamic",
            on_sample=on_sample,
        )

    def layer_errors(self, target: Any, ctx: Any) -> list[LayerError]:
        from edgekit.torchkit.export import example_inputs

        sim = self.simulation(target, ctx)
        data = ctx.calibration
        batches = (
            batches_of(data, example_inputs(ctx.source), REPORT_SAMPLES)
            if data is not None
            else [tuple(example_inputs(ctx.source))]
        )
        return sim.layer_errors(batches)


BACKENDS.register("pte", PT2EBackend())
