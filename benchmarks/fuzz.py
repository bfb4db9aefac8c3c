"""Hostile-input campaign for the inspector: mutated real .tflite files must end in a result or one EdgekitError.

Every case starts from a real model in ../shared/testdata/coral (models/ and more_models/) and applies
one seeded mutation: bit flips, byte smashes, "interesting" 32-bit values (0, -1, 2**31-1, the file
size ...) written over offsets and lengths, truncation, a spliced chunk, or a field mutation made
through the schema's object API (hostile names with rich markup and ESC sequences, operators with
too few inputs or outputs, out-of-range and negative indices, absurd shapes and shape vectors,
dynamic dimensions, wrong op codes, thousands of operators). Byte mutations land in the flatbuffer's
structure, not in weight data (a flipped weight changes nothing the inspector reads).

Each case runs ``describe`` + ``--json`` serialisation + a table view (the default one; with
``--tensors`` the superset that also lists every tensor) in a worker process under a time bound, and checks the rendered text for raw control
characters. Case ``i`` of seed ``s`` is the same file on every machine: ``--case i --write F`` writes it.

Usage (from the repository root):
  .venv/bin/python benchmarks/fuzz.py [--cases 10000] [--seed 0] [--bound 5] [--jobs 2] [--cli 200] [--bench 0]
  .venv/bin/python benchmarks/fuzz.py --case 1234 --write /tmp/case.tflite
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import os
import random
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("EDGEKIT_SHARED", ROOT.parent / "shared"))
CORAL = SHARED / "testdata" / "coral"

# Raw C0 (except newline), DEL and C1 controls in rendered output mean a name reached the terminal unescaped.
RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")
HOSTILE_NAMES = [
    "[/bold]",
    "[bold red]x[/]",
    "\x1b[2J\x1b[Hcleared",
    "a\nb\rc",
    "\x07bell\x08",
    "\u202eevil.txt",
    "[link=file:///etc/passwd]x[/link]",
    ":warning: emoji",
    "\\",
    "x\\[/bold]",
    "\x9b31m",
    "\x00nul",
    "A" * 100_000,
    "[" * 5000,
    "é" * 3000,
]
INTERESTING_U32 = [
    0,
    1,
    2,
    3,
    4,
    7,
    8,
    0x7F,
    0x80,
    0xFF,
    0x100,
    0x7FFF,
    0xFFFF,
    0x10000,
    0x7FFFFFFF,
    0x80000000,
    0xFFFFFFFF,
    0xFFFFFFFE,
    0xFFFFFF80,
]


def sources(dirs: tuple[str, ...] = ("models", "more_models"), max_bytes: int | None = None) -> list[Path]:
    out = []
    for d in dirs:
        out += sorted((CORAL / d).glob("*.tflite"))
    return [p for p in out if max_bytes is None or p.stat().st_size <= max_bytes]


def blob_ranges(data: bytes) -> list[tuple[int, int]]:
    """Byte ranges of weight data and Edge TPU executables (> 64 bytes): mutating them tests nothing."""
    import tflite

    m = tflite.Model.GetRootAs(bytearray(data), 0)
    ranges = []
    for i in range(m.BuffersLength()):
        b = m.Buffers(i)
        n = b.DataLength()
        if n > 64:
            start = b._tab.Vector(b._tab.Offset(4))
            ranges.append((start, start + n))
    for s in range(m.SubgraphsLength()):
        sg = m.Subgraphs(s)
        for o in range(sg.OperatorsLength()):
            op = sg.Operators(o)
            n = op.CustomOptionsLength()
            if n > 64:
                start = op._tab.Vector(op._tab.Offset(14))
                ranges.append((start, start + n))
    return sorted(ranges)


def structure_positions(data: bytes) -> list[tuple[int, int]]:
    """The complement of blob_ranges inside the file: where the flatbuffer's tables, vectors and strings are."""
    out, pos = [], 0
    for a, b in blob_ranges(data):
        if a > pos:
            out.append((pos, a))
        pos = max(pos, b)
    if pos < len(data):
        out.append((pos, len(data)))
    return out


@dataclass
class Source:
    path: Path
    data: bytes
    spans: list[tuple[int, int]]

    def pick(self, rng: random.Random) -> int:
        total = sum(b - a for a, b in self.spans)
        k = rng.randrange(total)
        for a, b in self.spans:
            if k < b - a:
                return a + k
            k -= b - a
        return 0


