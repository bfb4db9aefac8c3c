"""The ``adb`` transport: Android phones over ``adb -s SERIAL``.

A phone has no Python, so a measurement runs the native tools instead of the Python runner:
TFLite models through ``benchmark_model`` and ExecuTorch ``.pte`` through ``executor_runner``
(both pushed from the paths in the device profile when the phone does not have them yet). Their
printed output is parsed (edgekit.transports.tool_output) into the same result schema as every
other run; what the tools do not measure stays empty and the result says ``aggregate_only``.
Files go to a private ``mktemp -d`` directory under /data/local/tmp that is removed afterwards
(and swept on the next run if the phone was unplugged mid-run).
"""

from __future__ import annotations

import datetime as _dt
import os
import shlex
import shutil
import subprocess
from typing import Sequence

from edgekit import __version__
from edgekit.errors import EdgekitError, EnvironmentMissing
from edgekit.registry import Registry
from edgekit.transports import TRANSPORTS
from edgekit.transports.base import (
    ABORT_SH,
    MKDTEMP_SH,
    RUN_DIR_PREFIX,
    SHA256_SH,
    STALE_UNOWNED_MINUTES,
    TimedOut,
    Transport,
    artifact_remote_name,
    check_argv,
    last_line as _tail,
    popen,
    timeout_error,
)
from edgekit.transports.crash import benchmark_timed_out, exit_signal, log_tail, worker_died

ADB_HINT = "install it (apt-get install adb, or Android's platform-tools) and put it on PATH"


def adb_path() -> str:
    path = shutil.which("adb")
    if not path:
        raise EnvironmentMissing("adb is not installed", ADB_HINT)
    return path


def list_devices(timeout: float = 20.0) -> list[dict]:
    """``adb devices -l`` as dicts: serial, state (device, unauthorized, offline...) and properties."""
    try:
        proc = subprocess.run([adb_path(), "devices", "-l"], capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise EnvironmentMissing(f"'adb devices' did not answer within {timeout:.0f} s", "restart the adb server: adb kill-server") from None
    if proc.returncode != 0:
        raise EnvironmentMissing(f"'adb devices' failed ({(proc.stderr or '').strip()[:200]})", "restart the adb server: adb kill-server")
    return parse_devices(proc.stdout)


def parse_devices(text: str) -> list[dict]:
    devices = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("List of devices", "*")):
            continue
        parts = line.split()
        if len(parts) < 2:
            continue
        entry = {"serial": parts[0], "state": parts[1]}
        for p in parts[2:]:
            if ":" in p:
                k, v = p.split(":", 1)
                entry[k] = v
        devices.append(entry)
    return devices


# How a format is measured on a phone: each runner module-level function registered by format.
DEVICE_RUNNERS: Registry = Registry("Android runner")


