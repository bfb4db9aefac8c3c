"""edgekit deploy: put artifacts on a device so that what runs there is always a complete, verified set.

Layout of the deploy directory on the device (``--to``, the profile's ``deploy_dir``, or
``edgekit-deploy`` in the login directory)::

    store/<sha256>          every file ever sent, named by its content: a file already there with
                            the same hash is never sent again (idempotent re-deploys, and a new
                            version that changes one of five models sends one)
    versions/<id>/          one deploy: hard links into store/ (a copy where links do not work)
                            under the artifacts' names, plus manifest.json with their entries
    current -> versions/<id>    what apps load; switched by renaming a new symlink over the old
    previous -> versions/<id>   what ``--rollback`` switches back to

Why this order: files are copied into temporary names, hashed *on the device* and only then
renamed into store/; the version directory is assembled under a temporary name and renamed when
complete; ``current`` is replaced last, with rename(2), which is atomic. A deploy cut off at any
point (link lost, Ctrl-C, power) therefore leaves ``current`` pointing at the previous complete
version; its leftovers have temporary names and are swept by a later deploy. Deploys and rollbacks
to one directory take turns (edgekit.ship.lock), whichever machine runs them.

On Android (adb) app storage has no symlinks, so the pointers are text files (``CURRENT``,
``PREVIOUS``) holding the version name, replaced the same way (written to a temporary name,
renamed over). Which pointer a transport uses, and its default directory, are the transport's
(``Transport.deploy_pointer``, ``default_deploy_dir``), not a branch in the deploy logic.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import secrets
import tempfile
from dataclasses import dataclass
from typing import Sequence

from edgekit.ship.lock import DEFAULT_WAIT_S
from edgekit.errors import CheckFailed, EdgekitError

DEPLOY_SCHEMA = "edgekit.ship.deploy"
KEEP_VERSIONS = 3  # newest versions kept (the new current and the previous one always are)
STALE_TMP_MINUTES = 60  # temporary names older than this belong to a deploy that died
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,200}$")

# Scripts run with `sh -c SCRIPT sh ARGS...`: constant text, values only as positional parameters.
# Each deploy step is one script, so a deploy costs a handful of round trips (each SSH command is
# ~50 ms on a LAN, and far more on an emulated board). H hashes with whichever tool the OS has.
_HASH_FN = r"""
H() { if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1; else shasum -a 256 "$1" | cut -d' ' -f1; fi; }
"""
# Plan: $1 dir, $2 stale minutes, $3 link|file, $4 current name, $5 previous name, $6 content id,
# then (sha, name) pairs. Prints the pointers, the versions, and the hashes the plan needs: the
# current version's files when it has this content id (a re-deploy), else the store's copies.
PLAN_SH = (
    _HASH_FN
    + r"""
d=$1; stale=$2; mode=$3; cn=$4; pn=$5; cid=$6; shift 6
mkdir -p "$d/store" "$d/versions" || exit 1
find "$d/store" "$d/versions" "$d" -maxdepth 1 -name '.tmp-*' -mmin +"$stale" -exec rm -rf {} + 2>/dev/null
if [ "$mode" = link ]; then c=$(readlink "$d/$cn" 2>/dev/null); p=$(readlink "$d/$pn" 2>/dev/null)
else c=$(cat "$d/$cn" 2>/dev/null); p=$(cat "$d/$pn" 2>/dev/null); fi
c=${c##*/}; p=${p##*/}
echo "current $c"; echo "previous $p"
for v in "$d"/versions/*; do [ -d "$v" ] && echo "version ${v##*/}"; done
while [ "$#" -ge 2 ]; do
  if [ -n "$c" ] && [ "${c%-$cid}" != "$c" ]; then
    f="$d/versions/$c/$2"; h=-; [ -f "$f" ] && h=$(H "$f"); echo "cur $1 $h"
    if [ "$h" = "$1" ]; then shift 2; continue; fi
  fi
  f="$d/store/$1"; h=-; [ -f "$f" ] && h=$(H "$f"); echo "store $1 $h"
  shift 2
done
exit 0
"""
)
# Store one pushed file: $1 temporary copy, $2 final store path, $3 expected sha256.
STORE_SH = (
    _HASH_FN
    + r"""
