"""The ``adb`` transport: Android phones over ``adb -s SERIAL``.

A phone has no Python, so a measurement runs the native tools instead of the Python runner:
TFLite models through ``benchmark_model`` and ExecuTorch ``.pte`` through ``executor_runner``
(both pushed from the paths in the device profile when the phone does not have them yet). Their
printed output is parsed (edgekit.transports.tool_output) into the same result schema as every
other run; what the tools do not measure stays empty and the result says ``aggregate_only``.
Files go to a private ``mktemp -d`` directory under /data/local/tmp that is removed afterwards
(and swept on the next run if the phone was unplugged mid-run).

This module is the transport only; beside it: which phones adb sees (adb_discovery), what a
phone is (android_fingerprint), the format -> native tool lookup in the format records (android_runners) and the tools'
runners (android_tools, android_benchmark_model, android_executor_runner).
"""

from __future__ import annotations

import os
import shlex
import subprocess
from typing import Sequence

from edgekit.errors import EdgekitError, EnvironmentMissing
from edgekit.transports import TRANSPORTS, android_fingerprint
from edgekit.transports.adb_discovery import adb_path, resolve_serial
from edgekit.transports.base import (
    ABORT_SH,
    MKDTEMP_SH,
    RUN_DIR_PREFIX,
    SHA256_SH,
    STALE_UNOWNED_MINUTES,
    Survey,
    Transport,
    artifact_remote_name,
    check_argv,
    last_line as _tail,
    popen,
    timeout_error,
)


class AdbTransport(Transport):
    kind = "adb"
    profile_keys = {"serial": (str,), "benchmark_model": (str,), "executor_runner": (str,)}
    local_path_keys = ("benchmark_model", "executor_runner")
    noun = "an adb device"
    deploy_pointer = "file"  # app storage has no symlinks
    default_deploy_dir = "/data/local/tmp/edgekit-deploy"
    default_workdir = "/data/local/tmp"

    @classmethod
    def address(cls, profile) -> str:
        return profile.serial or "(the only adb device)"

    @classmethod
    def lock_key(cls, profile) -> str:
        return f"adb-{profile.serial or 'default'}"

    @classmethod
    def survey(cls, profiles, timeout: float) -> Survey:
        """One ``adb devices`` listing for every adb profile, and the phones no profile names."""
        from edgekit.transports.adb_discovery import adb_state, list_devices

        notes: list[str] = []
        try:
            attached, error = list_devices(), None
        except EdgekitError as exc:
            attached, error = None, exc.line()
            notes.append(error)
        known = {p.serial for p in profiles if p.serial}
        discovered = [
            {
                "kind": "adb",
                "id": d["serial"],
                "state": d["state"],
                "detail": " ".join(f"{k}:{v}" for k, v in d.items() if k not in ("serial", "state")),
            }
            for d in attached or []
            if d["serial"] not in known
        ]
        return Survey(states={p.name: adb_state(p, attached, error) for p in profiles}, discovered=discovered, notes=notes)

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

    def _adb(
        self, args: list[str], timeout: float | None, input=None, binary: bool = False, what: str = "adb"
    ) -> subprocess.CompletedProcess:
        argv = [self.adb, "-s", self.serial, *args]
        try:
            proc = subprocess.run(
                argv,
                capture_output=True,
                input=input,
                timeout=timeout,
                text=not binary and not isinstance(input, bytes),
                stdin=None if input is not None else subprocess.DEVNULL,
            )
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
    def run(
        self, argv: Sequence[str], timeout: float | None = None, input: str | bytes | None = None
    ) -> subprocess.CompletedProcess:
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
            raise EdgekitError(
                f"adb push of {os.path.basename(local)} to {remote} failed ({_tail(proc.stderr)})",
                "check the phone's free space and that the directory is writable",
            )

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
            raise EdgekitError(
                f"cannot make a work directory in {workdir} on {self.device_name} ({_tail(proc.stderr)})",
                "set workdir in the device profile to a writable directory (/data/local/tmp)",
            )
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
            raise EdgekitError(
                f"cannot hash {path} on {self.device_name} ({_tail(proc.stderr)})",
                "the phone needs sha256sum (toybox has it since Android 6)",
            )
        return word[0]

    def ensure_binary(self, local: str | None, remote: str, what: str) -> str:
        """``remote`` is executable on the phone, pushing ``local`` there first when it is not."""
        if self.run(["test", "-x", remote], timeout=20).returncode == 0:
            return remote
        if not local or not os.path.isfile(local):
            raise EnvironmentMissing(
                f"{self.device_name} has no {what} at {remote} and the profile's {what} file "
                f"{local or '(not set)'} does not exist",
                f'download or build the Android arm64 {what} and set {what} = "PATH" in the device profile',
            )
        self.push(local, remote)
        self.run(["chmod", "755", remote], timeout=20)
        return remote

    def run_worker(self, spec: dict, artifact: str | None = None, timeout: float | None = None) -> dict:
        from edgekit.build.artifacts import sha256_file
        from edgekit.transports.host import apply_profile

        spec = apply_profile(spec, self)
        local = os.path.abspath(artifact or spec["artifact"])
        from edgekit.transports.android_runners import android_formats, device_runner

        fmt = spec.get("format")
        runner = device_runner(fmt)  # the format record's android_runner
        if runner is None:
            runs, suffixes = android_formats()
            raise EdgekitError(
                f"{os.path.basename(local)} is a {fmt} artifact; Android devices run {runs}",
                f"benchmark it on another device, or build a {suffixes} target",
            )
        if (spec.get("inputs") or {}).get("kind", "random") != "random" or spec.get("save_outputs"):
            raise EdgekitError(
                "Android benchmarks use random inputs only (benchmark_model and executor_runner generate them)",
                "drop --input/--image for --device of an adb device",
            )
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

    # --- what the phone is (edgekit.transports.android_fingerprint) ---------------------
    def getprops(self) -> dict:
        return android_fingerprint.getprops(self)

    def fingerprint(self) -> tuple[dict, dict]:
        """(device fingerprint, platform) of the phone, like the Python runner's on Linux."""
        return android_fingerprint.fingerprint(self)

    def thermal(self) -> dict:
        return android_fingerprint.thermal(self)


TRANSPORTS.register("adb", AdbTransport)
