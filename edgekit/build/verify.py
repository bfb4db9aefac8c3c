"""The load-and-invoke check of a freshly built artifact, in a worker process of its own.

Converters emit files that cannot be allocated or output NaN, and runtimes can crash the process,
so the orchestrator (edgekit.build.orchestrator) never loads an artifact itself: it writes the
evaluation inputs and a small spec, and ``python -m edgekit.build.verify SPEC.json`` (``main``)
loads the artifact with the runtime registry, invokes every sample and saves the dequantized
outputs for the orchestrator to compare with the float source.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Sequence

from edgekit.errors import EdgekitError

VERIFY_TIMEOUT_S = float(os.environ.get("EDGEKIT_VERIFY_TIMEOUT", "900"))


def verify_in_worker(
    path: str,
    fmt: str,
    ev,
    input_names: Sequence[str],
    timeout: float = VERIFY_TIMEOUT_S,
    layouts: Sequence[dict | None] | None = None,
) -> dict:
    """Load and invoke ``path`` on every evaluation sample in a fresh process.

    ``layouts``: the entry's input layout records (edgekit/build/layout.py): samples stay in the
    source's layout everywhere else and are transposed here, for this artifact only.
    Returns {"inputs", "outputs" (TensorSpec dicts), "runtime", "values" (dequantized outputs)}
    or raises EdgekitError with the runtime's reason (including a crash of the process).
    """
    import numpy as np

    from edgekit.build.layout import to_artifact
    from edgekit.harness.lifetime import owned_tempdir
    from edgekit.transports.host import describe_exit, worker_env

    with owned_tempdir("verify") as tmp:  # edgekit-verify-PID-*: swept by later runs once PID is gone
        data = os.path.join(tmp, "inputs.npz")
        np.savez(data, **{f"input_{i}": a for i, a in enumerate(to_artifact(ev.inputs, layouts))})
        spec = {
            "artifact": path,
            "format": fmt,
            "inputs": data,
            "input_names": list(input_names),
            "out": os.path.join(tmp, "out"),
        }
        spec_path = os.path.join(tmp, "spec.json")
        with open(spec_path, "w", encoding="utf-8") as f:
            json.dump(spec, f)
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "edgekit.build.verify", spec_path],
                capture_output=True,
                text=True,
                timeout=timeout,
                env=worker_env(),
            )
        except subprocess.TimeoutExpired:
            raise EdgekitError(
                f"loading and invoking the artifact took longer than {timeout:.0f} s", "raise EDGEKIT_VERIFY_TIMEOUT"
            ) from None
        result_path = spec["out"] + ".json"
        if not os.path.exists(result_path):
            tail = " | ".join(l.strip() for l in (proc.stderr or "").strip().splitlines()[-3:])
            raise EdgekitError(
                f"the runtime process {describe_exit(proc.returncode)} while loading/invoking the artifact"
                + (f" ({tail[:300]})" if tail else ""),
                "the artifact is unusable on this runtime; try another target",
            )
        with open(result_path, encoding="utf-8") as f:
            result = json.load(f)
        if result.get("error"):
            err = result["error"]
            raise EdgekitError(err.get("message", "verification failed"), err.get("hint", ""))
        with np.load(spec["out"] + ".npz") as z:
            result["values"] = [z[f"output_{i}"] for i in range(len(z.files))]
        return result


def _match_inputs(session_names: Sequence[str], source_names: Sequence[str]) -> list[int]:
    """For each session input, the source input it takes: by name where names match, else by order."""
    order = []
    for s in session_names:
        hits = [i for i, n in enumerate(source_names) if n and (n == s or n in s)]
        order.append(hits[0] if len(hits) == 1 else -1)
    if sorted(order) == list(range(len(source_names))):
        return order
    return list(range(len(session_names)))


def named_like_source(specs: list[dict], source_names: Sequence[str]) -> list[dict]:
    """The artifact's input specs with the model's argument names where the format stores none.

    A .pte keeps no input names (the runtime calls them input_0, input_1 ...), a .ptl and a
    .tflite do: the manifest names every artifact's inputs as the model's forward() does.
    """
    import re

    index = [re.fullmatch(r"input_(\d+)", str(s.get("name", ""))) for s in specs]
    if len(specs) != len(source_names) or not all(m and int(m.group(1)) < len(source_names) for m in index):
        return specs
    return [{**s, "name": source_names[int(m.group(1))]} for s, m in zip(specs, index)]


def match_outputs(reference: list, candidate: list) -> list:
    """Candidate outputs reordered to the reference's order when shapes tell them apart."""
    if len(reference) != len(candidate) or len(reference) < 2:
        return candidate
    if all(r.shape == c.shape for r, c in zip(reference, candidate)):
        return candidate
    remaining = list(range(len(candidate)))
    out = []
    for r in reference:
        hits = [j for j in remaining if candidate[j].shape == r.shape]
        if not hits:
            return candidate
        out.append(candidate[hits[0]])
        remaining.remove(hits[0])
    return out