class AdbTransport(Transport):
    kind = "adb"

    def __init__(self, device):
        super().__init__(device)
        self.adb = adb_path()
        self._serial: str | None = None
        self.transfer_timeout = 600.0

    # --- which phone ----------------------------------------------------------------------
    @property
    def serial(self) -> str:
        """The serial to pass to -s, checked against ``adb devices`` once per transport."""
        if self._serial is None:
            self._serial = resolve_serial(self.device.serial if self.device else None, self.device_name)
        return self._serial

    def _adb(self, args: list[str], timeout: float | None, input=None, binary: bool = False, what: str = "adb") -> subprocess.CompletedProcess:
        argv = [self.adb, "-s", self.serial, *args]
        try:
            proc = subprocess.run(argv, capture_output=True, input=input, timeout=timeout,
                                  text=not binary and not isinstance(input, bytes),
                                  stdin=None if input is not None else subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            caught = (p.decode("utf-8", "replace") if isinstance(p, bytes) else (p or "") for p in (exc.stdout, exc.stderr))
            raise timeout_error(self.device_name, what, timeout, "".join(caught)) from None
        err = proc.stderr if isinstance(proc.stderr, str) else (proc.stderr or b"").decode("utf-8", "replace")
        if proc.returncode != 0 and ("device '" in err and "not found" in err or "device offline" in err or "no devices" in err):
            raise EnvironmentMissing(
                f"Android device {self.serial} ({self.device_name}) went away during {what} ({err.strip()[:120]})",
                "reconnect it, check 'adb devices', and run again",
            )
        return proc

    # --- the transport API ----------------------------------------------------------------
    def run(self, argv: Sequence[str], timeout: float | None = None, input: str | bytes | None = None) -> subprocess.CompletedProcess:
        argv = check_argv(argv)
        if self.device is not None and self.device.env:
            argv = ["env", *(f"{k}={v}" for k, v in sorted(self.device.env.items())), *argv]
        # adb shell joins its arguments with spaces for the phone's shell: pass one quoted string.
        return self._adb(["shell", shlex.join(argv)], timeout, input=input, binary=isinstance(input, bytes), what=f"'{argv[0]}'")

    def start(self, argv: Sequence[str]) -> subprocess.Popen:
        argv = check_argv(argv)
        if self.device is not None and self.device.env:
            argv = ["env", *(f"{k}={v}" for k, v in sorted(self.device.env.items())), *argv]
        return popen([self.adb, "-s", self.serial, "shell", shlex.join(argv)])

    def _sh(self, script: str, *args: str, timeout: float | None = 60.0) -> subprocess.CompletedProcess:
        return self.run(["sh", "-c", script, "sh", *args], timeout=timeout)

    def push(self, local: str, remote: str) -> None:
        proc = self._adb(["push", local, remote], self.transfer_timeout, what=f"the copy of {os.path.basename(local)}")
        if proc.returncode != 0:
            raise EdgekitError(f"adb push of {os.path.basename(local)} to {remote} failed ({_tail(proc.stderr)})",
                               "check the phone's free space and that the directory is writable")

    def pull(self, remote: str, local: str) -> None:
        from edgekit.build.artifacts import temp_path_for

        tmp = temp_path_for(local)
        try:
            proc = self._adb(["pull", remote, tmp], self.transfer_timeout, what=f"the copy of {remote}")
            if proc.returncode != 0:
                raise EdgekitError(f"adb pull of {remote} failed ({_tail(proc.stderr)})", "check the path on the phone")
            os.replace(tmp, local)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def mkdtemp(self) -> str:
        workdir = self.device.workdir if self.device else "/data/local/tmp"
        proc = self._sh(MKDTEMP_SH, workdir, RUN_DIR_PREFIX, str(STALE_UNOWNED_MINUTES))
        path = (proc.stdout or "").strip().splitlines()[-1:] or [""]
        if proc.returncode != 0 or not path[0].startswith(workdir):
            raise EdgekitError(f"cannot make a work directory in {workdir} on {self.device_name} ({_tail(proc.stderr)})",
                               "set workdir in the device profile to a writable directory (/data/local/tmp)")
        return path[0]

    def remove(self, path: str) -> None:
        try:
            self._sh(ABORT_SH, path, timeout=15)
        except (EdgekitError, OSError):
            pass

    def sha256(self, path: str) -> str | None:
        proc = self._sh(SHA256_SH, path, "python3", timeout=120)
        if proc.returncode == 3:
            return None
        word = (proc.stdout or "").split()[:1]
        if proc.returncode != 0 or not word or len(word[0]) != 64:
            raise EdgekitError(f"cannot hash {path} on {self.device_name} ({_tail(proc.stderr)})", "the phone needs sha256sum (toybox has it since Android 6)")
        return word[0]

    def ensure_binary(self, local: str | None, remote: str, what: str) -> str:
        """``remote`` is executable on the phone, pushing ``local`` there first when it is not."""
        if self.run(["test", "-x", remote], timeout=20).returncode == 0:
            return remote
        if not local or not os.path.isfile(local):
            raise EnvironmentMissing(
                f"{self.device_name} has no {what} at {remote} and the profile's {what} file "
                f"{local or '(not set)'} does not exist",
                f"download or build the Android arm64 {what} and set {what} = \"PATH\" in the device profile",
            )
        self.push(local, remote)
        self.run(["chmod", "755", remote], timeout=20)
        return remote

    def run_worker(self, spec: dict, artifact: str | None = None, timeout: float | None = None) -> dict:
        from edgekit.build.artifacts import sha256_file
        from edgekit.transports.host import apply_profile

        spec = apply_profile(spec, self)
        local = os.path.abspath(artifact or spec["artifact"])
        fmt = spec.get("format")
        if fmt not in DEVICE_RUNNERS:
            raise EdgekitError(
                f"{os.path.basename(local)} is a {fmt} artifact; Android devices run tflite (benchmark_model) and pte (executor_runner)",
                "benchmark it on another device, or build a .tflite/.pte target",
            )
        if (spec.get("inputs") or {}).get("kind", "random") != "random" or spec.get("save_outputs"):
            raise EdgekitError("Android benchmarks use random inputs only (benchmark_model and executor_runner generate them)",
                               "drop --input/--image for --device of an adb device")
        runner = DEVICE_RUNNERS.get(fmt)
        digest = sha256_file(local)
        thermal_before = self.thermal()
        run_dir = self.mkdtemp()
        try:
            remote = f"{run_dir}/{artifact_remote_name(local)}"
            self.push(local, remote)
            got = self.sha256(remote)
            if got != digest:
                raise EdgekitError(
                    f"the copy of {os.path.basename(local)} on {self.device_name} has sha256 {(got or 'none')[:12]}..., "
                    f"the local file {digest[:12]}...",
                    "the transfer was corrupted or the phone's storage is full; run again",
                )
            result = runner(self, spec, local, remote, run_dir, timeout)
        finally:
            self.remove(run_dir)
        result["thermal"] = {"before": thermal_before, "after": self.thermal()}
        return result

    # --- what the phone is ----------------------------------------------------------------
    def getprops(self) -> dict:
        proc = self.run(["getprop"], timeout=20)
        props = {}
        for line in (proc.stdout or "").splitlines():
            if line.startswith("[") and "]: [" in line:
                k, v = line[1:].rstrip("]").split("]: [", 1)
                props[k] = v
        return props

    def fingerprint(self) -> tuple[dict, dict]:
        """(device fingerprint, platform) of the phone, like the Python runner's on Linux."""
        props = self.getprops()
        uname = (self.run(["uname", "-r", "-m"], timeout=20).stdout or "").split()
        cpus = (self.run(["nproc"], timeout=20).stdout or "").strip()
        fp = {
            "hostname": props.get("ro.product.device"),
            "board_model": " ".join(x for x in (props.get("ro.product.manufacturer"), props.get("ro.product.model")) if x) or None,
            "cpu_model": props.get("ro.soc.model") or props.get("ro.board.platform") or props.get("ro.hardware"),
            "cpu_count": int(cpus) if cpus.isdigit() else None,
            "kernel": uname[0] if uname else None,
            "os": f"Android {props.get('ro.build.version.release', '?')} (SDK {props.get('ro.build.version.sdk', '?')})",
            "abi": props.get("ro.product.cpu.abi"),
            "serial": self.serial,
        }
        platform = {"system": "Android", "release": props.get("ro.build.version.release"),
                    "machine": uname[1] if len(uname) > 1 else None, "python": None}
        return fp, platform

    def thermal(self) -> dict:
        proc = self._sh('for z in /sys/class/thermal/thermal_zone*; do t=$(cat "$z/temp" 2>/dev/null) && echo "$(cat "$z/type" 2>/dev/null) $t"; done', timeout=20)
        zones = {}
        for line in (proc.stdout or "").splitlines():
            parts = line.rsplit(" ", 1)
            if len(parts) == 2 and parts[1].lstrip("-").isdigit():
                value = int(parts[1])
                zones[parts[0] or "zone"] = value / 1000.0 if abs(value) > 1000 else float(value)
        return {"zones_c": zones}


def resolve_serial(wanted: str | None, name: str) -> str:
    devices = list_devices()
    ready = [d for d in devices if d["state"] == "device"]
    if wanted:
        match = [d for d in devices if d["serial"] == wanted]
        if not match:
            raise EnvironmentMissing(
                f"Android device {wanted} ({name}) is not attached (adb devices lists "
                f"{', '.join(d['serial'] for d in devices) or 'none'})",
                "connect it with USB debugging on, or fix serial in its profile",
            )
        state = match[0]["state"]
        if state != "device":
            raise EnvironmentMissing(*_state_problem(wanted, name, state))
        return wanted
    if len(ready) == 1:
        return ready[0]["serial"]
    if not devices:
        raise EnvironmentMissing(
            f"no Android device is attached for {name} (adb devices lists none)",
            "connect the phone with USB debugging on and accept its prompt; check with 'adb devices'",
        )
    if not ready:
        d = devices[0]
        raise EnvironmentMissing(*_state_problem(d["serial"], name, d["state"]))
    raise EdgekitError(
        f"{len(ready)} Android devices are attached ({', '.join(d['serial'] for d in ready)}) and profile {name} names none",
        "set serial = \"...\" in the device profile",
    )


def _state_problem(serial: str, name: str, state: str) -> tuple[str, str]:
    if state == "unauthorized":
        return (f"Android device {serial} ({name}) has not authorized this computer",
                "unlock the phone and accept the 'Allow USB debugging' prompt")
    return (f"Android device {serial} ({name}) is {state}", "reconnect the USB cable or run 'adb reconnect'")


# --- result documents built from the native tools -------------------------------------------
def base_result(transport: AdbTransport, spec: dict, local: str, runtime: dict) -> dict:
    from edgekit.harness.worker import file_digests
    from edgekit.results.schema import SCHEMA, SCHEMA_VERSION

    fp, platform = transport.fingerprint()
    settings = {k: spec.get(k) for k in ("threads", "xnnpack", "warmup", "min_runs", "min_time_s", "max_runs")}
    settings["inputs"] = spec.get("inputs") or {"kind": "random", "seed": 0}
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "edgekit_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "status": "error",
        "artifact": {"path": local, "name": os.path.basename(local), "format": spec.get("format"), **file_digests(local)},
        "device": {**(spec.get("device") or {}), "fingerprint": fp},
        "platform": platform,
        "runtime": {**runtime, "threads": spec.get("threads"), "xnnpack": bool(spec.get("xnnpack", True))},
        "settings": settings,
    }


