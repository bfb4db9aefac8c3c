"""Run Coral's ``edgetpu_compiler`` and turn its log into a structured report.

The compiler exists only for x86-64 Linux (Coral's apt repository, package ``edgetpu-compiler``;
the last release is 16.0). Its exit code says only whether it wrote a file: a compile can
"succeed" with nothing on the Edge TPU. So exit code and mapping are judged separately: a
non-zero exit fails, zero mapped ops fails, ops falling back to the CPU warn. The log format
parsed here is the one documented in ../shared/docs/edgetpu-ops.md ("Compiler output").
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field

from edgekit.errors import CheckFailed, EdgekitError, EnvironmentMissing

COMPILER_ENV = "EDGEKIT_EDGETPU_COMPILER"  # a full path overriding the PATH lookup
INSTALL_HINT = (
    "edgetpu_compiler runs only on x86-64 Linux: add Coral's apt repository "
    "(deb https://packages.cloud.google.com/apt coral-edgetpu-stable main) and apt-get install edgetpu-compiler; "
    "'edgekit edgetpu check' predicts the placement anywhere"
)
MAPPED = "Mapped to Edge TPU"

_SIZE = re.compile(r"([\d.]+)\s*(B|KiB|MiB|GiB)")
_UNITS = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}
_FIELDS = {
    "Input model": "input_model",
    "Input size": "input_size",
    "Output model": "output_model",
    "Output size": "output_size",
    "On-chip memory used for caching model parameters": "on_chip_used",
    "On-chip memory remaining for caching model parameters": "on_chip_remaining",
    "Off-chip memory used for streaming uncached model parameters": "off_chip_used",
    "Number of Edge TPU subgraphs": "subgraphs",
    "Total number of operations": "total_ops",
    "Operation log": "operation_log",
    "Number of operations that will run on Edge TPU": "ops_tpu",
    "Number of operations that will run on CPU": "ops_cpu",
}
_SIZES = {"input_size", "output_size", "on_chip_used", "on_chip_remaining", "off_chip_used"}
_INTS = {"subgraphs", "total_ops", "ops_tpu", "ops_cpu"}
_TABLE_ROW = re.compile(r"^(\S+)\s+(\d+)\s+(\S.*?)\s*$")


def parse_size(text: str) -> int | None:
    """'3.42MiB' -> bytes; None when the text holds no size."""
    m = _SIZE.search(text)
    return int(round(float(m.group(1)) * _UNITS[m.group(2)])) if m else None


@dataclass
class Segment:
    """One compiled output file; ``-n N`` produces N of them, each with its own figures."""

    input_model: str | None = None
    output_model: str | None = None
    input_size: int | None = None
    output_size: int | None = None
    on_chip_used: int | None = None
    on_chip_remaining: int | None = None
    off_chip_used: int | None = None
    subgraphs: int | None = None
    total_ops: int | None = None
    ops_tpu: int | None = None
    ops_cpu: int | None = None
    operation_log: str | None = None
    ops: list[dict] = field(default_factory=list)  # the -s table: {"op", "count", "status", "mapped"}


@dataclass
class CompilerReport:
    compiler_version: str | None = None
    compile_ms: float | None = None
    success: bool = False
    segments: list[Segment] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)  # lines not understood (errors, warnings)

    @property
    def ops_tpu(self) -> int:
        return sum(_tpu(s) for s in self.segments)

    @property
    def ops_cpu(self) -> int:
        return sum(_cpu(s) for s in self.segments)

    def cpu_ops(self) -> dict[str, dict]:
        """op name -> {"count", "status"} for every table row not mapped to the Edge TPU."""
        out: dict[str, dict] = {}
        for s in self.segments:
            for row in s.ops:
                if not row["mapped"]:
                    cur = out.setdefault(row["op"], {"count": 0, "status": row["status"]})
                    cur["count"] += row["count"]
        return out

    def to_dict(self) -> dict:
        d = asdict(self)
        d["ops_tpu"], d["ops_cpu"] = self.ops_tpu, self.ops_cpu
        return d


def _tpu(s: Segment) -> int:
    if s.ops_tpu is not None:
        return s.ops_tpu
    return sum(r["count"] for r in s.ops if r["mapped"])


def _cpu(s: Segment) -> int:
    if s.ops_cpu is not None:
        return s.ops_cpu
    return sum(r["count"] for r in s.ops if not r["mapped"])


def parse_log(text: str) -> CompilerReport:
    """Parse edgetpu_compiler's stdout (with or without the -s op table)."""
    report = CompilerReport()
    seg: Segment | None = None
    in_table = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            in_table = False if seg is None or seg.ops else in_table
            continue
        if line.startswith("Edge TPU Compiler version"):
            report.compiler_version = line[len("Edge TPU Compiler version") :].strip(" :")
            continue
        m = re.match(r"Model compiled successfully in ([\d.]+) ms", line)
        if m:
            report.success = True
            report.compile_ms = float(m.group(1))
            continue
        if line.startswith("Operator") and "Status" in line:
            in_table = seg is not None
            continue
        if ":" in line and not in_table:
            key, _, value = line.partition(":")
            name = _FIELDS.get(key.strip())
            if name == "input_model":  # every compiled segment starts with its input model
                seg = Segment(input_model=value.strip())
                report.segments.append(seg)
                continue
            if name is not None:
                if seg is None:
                    seg = Segment()
                    report.segments.append(seg)
                value = value.strip()
                if name in _SIZES:
                    setattr(seg, name, parse_size(value))
                elif name in _INTS:
                    setattr(seg, name, int(re.sub(r"\D", "", value) or 0))
                else:
                    setattr(seg, name, value)
                continue
        if in_table and seg is not None:
            m = _TABLE_ROW.match(line)
            if m:
                status = m.group(3)
                seg.ops.append({"op": m.group(1), "count": int(m.group(2)), "status": status, "mapped": status == MAPPED})
                continue
            in_table = False
        if line.startswith("Started a compilation timeout timer"):
            continue
        report.messages.append(line)
    return report