h=$(H "$1")
if [ "$h" = "$3" ]; then mv -f "$1" "$2" || exit 1; exit 0; fi
rm -f "$1"; echo "$h"; exit 4
"""
)
# Assemble a version: $1 dir, $2 version, $3 pushed manifest, $4 current version (or empty), then
# (sha, name) pairs. Hard links into the store (a copy where links fail; where the store copy was
# pruned because links do not work there, the current version's copy), each file hashed where
# apps will open it, then one rename publishes the directory.
ASSEMBLE_SH = (
    _HASH_FN
    + r"""
d=$1; v=$2; m=$3; cur=$4; shift 4
t="$d/versions/.tmp-$v"
mkdir -p "$t" || exit 1
while [ "$#" -ge 2 ]; do
  src="$d/store/$1"; [ -f "$src" ] || src="$d/versions/$cur/$2"
  ln -f "$src" "$t/$2" 2>/dev/null || cp -f "$src" "$t/$2" || { rm -rf "$t"; exit 1; }
  h=$(H "$t/$2")
  if [ "$h" != "$1" ]; then rm -rf "$t" "$m"; echo "$2 $h"; exit 4; fi
  shift 2
done
mv -f "$m" "$t/manifest.json" && mv "$t" "$d/versions/$v" || { rm -rf "$t"; exit 1; }
"""
)
# Switch: $1 dir, $2 link|file, $3 current name, $4 previous name, $5 new current, $6 new previous
# (may be empty), $7 temp suffix, then versions to drop. Each pointer is written under a temporary
# name and renamed over the old one (rename(2) is atomic); current is switched last but one step
# before pruning, so every state in between is a complete version.
SWITCH_SH = r"""
d=$1; mode=$2; cn=$3; pn=$4; new=$5; old=$6; tok=$7; shift 7
cd "$d" || exit 1
put() {
  if [ "$mode" = link ]; then ln -s "versions/$2" ".tmp-$1-$tok" || return 1; mv -f -T ".tmp-$1-$tok" "$1"
  else printf '%s\n' "$2" > ".tmp-$1-$tok" || return 1; mv -f ".tmp-$1-$tok" "$1"; fi
}
if [ -n "$old" ]; then put "$pn" "$old" || exit 1; fi
put "$cn" "$new" || exit 1
for v in "$@"; do rm -rf "versions/$v"; done
find store -maxdepth 1 -type f -links 1 ! -name '.tmp-*' -exec rm -f {} + 2>/dev/null
exit 0
"""


@dataclass(frozen=True)
class Pointer:
    """How ``current``/``previous`` are stored on a kind of device."""

    current: str
    previous: str
    mode: str  # "link": symlinks; "file": text files holding the version name


SYMLINK = Pointer("current", "previous", "link")
TEXTFILE = Pointer("CURRENT", "PREVIOUS", "file")
POINTERS: dict[str, Pointer] = {"link": SYMLINK, "file": TEXTFILE}  # by Transport.deploy_pointer


@dataclass
class LocalArtifact:
    path: str
    name: str  # the file name on the device
    sha256: str
    size: int
    entry: dict | None  # its manifest entry, when it came from an edgekit build directory


def collect(paths: Sequence[str]) -> list[LocalArtifact]:
    """Hash the artifacts and find their manifest entries; refuse what would be ambiguous on the device."""
    from edgekit.build.artifacts import find_manifest_entry, sha256_file

    if not paths:
        raise EdgekitError("no artifacts to deploy", "pass .tflite/.pte/.ptl files, e.g. out/model_int8.tflite")
    out: list[LocalArtifact] = []
    names: set[str] = set()
    for path in paths:
        if not os.path.isfile(path):
            raise EdgekitError(f"no such file: {path}", "check the artifact path")
        name = os.path.basename(path)
        if not _SAFE_NAME.match(name) or name in ("manifest.json",):
            raise EdgekitError(f"cannot deploy a file named {name!r}", "rename it to letters, digits, '.', '_', '-' and '+'")
        if name in names:
            raise EdgekitError(f"two artifacts are named {name}", "deploy files with distinct names")
        names.add(name)
        digest = sha256_file(path)
        entry = find_manifest_entry(path)
        entry_dict = entry.to_dict() if entry is not None else None
        if entry_dict and entry_dict.get("sha256") and entry_dict["sha256"] != digest:
            raise CheckFailed(
                f"{path} does not match its manifest entry (sha256 {digest[:12]}, manifest says {entry_dict['sha256'][:12]})",
                "the file changed after it was built; rebuild it with 'edgekit build'",
            )
        out.append(LocalArtifact(path, name, digest, os.path.getsize(path), entry_dict))
    return out


def content_id(artifacts: Sequence[LocalArtifact]) -> str:
    h = hashlib.sha256()
    for a in sorted(artifacts, key=lambda a: a.name):
        h.update(f"{a.name}\0{a.sha256}\n".encode())
    return h.hexdigest()[:12]


class Deployer:
    """Deploys to one directory on one device through the transport API (edgekit.transports.base)."""

    def __init__(self, transport, directory: str, kind: str):
        from edgekit.transports.base import transport_class

        self.t = transport
        self.dir = directory.rstrip("/") or "/"
        self.pointer = POINTERS[transport_class(kind).deploy_pointer]
        self.device = getattr(transport, "device_name", kind)

    # --- remote steps ------------------------------------------------------------------------
    def sh(self, script: str, *args: str, what: str, timeout: float = 600, ok=(0,)):
        proc = self.t.run(["sh", "-c", script, "sh", *args], timeout=timeout)
        if proc.returncode not in ok:
            err = (proc.stderr or "").strip().splitlines()
            raise EdgekitError(
                f"{what} failed on device {self.device!r} ({(err[-1] if err else 'exit status %d' % proc.returncode)[:200]})",
                f"check that {self.dir} is writable there and the disk is not full",
            )
        return proc

    def plan(self, artifacts: Sequence[LocalArtifact] = ()) -> dict:
        """One round trip: sweep stale temporaries, read the pointers, list versions, hash what is there."""
        pairs = [x for a in artifacts for x in (a.sha256, a.name)]
        proc = self.sh(
            PLAN_SH,
            self.dir,
            str(STALE_TMP_MINUTES),
            self.pointer.mode,
            self.pointer.current,
            self.pointer.previous,
            content_id(artifacts) if artifacts else "-",
            *pairs,
            what="reading the deploy directory",
        )
        out: dict = {"current": None, "previous": None, "versions": [], "cur": {}, "store": {}}
        for line in (proc.stdout or "").splitlines():
            key, _, rest = line.partition(" ")
            if key in ("current", "previous"):
                out[key] = rest.strip() or None
            elif key == "version" and not rest.startswith("."):
                out["versions"].append(rest.strip())
            elif key in ("cur", "store"):
                sha, _, there = rest.partition(" ")
                out[key][sha] = None if there.strip() == "-" else there.strip()
        out["versions"].sort()
        return out

    def read_manifest(self, version: str) -> dict:
        # `cat` rather than pull(): every transport can run a command, and the file is small.
        proc = self.sh('cat "$1"', f"{self.dir}/versions/{version}/manifest.json", what=f"reading version {version}")
        try:
            return json.loads(proc.stdout)
        except json.JSONDecodeError:
            raise CheckFailed(
                f"the manifest of version {version} on device {self.device!r} is damaged", "deploy the artifacts again"
            ) from None

    def upload(self, art: LocalArtifact, report: dict) -> None:
        """Make store/<sha256> hold exactly this artifact's bytes: push to a temporary name, hash
        it on the device, rename it into place only if the hash matches."""
        tmp = f"{self.dir}/store/.tmp-{art.sha256[:16]}-{secrets.token_hex(4)}"
        try:
            self.t.push(art.path, tmp)
            proc = self.sh(STORE_SH, tmp, f"{self.dir}/store/{art.sha256}", art.sha256, what=f"storing {art.name}", ok=(0, 4))
        except BaseException:
            self.t.remove(tmp)
            raise
        if proc.returncode == 4:
            there = (proc.stdout or "").strip() or "missing"
            raise CheckFailed(
                f"hash mismatch after copying {art.name} to device {self.device!r}: sha256 there is "
                f"{there[:12]}, here {art.sha256[:12]}",
                "the copy was corrupted on the way or on the device's storage; deploy again and check the device's disk",
            )
        report["sent"].append(art.name)
        report["bytes_sent"] += art.size

    def locked(self, wait: float):
        """The directory's deploy lock (edgekit.ship.lock) for one deploy or rollback."""
        import sys

        from edgekit.ship.lock import deploy_lock

        def note(holder: str) -> None:  # progress, not a warning: the wait may well end in success
            print(f"waiting up to {wait:g} s for another deploy to {self.dir} ({holder})", file=sys.stderr, flush=True)

        return deploy_lock(self.t, self.dir, wait=wait, on_wait=note)

    def deploy(self, artifacts: Sequence[LocalArtifact], keep: int = KEEP_VERSIONS, wait: float = DEFAULT_WAIT_S) -> dict:
        with self.locked(wait) as lock:
            report = self._deploy(artifacts, keep)
        report["lock"] = lock
        return report

    def _deploy(self, artifacts: Sequence[LocalArtifact], keep: int) -> dict:
        report: dict = {
            "schema": DEPLOY_SCHEMA,
            "device": self.device,
            "dir": self.dir,
            "sent": [],
            "reused": [],
            "bytes_sent": 0,
            "files": [a.name for a in artifacts],
        }
        plan = self.plan(artifacts)
        current, cid = plan["current"], content_id(artifacts)
        if current and current.endswith("-" + cid) and all(plan["cur"].get(a.sha256) == a.sha256 for a in artifacts):
            report["reused"] = [a.name for a in artifacts]  # the same files are current: nothing to do
            report.update(version=current, previous=plan["previous"], changed=False)
            return report
        for art in artifacts:
            if art.sha256 in (plan["cur"].get(art.sha256), plan["store"].get(art.sha256)):  # a hard link of the store copy
                report["reused"].append(art.name)
            else:
                self.upload(art, report)
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        version = f"{stamp}-{cid}"
        manifest_tmp = f"{self.dir}/versions/.tmp-{version}.manifest.json"
        self._push_manifest(manifest_tmp, version, artifacts)
        pairs = [x for a in artifacts for x in (a.sha256, a.name)]
        proc = self.sh(
            ASSEMBLE_SH, self.dir, version, manifest_tmp, current or "", *pairs, what="assembling the version", ok=(0, 4)
        )
        if proc.returncode == 4:
            name, _, there = (proc.stdout or "").strip().partition(" ")
            raise CheckFailed(
                f"hash mismatch on device {self.device!r}: {name} is {there[:12]} there after assembling",
                "deploy again; if it persists, check the device's storage",
            )
        kept = set(plan["versions"][-keep:] if keep else []) | {version, current}
        drop = [v for v in plan["versions"] if v not in kept]
        self.sh(
            SWITCH_SH,
            self.dir,
            self.pointer.mode,
            self.pointer.current,
            self.pointer.previous,
            version,
            current or "",
            secrets.token_hex(4),
            *drop,
            what="switching current",
        )
        report.update(version=version, previous=current, changed=True, pruned=drop)
        return report

    def _push_manifest(self, remote: str, version: str, artifacts: Sequence[LocalArtifact]) -> None:
        from edgekit.build.artifacts import MANIFEST_SCHEMA, MANIFEST_SCHEMA_VERSION, now_iso

        doc = {
            "schema": MANIFEST_SCHEMA,
            "schema_version": MANIFEST_SCHEMA_VERSION,
            "updated": now_iso(),
            "deploy": {"schema": DEPLOY_SCHEMA, "version": version, "deployed_at": now_iso()},
            "artifacts": [
                {**(a.entry or {"target": a.name, "status": "built"}), "file": a.name, "sha256": a.sha256, "size_bytes": a.size}
                for a in artifacts
            ],
        }
        with tempfile.TemporaryDirectory(prefix="edgekit-deploy-") as tmp:
            local = os.path.join(tmp, "manifest.json")
            with open(local, "w", encoding="utf-8") as f:
                json.dump(doc, f, indent=2)
            self.t.push(local, remote)

    def rollback(self, wait: float = DEFAULT_WAIT_S) -> dict:
        with self.locked(wait) as lock:
            report = self._rollback()
        report["lock"] = lock
        return report

    def _rollback(self) -> dict:
        plan = self.plan()
        current, previous = plan["current"], plan["previous"]
        if not previous or previous == current:
            raise EdgekitError(
                f"nothing to roll back to in {self.dir} on device {self.device!r}",
                "a rollback needs two deploys; 'edgekit deploy --status' shows what is there",
            )
        if previous not in plan["versions"]:
            raise EdgekitError(
                f"the previous version {previous} is gone from device {self.device!r}", "deploy the version you want again"
            )
        self.sh(
            SWITCH_SH,
            self.dir,
            self.pointer.mode,
            self.pointer.current,
            self.pointer.previous,
            previous,
            current or "",
            secrets.token_hex(4),
            what="switching current",
        )
        return {
            "schema": DEPLOY_SCHEMA,
            "device": self.device,
            "dir": self.dir,
            "version": previous,
            "previous": current,
            "changed": True,
            "rolled_back": True,
        }

    def status(self, verify: bool = False) -> dict:
        plan = self.plan()
        current = plan["current"]
        out: dict = {
            "schema": DEPLOY_SCHEMA,
            "device": self.device,
            "dir": self.dir,
            "version": current,
            "previous": plan["previous"],
            "versions": plan["versions"],
        }
        if current and verify:
            manifest = self.read_manifest(current)
            bad = []
            for entry in manifest.get("artifacts", []):
                there = self.t.sha256(f"{self.dir}/versions/{current}/{entry['file']}")
                if there != entry.get("sha256"):
                    bad.append(f"{entry['file']} ({(there or 'missing')[:12]} there, manifest {str(entry.get('sha256'))[:12]})")
            out["verified"] = not bad
            out["files"] = [e["file"] for e in manifest.get("artifacts", [])]
            if bad:
                raise CheckFailed(
                    f"hash mismatch on device {self.device!r} in version {current}: {', '.join(bad)}",
                    "deploy the artifacts again (files that no longer match are re-sent)",
                )
        return out