def main(spec_path: str) -> int:
    """Worker side: load with the runtime registry, invoke every sample, save dequantized outputs."""
    import numpy as np

    from edgekit.harness.inputs import dequantize, quantize
    from edgekit.runtimes import get_runtime
    from edgekit.runtimes.base import RunOptions

    with open(spec_path, encoding="utf-8") as f:
        spec = json.load(f)
    out = spec["out"]
    result: dict = {}
    try:
        runtime = get_runtime(spec["format"])
        options = RunOptions()
        result["runtime"] = runtime.describe(options)
        session = runtime.load(spec["artifact"], options)
        result["inputs"] = [s.to_dict() for s in session.inputs]
        result["outputs"] = [s.to_dict() for s in session.outputs_spec]
        with np.load(spec["inputs"]) as z:
            arrays = [z[f"input_{i}"] for i in range(len(z.files))]
        if len(arrays) != len(session.inputs):
            raise EdgekitError(
                f"the artifact has {len(session.inputs)} inputs, the source model {len(arrays)}", "check the conversion"
            )
        order = _match_inputs([s.name for s in session.inputs], spec.get("input_names") or [])
        collected: list[list] = [[] for _ in session.outputs_spec]
        for i in range(arrays[0].shape[0]):
            feed = []
            for s_spec, src_index in zip(session.inputs, order):
                x = arrays[src_index][i : i + 1]
                feed.append(quantize(x, s_spec))
            session.set_inputs(feed)
            session.invoke()
            for k, (o, o_spec) in enumerate(zip(session.outputs(), session.outputs_spec)):
                collected[k].append(np.asarray(dequantize(np.array(o), o_spec), dtype=np.float32))
            if i == 0:
                for o_spec, vals in zip(session.outputs_spec, collected):
                    if not np.all(np.isfinite(vals[0])):
                        raise EdgekitError(
                            f"output {o_spec.name!r} holds NaN/Inf on the first sample",
                            "the conversion is broken (e.g. unfrozen weights); this artifact must not ship",
                        )
        np.savez(out + ".npz", **{f"output_{k}": np.concatenate(v) for k, v in enumerate(collected)})
        session.close()
    except EdgekitError as exc:
        result["error"] = exc.to_dict()
    except Exception as exc:  # the runtime raised something unexpected: still a reason, not a traceback
        from edgekit.errors import first_line

        msg = first_line(exc, 400) if str(exc).strip() else ""  # TorchScript: the interpreter's real error
        result["error"] = {
            "message": f"the runtime failed to run the artifact: {type(exc).__name__}: {msg}",
            "hint": "this artifact cannot run here; try another target or settings",
        }
    with open(out + ".json", "w", encoding="utf-8") as f:
        json.dump(result, f)
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 2:
        raise SystemExit(main(sys.argv[1]))
    print("usage: python -m edgekit.build.verify SPEC.json", file=sys.stderr)
    raise SystemExit(2)