class Mutator:
    """Case i of a seed is a pure function of (seed, i, the source files)."""

    BYTE_KINDS = ("flip", "smash", "int", "truncate", "splice")
    FIELD_KINDS = ("name", "op_io", "index", "shape", "opcode", "many_ops", "options", "quant", "sig_meta")

    def __init__(self, seed: int = 0, paths: list[Path] | None = None, many: tuple[int, ...] = (1_000, 5_000, 10_000)):
        self.seed, self.many = seed, many  # many: operator counts of the many_ops mutation
        self.sources = []
        for p in paths or sources():
            data = p.read_bytes()
            self.sources.append(Source(p, data, structure_positions(data)))

    def case(self, i: int) -> tuple[str, str, bytes]:
        """(mutation kind, source file name, mutated bytes)."""
        rng = random.Random(f"{self.seed}:{i}")
        for _ in range(20):  # a field value the schema's packer cannot write is drawn again (same rng: reproducible)
            src = rng.choice(self.sources)
            kind = rng.choice(self.BYTE_KINDS + self.FIELD_KINDS)
            try:
                return kind, src.path.name, getattr(self, "_" + kind)(rng, src)
            except Exception:  # noqa: BLE001 - struct.error, BuilderSizeError from the packer
                continue
        return "flip", src.path.name, self._flip(rng, src)

    # -- byte mutations --------------------------------------------------------------------------
    def _flip(self, rng, src):
        buf = bytearray(src.data)
        for _ in range(rng.randint(1, 8)):
            buf[src.pick(rng)] ^= 1 << rng.randrange(8)
        return bytes(buf)

    def _smash(self, rng, src):
        buf = bytearray(src.data)
        for _ in range(rng.randint(1, 4)):
            buf[src.pick(rng)] = rng.randrange(256)
        return bytes(buf)

    def _int(self, rng, src):
        buf = bytearray(src.data)
        for _ in range(rng.randint(1, 3)):
            pos = src.pick(rng) & ~3
            if pos + 4 > len(buf):
                continue
            value = rng.choice(INTERESTING_U32 + [len(buf), len(buf) - 4, len(buf) // 4, rng.randrange(1 << 32)])
            buf[pos : pos + 4] = (value & 0xFFFFFFFF).to_bytes(4, "little")
        return bytes(buf)

    def _truncate(self, rng, src):
        cut = src.pick(rng) if rng.random() < 0.7 else rng.randrange(len(src.data))
        return src.data[:cut]

    def _splice(self, rng, src):
        buf = bytearray(src.data)
        a, b, n = src.pick(rng), src.pick(rng), rng.choice([4, 8, 16, 64, 256])
        chunk = buf[a : a + n]
        buf[b : b + len(chunk)] = chunk
        return bytes(buf[: len(src.data)])

    # -- field mutations through the schema's object API ----------------------------------------
    @staticmethod
    def _unpack(src):
        import ai_edge_litert.schema_py_generated as s

        return s, s.ModelT.InitFromPackedBuf(bytearray(src.data), 0)

    @staticmethod
    def _pack(m) -> bytes:
        import flatbuffers

        b = flatbuffers.Builder(1024)
        b.Finish(m.Pack(b), file_identifier=b"TFL3")
        return bytes(b.Output())

    def _field(self, rng, src, fn) -> bytes:
        if len(src.data) > 2_000_000:  # unpack + pack of a 4 MB model through the object API costs ~0.1-0.5 s
            src = rng.choice([x for x in self.sources if len(x.data) <= 2_000_000] or [src])
        s, m = self._unpack(src)
        sg = rng.choice(m.subgraphs)
        fn(rng, s, m, sg)
        return self._pack(m)

    def _name(self, rng, src):
        def mutate(rng, s, m, sg):
            for _ in range(rng.randint(1, 4)):
                target = rng.choice(["tensor", "tensor", "subgraph", "description", "custom", "signature", "metadata"])
                name = rng.choice(HOSTILE_NAMES)
                if target == "tensor" and sg.tensors:
                    rng.choice(sg.tensors).name = name
                elif target == "subgraph":
                    sg.name = name
                elif target == "description":
                    m.description = name
                elif target == "custom" and m.operatorCodes:
                    oc = rng.choice(m.operatorCodes)
                    oc.builtinCode = oc.deprecatedBuiltinCode = 32
                    oc.customCode = name
                elif target == "signature" and m.signatureDefs:
                    sd = rng.choice(m.signatureDefs)
                    sd.signatureKey = name
                    for t in (sd.inputs or []) + (sd.outputs or []):
                        t.name = name
                elif target == "metadata" and m.metadata:
                    rng.choice(m.metadata).name = name

        return self._field(rng, src, mutate)

    def _op_io(self, rng, src):
        def mutate(rng, s, m, sg):
            for op in rng.sample(sg.operators, min(len(sg.operators), rng.randint(1, 3))):
                which = rng.choice(["inputs", "outputs", "both"])
                keep = rng.choice([0, 1])
                if which in ("inputs", "both"):
                    op.inputs = list(op.inputs)[:keep] if op.inputs is not None else None
                if which in ("outputs", "both"):
                    op.outputs = list(op.outputs)[:keep] if op.outputs is not None else None

        return self._field(rng, src, mutate)

    def _index(self, rng, src):
        bad = [-1, -2, -(2**31), 2**31 - 1, 10**6]

        def mutate(rng, s, m, sg):
            choice = rng.choice(["op_in", "op_out", "sg_in", "sg_out", "buffer", "opcode"])
            if choice in ("op_in", "op_out") and sg.operators:
                op = rng.choice(sg.operators)
                lst = list(op.inputs if choice == "op_in" else op.outputs)
                if lst:
                    lst[rng.randrange(len(lst))] = rng.choice(bad + [len(sg.tensors)])
                    setattr(op, "inputs" if choice == "op_in" else "outputs", lst)
            elif choice in ("sg_in", "sg_out"):
                attr = "inputs" if choice == "sg_in" else "outputs"
                current = getattr(sg, attr)
                lst = [int(x) for x in current] if current is not None and len(current) else [0]
                lst[rng.randrange(len(lst))] = rng.choice(bad)
                setattr(sg, attr, lst)
            elif choice == "buffer" and sg.tensors:
                rng.choice(sg.tensors).buffer = rng.choice([len(m.buffers), 2**32 - 1, 2**31])
            elif sg.operators:
                rng.choice(sg.operators).opcodeIndex = rng.choice([len(m.operatorCodes), 2**32 - 1])

        return self._field(rng, src, mutate)

    def _shape(self, rng, src):
        def mutate(rng, s, m, sg):
            for t in rng.sample(sg.tensors, min(len(sg.tensors), rng.randint(1, 5))):
                kind = rng.choice(["huge", "negative", "long", "dynamic", "zero", "rank0", "long_sig"])
                if kind == "huge":
                    t.shape = [2**31 - 1] * rng.randint(1, 8)
                elif kind == "negative":
                    t.shape = [-5, 3, -(2**31), 7]
                elif kind == "long":
                    t.shape = [rng.choice([2, 2**31 - 1])] * rng.choice([100, 10_000, 200_000])
                elif kind == "dynamic":
                    shape = list(t.shape) if t.shape is not None else [1]
                    t.shapeSignature = [-1 if rng.random() < 0.5 else d for d in shape]
                elif kind == "zero":
                    t.shape = [0, 0, 0, 0]
                elif kind == "rank0":
                    t.shape = []
                else:
                    t.shapeSignature = [-1] * 100_000

        return self._field(rng, src, mutate)

    def _opcode(self, rng, src):
        def mutate(rng, s, m, sg):
            for oc in rng.sample(m.operatorCodes, min(len(m.operatorCodes), rng.randint(1, 3))):
                value = rng.choice([3, 4, 9, 3 + 0, 67, 126, 150, 9999, -5, 2**31 - 1])
                oc.builtinCode = value
                oc.deprecatedBuiltinCode = max(-128, min(127, value))
                oc.version = rng.choice([oc.version, 0, -1, 2**31 - 1])

        return self._field(rng, src, mutate)

    def _many_ops(self, rng, src):
        def mutate(rng, s, m, sg):
            if sg.operators:
                n = rng.choice(self.many)
                small = [op for op in sg.operators if op.customOptions is None or len(op.customOptions) < 1024]
                if not small:  # an Edge TPU graph: one op carrying MBs of executable; copy it without them
                    small = [copy.copy(sg.operators[0])]
                    small[0].customOptions = None
                sg.operators = [copy.copy(rng.choice(small)) for _ in range(n)]
            if rng.random() < 0.5 and sg.tensors:
                sg.tensors = sg.tensors + [copy.copy(sg.tensors[0]) for _ in range(rng.choice(self.many[-2:]))]

        return self._field(rng, src, mutate)

    def _options(self, rng, src):
        def mutate(rng, s, m, sg):
            kinds = [v for k, v in vars(s.BuiltinOptions).items() if not k.startswith("_") and isinstance(v, int) and v]
            for op in rng.sample(sg.operators, min(len(sg.operators), rng.randint(1, 3))):
                if op.builtinOptions is not None:
                    op.builtinOptionsType = rng.choice(kinds + [255])  # the table stays, its type lies
                op.customOptions = [rng.randrange(256) for _ in range(rng.choice([0, 3, 100]))]

        return self._field(rng, src, mutate)

    def _quant(self, rng, src):
        def mutate(rng, s, m, sg):
            for t in rng.sample(sg.tensors, min(len(sg.tensors), rng.randint(1, 4))):
                q = t.quantization or s.QuantizationParametersT()
                kind = rng.choice(["many", "nan", "mismatch", "dim"])
                if kind == "many":
                    q.scale = [0.5] * rng.choice([1000, 100_000])
                elif kind == "nan":
                    q.scale = [float("nan"), float("inf"), -0.0]
                elif kind == "mismatch":
                    q.scale, q.zeroPoint = [0.1, 0.2, 0.3], [1]
                else:
                    q.quantizedDimension = rng.choice([-1, 99, 2**31 - 1])
                t.quantization = q

        return self._field(rng, src, mutate)

    def _sig_meta(self, rng, src):
        def mutate(rng, s, m, sg):
            for md in m.metadata or []:
                md.buffer = rng.choice([md.buffer, len(m.buffers), 2**32 - 1, 0])
            for sd in m.signatureDefs or []:
                sd.subgraphIndex = rng.choice([sd.subgraphIndex, 99, 2**32 - 1])
                for t in (sd.inputs or []) + (sd.outputs or []):
                    t.tensorIndex = rng.choice([t.tensorIndex, 2**32 - 1, len(sg.tensors)])
            if rng.random() < 0.5:
                m.subgraphs = m.subgraphs * rng.choice([0, 3]) or []
            m.version = rng.choice([m.version, 0, 2**32 - 1])

        return self._field(rng, src, mutate)


# ---------------------------------------------------------------------------------------------------
class _Timeout(BaseException):
    pass


def _alarm(signum, frame):
    raise _Timeout()


@dataclass
class Outcome:
    kind: str  # "result" | "EdgekitError" | "timeout" | "crash" | "raw-control" | "multi-line error"
    seconds: float
    detail: str = ""


def inspect_bytes(data: bytes, name: str, bound: float, tensors: bool = True) -> Outcome:
    """describe + JSON + the table view (``--tensors`` or the default), under ``bound`` seconds."""
    from edgekit.console import console
    from edgekit.errors import EdgekitError
    from edgekit.inspect import describe_bytes
    from edgekit.inspect.report import render

    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, bound)
    t0 = time.perf_counter()
    try:
        info = describe_bytes(data, name)
        json.dumps(info, default=str)
        buf = io.StringIO()  # the --tensors table view is the default one plus every tensor
        render(info, tensors=tensors, out=console(file=buf))
        text = buf.getvalue()
        bad = RAW_CONTROL.search(text)
        if bad:
            return Outcome("raw-control", time.perf_counter() - t0, repr(text[max(0, bad.start() - 30) : bad.end() + 30]))
        return Outcome("result", time.perf_counter() - t0)
    except EdgekitError as exc:
        line = exc.line()
        if "\n" in line or RAW_CONTROL.search(line):
            return Outcome("multi-line error", time.perf_counter() - t0, repr(line[:200]))
        return Outcome("EdgekitError", time.perf_counter() - t0, line[:160])
    except _Timeout:
        return Outcome("timeout", time.perf_counter() - t0)
    except Exception as exc:  # noqa: BLE001 - this is what the campaign looks for
        return Outcome("crash", time.perf_counter() - t0, f"{type(exc).__name__}: {str(exc)[:160]}")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def run_cli_case(path: str, args: list[str], timeout: float = 120) -> tuple[int, float, int, str, str]:
    """(exit code, seconds, child max RSS bytes, stdout, stderr) of `python -m edgekit ARGS PATH`."""
    env = dict(
        os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""), EDGEKIT_HISTORY="off", COLUMNS="140"
    )
    env.pop("EDGEKIT_DEBUG", None)
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "edgekit", *args, path], stdout=out, stderr=err, env=env, cwd=str(ROOT), start_new_session=True
        )
        try:
            _, status, usage = _wait4(proc.pid, timeout)
        except TimeoutError:
            os.killpg(proc.pid, signal.SIGKILL)  # our own child's process group
            _, status, usage = os.wait4(proc.pid, 0)
            code = -9
        else:
            code = os.waitstatus_to_exitcode(status)
        proc.returncode = code
        out.seek(0), err.seek(0)
        return (
            code,
            time.perf_counter() - t0,
            usage.ru_maxrss * 1024,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
        )


