"""What the harness self-check and the time budget change, on programs built here (issue 13, items 4 and 7).

1. ExecuTorch input reuse: a small conv net (portable kernels and XNNPACK) and a transformer-style
   encoder with an embedding, executed twice after setting the inputs once, against re-setting
   them before the second run. Prints the largest output difference to run 1 (or the error).
2. The time budget: a conv net on portable kernels that takes seconds per inference, measured by
   ``edgekit bench`` with default settings; prints runs, per-inference time and total wall time.

    .venv/bin/python benchmarks/harness_selfcheck.py [--size 80]

Needs torch + executorch (the ``torch`` extra). Takes about a minute plus 6x one inference.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def build(tmp: str, size: int) -> dict:
    import torch
    from torch import nn
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    class Conv(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.c2 = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1)
            self.fc = nn.Linear(8 * 16 * 16, 10)

        def forward(self, x):
            return self.fc(torch.relu(self.c2(torch.relu(self.c1(x)))).flatten(1))

    class Encoder(nn.Module):
        def __init__(self, vocab=100, d=32, length=16):
            super().__init__()
            self.tok, self.pos = nn.Embedding(vocab, d), nn.Embedding(length, d)
            self.layer = nn.TransformerEncoderLayer(d, 4, 64, batch_first=True, dropout=0.0)
            self.norm = nn.LayerNorm(d)

        def forward(self, ids):
            return self.norm(self.layer(self.tok(ids) + self.pos(torch.arange(ids.shape[1]).unsqueeze(0)))).mean(1)

    class Slow(nn.Module):
        def __init__(self):
            super().__init__()
            self.c = nn.Sequential(
                nn.Conv2d(3, 64, 3, padding=1),
                nn.ReLU(),
                nn.Conv2d(64, 64, 3, padding=1),
                nn.ReLU(),
                nn.Conv2d(64, 64, 3, padding=1),
            )

        def forward(self, x):
            return self.c(x).mean((2, 3))

    torch.manual_seed(0)
    out = {}

    def save(name, module, example, xnnpack):
        ep = torch.export.export(module.eval(), example)
        edge = to_edge_transform_and_lower(ep, partitioner=[XnnpackPartitioner()] if xnnpack else [])
        path = os.path.join(tmp, name + ".pte")
        with open(path, "wb") as f:
            f.write(edge.to_executorch().buffer)
        out[name] = (path, example)

    conv = Conv()
    save("conv_portable", conv, (torch.randn(1, 3, 16, 16),), False)
    save("conv_xnnpack", conv, (torch.randn(1, 3, 16, 16),), True)
    save("encoder_xnnpack", Encoder(), (torch.randint(0, 100, (1, 16)),), True)
    save("slow_portable", Slow(), (torch.zeros(1, 3, size, size),), False)
    return out


def input_reuse(models: dict) -> None:
    import numpy as np
    from executorch.extension.pybindings import portable_lib

    print("| program | run 2, inputs set once | run 2, inputs re-set |")
    print("|---|---|---|")
    for name in ("conv_portable", "conv_xnnpack", "encoder_xnnpack"):
        path, example = models[name]
        method = portable_lib._load_program(path, enable_etdump=False, debug_buffer_size=0).load_method("forward")
        method.set_inputs(list(example))
        method.execute()
        first = method.get_outputs(clone_outputs=True)[0].numpy().copy()
        try:
            method.execute()
            once = f"max abs diff {float(np.abs(method.get_outputs(clone_outputs=True)[0].numpy() - first).max()):.2g}"
        except Exception as exc:  # the embedding model aborts here
            once = f"fails: {str(exc).splitlines()[0][:60]}"
        method.set_inputs(list(example))
        method.execute()
        again = float(np.abs(method.get_outputs(clone_outputs=True)[0].numpy() - first).max())
        print(f"| {name} | {once} | max abs diff {again:.2g} |")


def budget(models: dict) -> None:
    path = models["slow_portable"][0]
    out = path + ".json"
    env = dict(os.environ, PYTHONPATH=ROOT, EDGEKIT_HISTORY="off")
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "edgekit", "bench", path, "--threads", "1", "-o", out], env=env, check=True, capture_output=True
    )
    total = time.perf_counter() - t0
    with open(out) as f:
        r = json.load(f)
    lat = r["latency_ms"]
    print(
        f"\nslow_portable.pte, `edgekit bench --threads 1` with default --warmup 10 --min-runs 50 --max-time "
        f"{r['method']['max_time_s']:g}: first inference {r['first_inference_ms'] / 1e3:.1f} s, p50 {lat['p50'] / 1e3:.2f} s, "
        f"{lat['n']} timed runs, {r['warmup_runs']} warmup, stopped by {r['method']['stopped_by']}; "
        f"whole command {total:.0f} s (without the budget: 1 + 10 + 50 runs = ~{61 * lat['p50'] / 1e3:.0f} s of inference)"
    )
    print(
        f"memory: runtime import {r['memory']['runtime_import_rss_bytes'] / 2**20:.0f} MiB, "
        f"model {r['memory']['model_rss_bytes'] / 2**20:.1f} MiB, peak {r['memory']['peak_rss_bytes'] / 2**20:.0f} MiB"
    )
    for note in r["notes"]:
        print("note:", note)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=80, help="input size of the slow portable conv net (80: ~4-5 s)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="edgekit-bench-") as tmp:
        models = build(tmp, args.size)
        input_reuse(models)
        budget(models)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