def find_compiler() -> str | None:
    override = os.environ.get(COMPILER_ENV)
    if override:
        return override if os.path.exists(override) else None
    return shutil.which("edgetpu_compiler")


@dataclass
class CompileResult:
    report: CompilerReport
    outputs: list[str]  # compiled .tflite files, in segment order
    log_text: str
    log_file: str | None
    warnings: list[str]
    command: list[str]

    def to_dict(self) -> dict:
        return {
            "report": self.report.to_dict(),
            "outputs": self.outputs,
            "log_file": self.log_file,
            "warnings": self.warnings,
            "command": self.command,
        }


def output_name(model: str, segments: int | None = None, index: int = 0) -> str:
    """The compiler's naming: X.tflite -> X_edgetpu.tflite, or X_segment_I_of_N_edgetpu.tflite."""
    stem = os.path.splitext(os.path.basename(model))[0]
    if segments and segments > 1:
        return f"{stem}_segment_{index}_of_{segments}_edgetpu.tflite"
    return f"{stem}_edgetpu.tflite"


def compile_model(
    model: str,
    out_dir: str,
    *,
    show_ops: bool = True,
    min_runtime_version: str | None = None,
    segments: int | None = None,
    timeout: float = 180.0,
    grace_s: float = 5.0,
    compiler: str | None = None,
) -> CompileResult:
    """Compile ``model`` into ``out_dir``; the outputs appear there only when the compile is usable."""
    if not os.path.isfile(model):
        raise EdgekitError(f"no such file: {model}", "check the model path")
    exe = compiler or find_compiler()
    if not exe:
        raise EnvironmentMissing("edgetpu_compiler is not installed here", INSTALL_HINT)
    if segments is not None and segments < 1:
        raise EdgekitError(f"-n must be at least 1, not {segments}", "use -n 2 to split over two Edge TPUs")
    if timeout <= 0:
        raise EdgekitError("--timeout must be positive", "the compiler's default is 180 seconds")
    os.makedirs(out_dir, exist_ok=True)
    work = tempfile.mkdtemp(prefix=".edgetpu-", dir=out_dir)
    try:
        cmd = [exe, "-o", work, "-t", str(int(max(1, timeout)))]
        if show_ops:
            cmd.append("-s")
        if min_runtime_version:
            cmd += ["-m", str(min_runtime_version)]
        if segments and segments > 1:
            cmd += ["-n", str(segments)]
        cmd.append(os.path.abspath(model))
        text, code = _run(cmd, timeout + grace_s, model)
        report = parse_log(text)
        if code != 0:
            detail = " | ".join(report.messages[-3:]) or text.strip().splitlines()[-1:] or ""
            raise CheckFailed(
                f"edgetpu_compiler failed on {os.path.basename(model)} (exit status {code}): {str(detail)[:300]}",
                "run 'edgekit edgetpu check' on the model to see which ops cannot map (R7: op versions too new?)",
            )
        produced = sorted(f for f in os.listdir(work) if f.endswith("_edgetpu.tflite"))
        expected = [output_name(model, segments, i) for i in range(segments if segments and segments > 1 else 1)]
        missing = [e for e in expected if e not in produced]
        if missing:
            raise CheckFailed(
                f"edgetpu_compiler exited 0 but wrote no {missing[0]}",
                "check the log: " + (" | ".join(report.messages[-2:]) or "no message"),
            )
        if report.segments and report.ops_tpu == 0:
            raise CheckFailed(
                f"edgetpu_compiler compiled {os.path.basename(model)} but mapped no op to the Edge TPU",
                "the model is probably not fully integer quantized; run 'edgekit edgetpu check' for the reasons",
            )
        warnings = []
        if report.ops_cpu:
            cpu = ", ".join(f"{k} x{v['count']} ({v['status']})" for k, v in report.cpu_ops().items())
            warnings.append(f"{report.ops_cpu} op(s) run on the CPU: {cpu or 'see the log'}")
        outputs = []
        for name in expected:
            final = os.path.join(out_dir, name)
            os.replace(os.path.join(work, name), final)
            outputs.append(final)
        log_file = None
        for f in os.listdir(work):
            if f.endswith(".log"):
                log_file = os.path.join(out_dir, f)
                os.replace(os.path.join(work, f), log_file)
        return CompileResult(report, outputs, text, log_file, warnings, cmd)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run(cmd: list[str], timeout: float, model: str) -> tuple[str, int]:
    """Run the compiler in its own process group so a timeout kills it and anything it started."""
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    except OSError as exc:
        raise EnvironmentMissing(f"edgetpu_compiler could not be started ({exc})", INSTALL_HINT) from None
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            proc.kill()
        proc.communicate()
        raise CheckFailed(
            f"edgetpu_compiler did not finish {os.path.basename(model)} within {timeout:.0f} s and was stopped",
            "raise --timeout, or split the model with -n",
        ) from None
    return out or "", proc.returncode