def default_dir(profile) -> str | None:
    if profile is None:
        return None
    if getattr(profile, "deploy_dir", None):
        return profile.deploy_dir
    from edgekit.transports.base import transport_class

    return transport_class(profile.transport).default_deploy_dir


def open_deployer(device: str | None, to: str | None, devices_dirs: Sequence[str] = ()):
    """(transport, Deployer) for a device profile, or this machine when ``device`` is None."""
    from edgekit.transports import TRANSPORTS

    if device:
        from edgekit.devices.profiles import get_device
        from edgekit.transports.base import open_transport

        profile = get_device(device, devices_dirs)
        transport, kind = open_transport(profile), profile.transport
    else:
        profile, transport, kind = None, TRANSPORTS.get("host")(None), "host"
    directory = to or default_dir(profile)
    if not directory:
        transport.close()
        raise EdgekitError("no deploy directory for this machine", "pass --to DIR (or set deploy_dir in the device profile)")
    try:
        if type(transport).local:  # this machine: ~ and relative paths are ours
            directory = os.path.abspath(os.path.expanduser(directory))
        else:
            directory = device_home_path(transport, directory, profile.name)
    except BaseException:
        transport.close()
        raise
    return transport, Deployer(transport, directory, kind)


def device_home_path(transport, directory: str, device: str) -> str:
    """``~`` and ``~/x`` in a device-side directory mean the device user's home, as in a shell.

    The deploy scripts get the directory as a quoted argument, so no shell ever expands it: without
    this, ``--to '~/x'`` created a directory literally named ``~`` in the login directory. The home
    is asked of the device (``$HOME`` there), never assumed from this machine."""
    if directory != "~" and not directory.startswith("~/"):
        if directory.startswith("~"):
            raise EdgekitError(
                f"cannot deploy to {directory!r}: only ~ and ~/... (the login user's home) are understood",
                "give the path of that user's home directly, e.g. --to /home/NAME/models",
            )
        return directory
    proc = transport.run(["sh", "-c", 'printf "%s" "$HOME"'], timeout=60)
    home = (proc.stdout or "").strip() if proc.returncode == 0 else ""
    if not home.startswith("/"):
        raise EdgekitError(
            f"device {device!r} reports no home directory for {directory!r}",
            "pass an absolute --to (e.g. /tmp/edgekit-deploy), or set deploy_dir in the profile",
        )
    rest = directory[2:].strip("/")
    return home if not rest else home.rstrip("/") + "/" + rest


def deploy(
    artifacts: Sequence[str],
    device: str | None = None,
    to: str | None = None,
    *,
    devices_dirs: Sequence[str] = (),
    keep: int = KEEP_VERSIONS,
    wait: float = DEFAULT_WAIT_S,
) -> dict:
    local = collect(artifacts)
    transport, deployer = open_deployer(device, to, devices_dirs)
    with transport:
        return deployer.deploy(local, keep=keep, wait=wait)


def rollback(
    device: str | None = None, to: str | None = None, *, devices_dirs: Sequence[str] = (), wait: float = DEFAULT_WAIT_S
) -> dict:
    transport, deployer = open_deployer(device, to, devices_dirs)
    with transport:
        return deployer.rollback(wait=wait)


def status(device: str | None = None, to: str | None = None, *, devices_dirs: Sequence[str] = (), verify: bool = False) -> dict:
    transport, deployer = open_deployer(device, to, devices_dirs)
    with transport:
        return deployer.status(verify=verify)
