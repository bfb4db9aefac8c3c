"""Device profiles: one TOML file per device saying how to reach it and how to run models there.

Profiles come from, in rising priority (a later file with the same name replaces an earlier one):
the project's ``devices/`` directory (shipped kinds: host, raspberry-pi-4, ...), the user's
``$XDG_CONFIG_HOME/edgekit/devices`` (``~/.config/edgekit/devices``), ``$EDGEKIT_DEVICES_DIR``
(``os.pathsep``-separated) and ``--devices-dir``. A profile's name is its file name without
``.toml``. Files are validated strictly (unknown keys, wrong types, missing host): a typo in a key
must not silently fall back to a default and benchmark the wrong thing. A broken file breaks only
its own name: commands that use it fail with its one-line reason, every other command warns once
and goes on with the valid profiles (one typo must not take down every device).

Readiness (``readiness``/``require_ready``): a profile bound to an accelerator (an Edge TPU:
``edgetpu_device`` or the ``edgetpu`` delegate) is ``ready`` only when this machine's probe finds
an attached Edge TPU matching its selector and libedgetpu. On the host transport nothing else
would stop a benchmark from quietly measuring the host CPU instead, so such a profile refuses to
run without them (exit 3), and refuses models without Edge TPU ops (exit 2).
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Iterable, Sequence

from edgekit.errors import EdgekitError

SHIPPED_DIR = Path(__file__).resolve().parents[2] / "devices"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_MASK_RE = re.compile(r"^(0x)?[0-9a-fA-F]{1,16}$")


@dataclass
class DeviceProfile:
    """Everything edgekit needs to reach one device and run a model on it."""

    name: str
    transport: str
    description: str = ""
    # SSH: the system client reads ~/.ssh/config too, so `host` may be an alias defined there.
    host: str | None = None
    port: int | None = None
    user: str | None = None
    identity: str | None = None  # private key file (-i)
    known_hosts: str | None = None  # UserKnownHostsFile; default: the user's
    ssh_config: str | None = None  # ssh -F FILE
    ssh_options: list[str] = field(default_factory=list)  # extra "-o Key=Value"
    connect_timeout: float = 5.0
    # adb
    serial: str | None = None
    benchmark_model: str | None = None  # local path of the TFLite benchmark_model binary to push
    benchmark_model_remote: str = "/data/local/tmp/benchmark_model"
    executor_runner: str | None = None  # local path of an ExecuTorch executor_runner to push
    executor_runner_remote: str = "/data/local/tmp/executor_runner"
    # What the device is and how to run there
    arch: str = "unknown"
    runtimes: list[str] = field(default_factory=lambda: ["tflite"])
    delegates: list[str] = field(default_factory=list)
    provider: str | None = None  # Python runtime package on the device (ai_edge_litert, tflite_runtime)
    edgetpu_device: str | None = None  # Edge TPU selector: usb, usb:0, pci:0
    threads: int | None = None
    affinity: str | None = None  # CPU mask for taskset, hex (e.g. "f0" = the big cores 4-7)
    python: str = "python3"  # interpreter on the device
    workdir: str = "/tmp"  # where per-run private directories are made
    deploy_dir: str | None = None  # where `edgekit deploy` puts versions (adb: an app-readable path)
    env: dict[str, str] = field(default_factory=dict)  # extra environment on the device
    emulated: bool = False  # e.g. a qemu-user board: timings prove it runs, not how fast
    source: str | None = None  # the file this profile was read from
    options: dict[str, Any] = field(default_factory=dict)  # a transport's own keys beyond these fields

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @property
    def address(self) -> str:
        """How the profile reaches its device, for listings (the transport's ``address``)."""
        from edgekit.transports.base import transport_class

        return transport_class(self.transport).address(self)


# Keys every profile may set, whatever its transport; each transport adds its own
# (``Transport.profile_keys``: ssh's host/port/user..., adb's serial and tool paths).
_COMMON_TYPES: dict[str, tuple[type, ...]] = {
    "description": (str,),
    "transport": (str,),
    "connect_timeout": (int, float),
    "benchmark_model_remote": (str,),
    "executor_runner_remote": (str,),
    "arch": (str,),
    "runtimes": (list,),
    "delegates": (list,),
    "provider": (str,),
    "edgetpu_device": (str,),
    "threads": (int,),
    "affinity": (str,),
    "python": (str,),
    "workdir": (str,),
    "deploy_dir": (str,),
    "env": (dict,),
    "emulated": (bool,),
}
KNOWN_DELEGATES = ("xnnpack", "gpu", "nnapi", "hexagon", "edgetpu", "coreml", "qnn")
_FIELDS = None  # DeviceProfile's field names, filled on first use


def _transport_classes() -> dict[str, type]:
    """Every registered transport's class by kind (their modules are small and stdlib-only)."""
    from edgekit.transports import TRANSPORTS

    return {kind: TRANSPORTS.get(kind) for kind in TRANSPORTS.names()}


def known_keys() -> dict[str, tuple[type, ...]]:
    """Every key a profile of some transport may set, with its TOML types."""
    types = dict(_COMMON_TYPES)
    for cls in _transport_classes().values():
        types.update(cls.profile_keys)
    return types


def _bad(source: str, message: str, hint: str) -> EdgekitError:
    return EdgekitError(f"device profile {source}: {message}", hint)


def profile_from_dict(name: str, data: dict[str, Any], source: str = "<dict>") -> DeviceProfile:
    """Validate one profile's keys and values; every problem is one clear ``edgekit:`` line."""
    from edgekit.transports import TRANSPORTS

    if not _NAME_RE.match(name):
        raise _bad(source, f"{name!r} is not a valid device name", "use letters, digits, '.', '_' and '-' in the file name")
    classes = _transport_classes()
    all_types = known_keys()
    for key in data:
        if key not in all_types:
            close = difflib.get_close_matches(key, list(all_types), n=1)
            raise _bad(
                source,
                f"unknown key {key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""),
                "known keys: " + ", ".join(sorted(all_types)),
            )
        value = data[key]
        types = all_types[key]
        if isinstance(value, bool) and bool not in types:  # TOML true is not a port number
            value_ok = False
        else:
            value_ok = isinstance(value, types)
        if not value_ok:
            want = " or ".join(
                {int: "an integer", float: "a number", str: "a string", list: "a list", dict: "a table", bool: "true or false"}[t]
                for t in types
            )
            raise _bad(source, f"{key} must be {want}, not {value!r}", f"fix {key} in the file")
    if "transport" not in data:
        raise _bad(source, "no transport", f"add transport = one of {', '.join(TRANSPORTS.names())}")
    transport = data["transport"]
    if transport not in TRANSPORTS:
        raise _bad(source, f"unknown transport {transport!r}", f"use one of: {', '.join(TRANSPORTS.names())}")
    cls = classes[transport]
    for key, hint in cls.required_keys.items():
        if not data.get(key):
            raise _bad(source, f"{cls.noun or 'a ' + transport + ' device'} needs a {key}", hint)
    # A key another transport owns is a mistake here (a host profile with a serial would
    # silently measure this machine): one line naming the transport it belongs to.
    stray: dict[str, list[str]] = {}
    for key in data:
        if key in _COMMON_TYPES or key in cls.profile_keys:
            continue
        owners = " or ".join(k for k, c in classes.items() if key in c.profile_keys)
        stray.setdefault(owners, []).append(key)
    if stray:
        owners, keys = min(stray.items(), key=lambda kv: list(data).index(kv[1][0]))
        first = owners.split(" or ")[0]
        raise _bad(
            source,
            f"{', '.join(keys)} only apply to {owners} devices, this one uses {transport}",
            f'remove them or set transport = "{first}"',
        )
    cls.check_profile(data, lambda message, hint: _bad(source, message, hint))
    if "threads" in data and data["threads"] < 1:
        raise _bad(source, f"threads must be at least 1, not {data['threads']}", "omit it for the runtime's default")
    if "connect_timeout" in data and not 0 < data["connect_timeout"] <= 600:
        raise _bad(source, f"connect_timeout {data['connect_timeout']} is out of range", "use 1-600 seconds")
    if "affinity" in data and not _MASK_RE.match(data["affinity"]):
        raise _bad(
            source,
            f"affinity {data['affinity']!r} is not a hex CPU mask",
            'use e.g. affinity = "f0" (CPUs 4-7), as taskset takes it',
        )
    from edgekit.runtimes.formats import format_names  # the runtimes a profile names are formats

    for key, known in (("runtimes", tuple(format_names())), ("delegates", KNOWN_DELEGATES)):
        for item in data.get(key, []):
            if item not in known:
                raise _bad(source, f"unknown {key[:-1]} {item!r}", f"use any of: {', '.join(known)}")
    if "edgetpu_device" in data:
        try:
            check_edgetpu_selector(data["edgetpu_device"])
        except EdgekitError as exc:
            raise _bad(source, exc.message, exc.hint) from None
    for k, v in data.get("env", {}).items():
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", k) or not isinstance(v, str):
            raise _bad(source, f'env entry {k!r} must be NAME = "string"', "fix the [env] table")
    for key in ("workdir", "benchmark_model_remote", "executor_runner_remote"):
        if key in data and not data[key].startswith("/"):
            raise _bad(source, f"{key} must be an absolute path on the device, not {data[key]!r}", f'e.g. {key} = "/tmp"')
    values = dict(data)
    base = os.path.dirname(os.path.abspath(source)) if os.path.exists(source) else os.getcwd()
    for key in cls.local_path_keys:  # host-side files: ~ expanded, relative to the profile's directory
        if values.get(key):
            values[key] = os.path.normpath(os.path.join(base, os.path.expanduser(values[key])))
    values.setdefault("workdir", cls.default_workdir)
    global _FIELDS
    if _FIELDS is None:
        _FIELDS = {f.name for f in fields(DeviceProfile)}
    # keys a transport declares beyond the dataclass's fields travel in ``options``
    options = {k: values.pop(k) for k in list(values) if k not in _FIELDS}
    return DeviceProfile(name=name, source=source, options=options, **values)


def load_profile(path: str | os.PathLike) -> DeviceProfile:
    """Read and validate one ``NAME.toml`` profile."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    path = str(path)
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise EdgekitError(f"no such device profile: {path}", "check the path") from None
    except tomllib.TOMLDecodeError as exc:
        raise _bad(path, f"is not valid TOML ({exc})", "fix the syntax") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _bad(
            path,
            f"cannot be read ({getattr(exc, 'strerror', None) or type(exc).__name__})",
            "check its permissions, or remove it",
        ) from None
    return profile_from_dict(Path(path).stem, data, path)


def user_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "edgekit" / "devices"


def search_dirs(extra: Iterable[str] = ()) -> list[Path]:
    """Profile directories in rising priority."""
    dirs = [SHIPPED_DIR, user_dir()]
    env = os.environ.get("EDGEKIT_DEVICES_DIR")
    if env:
        dirs += [Path(p) for p in env.split(os.pathsep) if p]
    dirs += [Path(p) for p in extra]
    return dirs


def scan_devices(extra_dirs: Sequence[str] = ()) -> tuple[dict[str, DeviceProfile], dict[str, EdgekitError]]:
    """(valid profiles by name, broken profiles' errors by name); a later file of the same name,
    valid or broken, replaces an earlier one (a broken user override must not silently fall back
    to the shipped profile). A directory given explicitly must exist."""
    for d in extra_dirs:
        if not os.path.isdir(d):
            raise EdgekitError(f"no such devices directory: {d}", "check the path given to --devices-dir")
    found: dict[str, DeviceProfile] = {}
    broken: dict[str, EdgekitError] = {}
    for d in search_dirs(extra_dirs):
        if not d.is_dir():
            continue
        for path in sorted(d.glob("*.toml")):
            try:
                profile = load_profile(path)
            except EdgekitError as exc:
                found.pop(path.stem, None)
                broken[path.stem] = exc
                continue
            broken.pop(profile.name, None)
            found[profile.name] = profile
    return found, broken


_WARNED: set[str] = set()


def warn_broken(broken: dict[str, EdgekitError]) -> None:
    """One warning per broken file per process, for commands that do not use it."""
    from edgekit.console import warn

    for name, exc in sorted(broken.items()):
        if exc.message not in _WARNED:
            _WARNED.add(exc.message)
            warn(f"skipped {exc.message} (device {name!r} is unusable until that is fixed)")


def load_devices(extra_dirs: Sequence[str] = (), *, warn: bool = True) -> dict[str, DeviceProfile]:
    """All valid profiles by name; broken ones are skipped with one warning each."""
    found, broken = scan_devices(extra_dirs)
    if warn:
        warn_broken(broken)
    return found


def get_device(name: str, extra_dirs: Sequence[str] = ()) -> DeviceProfile:
    """One profile by name, or a clear error: its own file's problem, or the known names."""
    if name.endswith(".toml") and os.path.exists(name):
        return load_profile(name)
    devices, broken = scan_devices(extra_dirs)
    if name in broken:
        raise broken[name]
    warn_broken(broken)
    if name not in devices:
        close = difflib.get_close_matches(name, list(devices), n=1)
        raise EdgekitError(
            f"unknown device {name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""),
            f"configured devices: {', '.join(sorted(devices)) or 'none'}; add {name}.toml to {user_dir()} or pass --devices-dir",
        )
    return devices[name]


# --- Edge TPU selectors and readiness -------------------------------------------------------------


def check_edgetpu_selector(text: str) -> str:
    """An Edge TPU selector as pycoral spells it (the rule lives in edgekit/runtimes/edgetpu.py)."""
    from edgekit.runtimes.edgetpu import check_selector

    if not isinstance(text, str) or not text:
        raise EdgekitError(f"unknown Edge TPU device {text!r}", "use usb, usb:0, pci, pci:0 or :0")
    return check_selector(text)


def selector_matches(selector: str | None, tpus: Sequence[dict]) -> bool:
    """Does an attached Edge TPU answer to ``selector``? (``tpus``: probe.edgetpu_devices().)"""
    kind, _, index = (selector or "").partition(":")
    pool = [t for t in tpus if not kind or t.get("type") == kind]
    return bool(pool) and (not index or int(index) < len(pool))


def needs_edgetpu(profile: DeviceProfile) -> bool:
    """Is the profile bound to an Edge TPU (a Coral accelerator or board), not a general CPU?"""
    return bool(profile.edgetpu_device) or "edgetpu" in profile.delegates


def _is_local(profile: DeviceProfile) -> bool:
    """Does the profile's transport run on this machine (the host transport)?"""
    from edgekit.transports.base import transport_class

    return bool(transport_class(profile.transport).local)


def readiness(profile: DeviceProfile, facts: dict | None = None) -> dict:
    """What the profile needs and what is missing, from the probe's facts (``harness/probe.py``:
    the same evidence doctor reports). Only host-transport profiles are checked here; remote
    devices are judged by their own probe (``edgekit doctor --device``).

    Returns {"needs": [...], "missing": [...], "ready": bool | None} (None: not checked here)."""
    if not needs_edgetpu(profile):
        return {"needs": [], "missing": [], "ready": True if _is_local(profile) else None}
    needs = [f"an attached Edge TPU ({profile.edgetpu_device or 'any'})", "libedgetpu"]
    if not _is_local(profile):
        return {"needs": needs, "missing": [], "ready": None}
    if facts is None:
        from edgekit.harness import probe

        facts = {"edgetpu_devices": probe.edgetpu_devices(), "libedgetpu": probe.libedgetpu_info()}
    missing = []
    tpus = facts.get("edgetpu_devices") or []
    if not tpus:
        missing.append("no Edge TPU is attached (no USB 1a6e:089a / 18d1:9302, no /dev/apex_*)")
    elif not selector_matches(profile.edgetpu_device, tpus):
        kinds = ", ".join(sorted({str(t.get("type")) for t in tpus}))
        missing.append(f"no Edge TPU answers to {profile.edgetpu_device!r} ({len(tpus)} attached: {kinds})")
    if not facts.get("libedgetpu"):
        missing.append("libedgetpu (the Edge TPU runtime) is not installed")
    return {"needs": needs, "missing": missing, "ready": not missing}


def require_ready(profile: DeviceProfile, formats: Sequence[str] = (), facts: dict | None = None) -> None:
    """Refuse to run on a device-bound profile that would silently measure the host instead."""
    from edgekit.errors import EnvironmentMissing

    state = readiness(profile, facts)
    if state["missing"]:
        raise EnvironmentMissing(
            f"device {profile.name!r} needs {' and '.join(state['needs'])}, but " + " and ".join(state["missing"]),
            f"attach the accelerator and install libedgetpu1-std ('edgekit doctor --device {profile.name}' "
            "lists the commands), or use --device host for this machine's CPU",
        )
    if needs_edgetpu(profile) and _is_local(profile):
        from edgekit.runtimes.formats import accelerator_formats

        cpu = sorted(set(formats) - accelerator_formats("edgetpu"))
        if cpu:
            raise EdgekitError(
                f"device {profile.name!r} is an Edge TPU, but a {cpu[0]} model has no Edge TPU ops and would "
                "run on this machine's CPU",
                "compile it for the Edge TPU ('edgekit edgetpu compile MODEL.tflite') or use --device host",
            )