def _wait4(pid: int, timeout: float):
    deadline = time.monotonic() + timeout
    while True:
        wpid, status, usage = os.wait4(pid, os.WNOHANG)
        if wpid:
            return wpid, status, usage
        if time.monotonic() > deadline:
            raise TimeoutError
        time.sleep(0.01)


def check_cli_output(code: int, stdout: str, stderr: str) -> str | None:
    """None when the CLI behaved: exit 0 with output, or one 'edgekit:' line and exit 2/3; else what went wrong."""
    if code == 70 or code < 0:
        return f"exit {code}: {stderr.strip()[:200]}"
    for stream, text in (("stdout", stdout), ("stderr", stderr)):
        if RAW_CONTROL.search(text):
            return f"raw control character on {stream}"
    if code != 0:
        lines = [l for l in stderr.strip().splitlines() if l]
        if len(lines) != 1 or not lines[0].startswith("edgekit: ") or "Traceback" in stderr:
            return f"exit {code} without one edgekit: line: {stderr[:200]!r}"
    return None


_WORKER: dict = {}


def _init_worker(seed: int, bound: float, tensors: bool) -> None:
    _WORKER["mut"], _WORKER["bound"], _WORKER["tensors"] = Mutator(seed), bound, tensors


def _run_chunk(indices: list[int]) -> list[tuple[int, str, str, Outcome]]:
    out = []
    for i in indices:
        kind, src, data = _WORKER["mut"].case(i)
        out.append((i, kind, src, inspect_bytes(data, f"case-{i}-{kind}-{src}", _WORKER["bound"], _WORKER["tensors"])))
    done = indices[-1] + 1
    if done % 1000 == 0:
        print(f"  case {done} done", file=sys.stderr, flush=True)
    return out