def requested_delegate(spec: dict) -> str | None:
    return (spec.get("runtime_options") or {}).get("delegate")


def benchmark_model_argv(spec: dict, binary: str, model: str, affinity: str | None) -> list[str]:
    """benchmark_model's flags for a spec (warmup, runs, time, threads, delegate)."""
    argv = [binary, f"--graph={model}", f"--warmup_runs={int(spec.get('warmup', 10))}",
            f"--num_runs={int(spec.get('min_runs', 50))}", f"--min_secs={float(spec.get('min_time_s', 2.0)):g}",
            f"--max_secs={float(spec.get('max_time_s', 300.0)):g}", "--report_peak_memory_footprint=true"]
    if spec.get("threads"):
        argv.append(f"--num_threads={int(spec['threads'])}")
    delegate = requested_delegate(spec)
    argv.append(f"--use_xnnpack={'true' if spec.get('xnnpack', True) and delegate in (None, 'xnnpack') else 'false'}")
    if delegate == "gpu":
        argv.append("--use_gpu=true")
    elif delegate == "nnapi":
        argv.append("--use_nnapi=true")
    elif delegate == "hexagon":
        argv.append("--use_hexagon=true")
    elif delegate not in (None, "xnnpack"):
        raise EdgekitError(f"unknown delegate {delegate!r} for benchmark_model", "use xnnpack, gpu, nnapi or hexagon")
    if affinity:
        argv = ["taskset", affinity] + argv
    return argv


def result_from_benchmark_model(base: dict, parsed: dict, output: str) -> dict:
    """Fill a result from parse_benchmark_model(); status error with the tool's ERROR lines."""
    result = dict(base)
    if not parsed["ok"]:
        message = "; ".join(parsed["errors"][:3]) or _tail(output)
        result["error"] = {"type": "EdgekitError", "message": f"benchmark_model failed on the device: {message}",
                           "hint": "check the model runs with this runtime version (edgekit inspect shows its minimum)"}
        return result
    steady = parsed["steady"]
    avg = steady["avg"]
    latency = {
        "n": steady["count"], "min": steady["min"], "p50": steady.get("median"), "p90": None, "p99": None,
        "max": steady["max"], "mean": avg, "std": steady.get("std"), "cv": (steady.get("std") or 0.0) / avg if avg else 0.0,
        "trimmed_mean": None, "p5": steady.get("p5"), "p95": steady.get("p95"),
        "throughput_per_s": 1000.0 / avg if avg else None,  # schema v2: 1000 / mean, never 1 / p50
        "aggregate_only": True, "source": "benchmark_model",
    }
    mem = parsed.get("memory_mb") or {}
    result.update({
        "status": "ok",
        "inputs": "random (benchmark_model)",
        "init_ms": parsed["init_ms"],
        "load_phases_ms": {"init": parsed["init_ms"]},
        "first_inference_ms": parsed["first_inference_ms"],
        "warmup_runs": parsed.get("warmup_count"),
        "warmup_avg_ms": parsed.get("warmup_avg_ms"),
        "latency_ms": latency,
        "samples_ms": [],
        "memory": {
            "peak_rss_bytes": int(mem["overall"] * 1024 * 1024) if "overall" in mem else None,
            "model_rss_bytes": int(mem["init"] * 1024 * 1024) if "init" in mem else None,
            "footprint_mb": mem or None,
        },
        "delegates": parsed["delegates"],
        "delegate_fallback": parsed["fallback"],
    })
    return result


# Run a native tool in the run directory ($1; then its argv). The tool is this shell's child, so
# its death by signal N comes back as status 128 + N from the shell itself (adb shell, protocol v2
# since Android 7, hands the status on), and "pids" lets remove() (ABORT_SH) stop it after a
# timeout or a dropped cable.
TOOL_SH = r"""
cd "$1" || exit 97
shift
"$@" 2>&1 &
c=$!
echo "$$ $c" > pids
wait "$c"
"""