def _worker_rss(_: int) -> int:
    time.sleep(0.05)  # so every worker of the pool answers at least once
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--bound", type=float, default=5.0, help="seconds one inspector case may take")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes for the inspector cases")
    ap.add_argument("--tensors", action="store_true", help="render the --tensors table view (slower)")
    ap.add_argument("--minutes", type=float, default=0, help="stop starting new cases after this long (0: no limit)")
    ap.add_argument("--cli", type=int, default=200, help="also run this many mutated files through `edgekit inspect`")
    ap.add_argument("--bench", type=int, default=0, help="and this many through `edgekit bench` (slow: a worker each)")
    ap.add_argument("--case", type=int, help="write case N (with --write) instead of running the campaign")
    ap.add_argument("--write", help="file to write --case N to")
    args = ap.parse_args(argv)

    mut = Mutator(args.seed)
    if args.case is not None:
        kind, src, data = mut.case(args.case)
        Path(args.write or f"fuzz-case-{args.case}.tflite").write_bytes(data)
        print(f"case {args.case}: {kind} of {src}, {len(data)} bytes")
        return 0

    counts: dict[str, int] = {}
    by_kind: dict[str, dict[str, int]] = {}
    worst = Outcome("result", 0.0)
    worst_case = -1
    failures = []
    t_start = time.perf_counter()
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    chunks = [list(range(a, min(a + 100, args.cases))) for a in range(0, args.cases, 100)]
    results = []
    with ctx.Pool(args.jobs, initializer=_init_worker, initargs=(args.seed, args.bound, args.tensors)) as pool:
        for chunk in pool.imap(_run_chunk, chunks):
            results += chunk
            if args.minutes and time.perf_counter() - t_start > 60 * args.minutes:
                break  # the budget ran out: report the cases that ran (the first N, in order)
        rss = max(pool.map(_worker_rss, range(args.jobs * 4)))
    ran = len(results)
    for i, kind, src, res in results:
        counts[res.kind] = counts.get(res.kind, 0) + 1
        by_kind.setdefault(kind, {}).setdefault(res.kind, 0)
        by_kind[kind][res.kind] += 1
        if res.seconds > worst.seconds:
            worst, worst_case = res, i
        if res.kind not in ("result", "EdgekitError"):
            failures.append((i, kind, src, res))
    total = time.perf_counter() - t_start

    view = "--tensors table view" if args.tensors else "default table view"
    print(
        f"\nInspector campaign: {ran} of {args.cases} cases run (cases 0-{ran - 1}), seed {args.seed}, bound "
        f"{args.bound:g} s per case, describe + JSON + {view}, {args.jobs} worker processes, {total:.0f} s in all"
    )
    print("| mutation | cases | result | EdgekitError | other |")
    print("|---|---|---|---|---|")
    for kind in Mutator.BYTE_KINDS + Mutator.FIELD_KINDS:
        c = by_kind.get(kind, {})
        other = sum(v for k, v in c.items() if k not in ("result", "EdgekitError"))
        print(f"| {kind} | {sum(c.values())} | {c.get('result', 0)} | {c.get('EdgekitError', 0)} | {other} |")
    ok = counts.get("result", 0) + counts.get("EdgekitError", 0)
    print(f"| **all** | {ran} | {counts.get('result', 0)} | {counts.get('EdgekitError', 0)} | {ran - ok} |")
    print(f"\nended in a result or an EdgekitError: {ok}/{ran} ({100 * ok / max(ran, 1):.2f}%)")
    print(
        f"slowest case: {worst.seconds:.2f} s (case {worst_case}, {worst.kind}); max RSS of a worker process: "
        f"{rss / 2**20:.0f} MiB"
    )
    for i, kind, src, res in failures[:30]:
        print(f"  FAIL case {i} ({kind} of {src}): {res.kind} {res.detail}")

    bad_cli = 0
    if args.cli or args.bench:
        with tempfile.TemporaryDirectory(prefix="edgekit-fuzz-") as tmp:
            for label, n, cli_args in (
                ("inspect (table view)", args.cli, ["inspect"]),
                ("bench", args.bench, ["bench", "--warmup", "1", "--min-runs", "3", "--min-time", "0", "--timeout", "60"]),
            ):
                if not n:
                    continue
                codes: dict[int, int] = {}
                max_s = max_rss = 0.0
                problems = []
                rng = random.Random(f"cli:{args.seed}:{label}")
                for j in range(n):
                    i = rng.randrange(max(ran, 1))
                    kind, src, data = mut.case(i)
                    path = os.path.join(tmp, f"case-{i}.tflite")
                    Path(path).write_bytes(data)
                    code, secs, crss, out, err = run_cli_case(path, cli_args)
                    os.unlink(path)
                    codes[code] = codes.get(code, 0) + 1
                    max_s, max_rss = max(max_s, secs), max(max_rss, crss)
                    problem = check_cli_output(code, out, err)
                    if problem:
                        problems.append(f"case {i} ({kind} of {src}): {problem}")
                bad_cli += len(problems)
                print(
                    f"\nCLI `edgekit {' '.join(cli_args)} FILE`, {n} mutated files: exit codes "
                    + ", ".join(f"{k}: {v}" for k, v in sorted(codes.items()))
                    + f"; slowest {max_s:.2f} s; max RSS of one run {max_rss / 2**20:.0f} MiB; "
                    f"{len(problems)} with exit 70, raw control characters or not one line"
                )
                for p in problems[:20]:
                    print("  FAIL " + p)
    return 0 if ok == ran == args.cases and worst.seconds <= args.bound and not bad_cli else 1


if __name__ == "__main__":
    raise SystemExit(main())