def tool_failure(spec: dict, tool: str, device: str, returncode: int | None, output: str,
                 timeout: float | None = None) -> EdgekitError | None:
    """The one line for a native tool that did not end by itself (killed by a signal, or stopped
    at ``timeout`` when ``returncode`` is None), else None; its output goes to ``log_tail``.
    ``spec["artifact"]`` is the user's path."""
    if returncode is None:
        return benchmark_timed_out(spec, timeout, output, device=device)
    if exit_signal(returncode, shell=True) is not None:  # adb shell (protocol v2) hands on the status
        return worker_died(spec, returncode, output, process=tool, device=device, shell=True)
    return None


def run_tool(t: AdbTransport, spec: dict, tool: str, run_dir: str, argv: list[str],
             timeout: float | None) -> tuple[str, EdgekitError | None]:
    """(the tool's combined output, the error when it crashed or timed out)."""
    try:
        proc = t._sh(TOOL_SH, run_dir, *argv, timeout=timeout)
    except TimedOut as exc:  # run_worker's finally stops it (pids) and removes the directory
        return exc.output, tool_failure(spec, tool, t.device_name, None, exc.output, timeout)
    output = (proc.stdout or "") + (proc.stderr or "")
    return output, tool_failure(spec, tool, t.device_name, proc.returncode, output)


def run_benchmark_model(t: AdbTransport, spec: dict, local: str, remote: str, run_dir: str, timeout: float | None) -> dict:
    d = t.device
    binary = t.ensure_binary(d.benchmark_model if d else None, d.benchmark_model_remote if d else "/data/local/tmp/benchmark_model",
                             "benchmark_model")
    argv = benchmark_model_argv(spec, binary, remote, d.affinity if d else None)
    base = base_result(t, spec, local, {"name": "benchmark_model", "version": None, "delegate": requested_delegate(spec) or ("xnnpack" if spec.get("xnnpack", True) else None)})
    output, failure = run_tool(t, dict(spec, artifact=local), "benchmark_model", run_dir, argv, timeout)
    from edgekit.transports.tool_output import parse_benchmark_model

    if failure is not None:
        result = dict(base, error=failure.to_dict())
    else:
        result = result_from_benchmark_model(base, parse_benchmark_model(output, requested_delegate(spec)), output)
        if result.get("status") != "ok":
            result["error"].setdefault("log_tail", log_tail(output))
    result["tool_output_tail"] = output.strip().splitlines()[-12:]
    return result


def run_executor_runner(t: AdbTransport, spec: dict, local: str, remote: str, run_dir: str, timeout: float | None) -> dict:
    from edgekit.transports.tool_output import parse_executor_runner

    d = t.device
    binary = t.ensure_binary(d.executor_runner if d else None, d.executor_runner_remote if d else "/data/local/tmp/executor_runner",
                             "executor_runner")
    runs = int(spec.get("min_runs", 50))
    argv = [binary, f"--model_path={remote}", f"--num_executions={runs}"]
    if d is not None and d.affinity:
        argv = ["taskset", d.affinity] + argv
    base = base_result(t, spec, local, {"name": "executor_runner", "version": None})
    output, failure = run_tool(t, dict(spec, artifact=local), "executor_runner", run_dir, argv, timeout)
    result = dict(base)
    result["tool_output_tail"] = output.strip().splitlines()[-12:]
    if failure is not None:
        result["error"] = failure.to_dict()
        return result
    parsed = parse_executor_runner(output)
    if not parsed["ok"]:
        result["error"] = {"type": "EdgekitError",
                           "message": f"executor_runner failed on the device: {'; '.join(parsed['errors'][:2]) or _tail(output)}",
                           "hint": "check the .pte's delegates are built into this executor_runner",
                           "log_tail": log_tail(output)}
        return result
    avg = parsed["avg_ms"]
    result.update({
        "status": "ok",
        "inputs": "executor_runner default inputs (ones)",
        "init_ms": parsed.get("load_ms"),
        "load_phases_ms": {},
        "first_inference_ms": None,
        "latency_ms": {"n": parsed["count"], "min": None, "p50": None, "p90": None, "p99": None, "max": None,
                       "mean": avg, "std": None, "cv": 0.0, "trimmed_mean": None, "throughput_per_s": 1000.0 / avg if avg else None,
                       "aggregate_only": True, "source": "executor_runner"},
        "samples_ms": [],
        "memory": {"peak_rss_bytes": None},
        "delegates": [],
    })
    return result


DEVICE_RUNNERS.register("tflite", run_benchmark_model)
DEVICE_RUNNERS.register("pte", run_executor_runner)
TRANSPORTS.register("adb", AdbTransport)
