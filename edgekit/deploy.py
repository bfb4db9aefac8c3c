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
version; its leftovers have temporary names and are swept by a later deploy.

On Android (adb) app storage has no symlinks, so the pointers are text files (``CURRENT``,
``PREVIOUS``) holding the version name, replaced the same way (written to a temporary name,
renamed over). Which pointer a transport uses is a table, not a branch in the deploy logic.
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

from edgekit.errors import CheckFailed, EdgekitError

DEFAULT_DIR = "edgekit-deploy"  # relative: the login directory on SSH devices
ADB_DEFAULT_DIR = "/data/local/tmp/edgekit-deploy"
DEPLOY_SCHEMA = "edgekit.deploy"
KEEP_VERSIONS = 3  # newest versions kept besides current and previous
STALE_TMP_MINUTES = 60  # temporary names older than this belong to a deploy that died
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,200}$")

# Scripts run with `sh -c SCRIPT sh ARGS...`: constant text, values only as positional parameters.
PREPARE_SH = r"""
d=$1
mkdir -p "$d/store" "$d/versions" || exit 1
find "$d/store" "$d/versions" "$d" -maxdepth 1 -name '.tmp-*' -mmin +"$2" -exec rm -rf {} + 2>/dev/null
exit 0
"""
# $1 version dir (temporary), then pairs of (store file, name): hard link, or copy where links fail.
ASSEMBLE_SH = r"""
v=$1; shift
mkdir -p "$v" || exit 1
while [ "$#" -ge 2 ]; do
  ln -f "$1" "$v/$2" 2>/dev/null || cp -f "$1" "$v/$2" || exit 1
  shift 2
done
"""
# Symlink pointer: $1 deploy dir, $2 pointer name, $3 target (relative), $4 temp suffix.
SWITCH_LINK_SH = r"""
cd "$1" || exit 1
ln -s "$3" ".tmp-$2-$4" || exit 1
mv -f -T ".tmp-$2-$4" "$2" || { rm -f ".tmp-$2-$4"; exit 1; }
"""
SWITCH_FILE_SH = r"""
cd "$1" || exit 1
printf '%s\n' "$3" > ".tmp-$2-$4" || exit 1
mv -f ".tmp-$2-$4" "$2" || { rm -f ".tmp-$2-$4"; exit 1; }
"""
READ_LINK_SH = r"""cd "$1" 2>/dev/null || exit 0; readlink "$2" 2>/dev/null; exit 0"""
READ_FILE_SH = r"""cd "$1" 2>/dev/null || exit 0; cat "$2" 2>/dev/null; exit 0"""
LIST_SH = r"""cd "$1/versions" 2>/dev/null || exit 0; for v in *; do [ -d "$v" ] && echo "$v"; done; exit 0"""
# Drop versions not kept, then store files no version links to any more (link count 1).
PRUNE_SH = r"""
d=$1; shift
for v in "$@"; do rm -rf "$d/versions/$v"; done
find "$d/store" -maxdepth 1 -type f -links 1 ! -name '.tmp-*' -exec rm -f {} + 2>/dev/null
exit 0
"""


@dataclass(frozen=True)
class Pointer:
    """How ``current``/``previous`` are stored on a kind of device."""

    current: str
    previous: str
    switch_sh: str
    read_sh: str
    symlink: bool

    def target(self, version: str) -> str:
        return f"versions/{version}" if self.symlink else version

    @staticmethod
    def version_of(text: str) -> str | None:
        text = text.strip()
        return text.rsplit("/", 1)[-1] if text else None


SYMLINK = Pointer("current", "previous", SWITCH_LINK_SH, READ_LINK_SH, symlink=True)
TEXTFILE = Pointer("CURRENT", "PREVIOUS", SWITCH_FILE_SH, READ_FILE_SH, symlink=False)
POINTERS: dict[str, Pointer] = {"host": SYMLINK, "ssh": SYMLINK, "adb": TEXTFILE}


@dataclass
class LocalArtifact:
    path: str
    name: str  # the file name on the device
    sha256: str
    size: int
    entry: dict | None  # its manifest entry, when it came from an edgekit build directory


def collect(paths: Sequence[str]) -> list[LocalArtifact]:
    """Hash the artifacts and find their manifest entries; refuse what would be ambiguous on the device."""
    from edgekit.artifacts import find_manifest_entry, sha256_file

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
        self.t = transport
        self.dir = directory.rstrip("/") or "/"
        self.pointer = POINTERS.get(kind, SYMLINK)
        self.device = getattr(transport, "device_name", kind)

    # --- small remote helpers ---------------------------------------------------------------
    def sh(self, script: str, *args: str, what: str, timeout: float = 120):
        proc = self.t.run(["sh", "-c", script, "sh", *args], timeout=timeout)
        if proc.returncode != 0:
            err = (proc.stderr or "").strip().splitlines()
            raise EdgekitError(
                f"{what} failed on device {self.device!r} ({(err[-1] if err else 'exit status %d' % proc.returncode)[:200]})",
                f"check that {self.dir} is writable there and the disk is not full",
            )
        return proc

    def read_pointer(self, name: str) -> str | None:
        return Pointer.version_of(self.sh(self.pointer.read_sh, self.dir, name, what="reading " + name).stdout or "")

    def switch(self, name: str, version: str) -> None:
        self.sh(self.pointer.switch_sh, self.dir, name, self.pointer.target(version), secrets.token_hex(4),
                what=f"switching {name}")

    def versions(self) -> list[str]:
        return sorted(v for v in (self.sh(LIST_SH, self.dir, what="listing versions").stdout or "").split() if not v.startswith("."))

    def read_manifest(self, version: str) -> dict:
        with tempfile.TemporaryDirectory(prefix="edgekit-deploy-") as tmp:
            local = os.path.join(tmp, "manifest.json")
            self.t.pull(f"{self.dir}/versions/{version}/manifest.json", local)
            with open(local, encoding="utf-8") as f:
                return json.load(f)

    # --- the steps --------------------------------------------------------------------------
    def upload(self, art: LocalArtifact, report: dict) -> None:
        """Make store/<sha256> hold exactly this artifact's bytes, sending them only if needed."""
        stored = f"{self.dir}/store/{art.sha256}"
        if self.t.sha256(stored) == art.sha256:
            report["reused"].append(art.name)
            return
        tmp = f"{self.dir}/store/.tmp-{art.sha256[:16]}-{secrets.token_hex(4)}"
        try:
            self.t.push(art.path, tmp)
            there = self.t.sha256(tmp)
            if there != art.sha256:
                raise CheckFailed(
                    f"hash mismatch after copying {art.name} to device {self.device!r}: sha256 there is "
                    f"{(there or 'missing')[:12]}, here {art.sha256[:12]}",
                    "the copy was corrupted on the way or on the device's storage; deploy again and check the device's disk",
                )
            self.sh('mv -f "$1" "$2"', tmp, stored, what=f"storing {art.name}")
        finally:
            self.t.remove(tmp)
        report["sent"].append(art.name)
        report["bytes_sent"] += art.size

    def deploy(self, artifacts: Sequence[LocalArtifact], keep: int = KEEP_VERSIONS) -> dict:
        report: dict = {"schema": DEPLOY_SCHEMA, "device": self.device, "dir": self.dir, "sent": [], "reused": [],
                        "bytes_sent": 0, "files": [a.name for a in artifacts]}
        self.sh(PREPARE_SH, self.dir, str(STALE_TMP_MINUTES), what="preparing the deploy directory")
        previous = self.read_pointer(self.pointer.current)
        cid = content_id(artifacts)
        if previous and previous.endswith("-" + cid) and self._intact(previous, artifacts):
            report["reused"] = [a.name for a in artifacts]
            report.update(version=previous, previous=self.read_pointer(self.pointer.previous), changed=False)
            return report
        for art in artifacts:
            self.upload(art, report)
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        version = f"{stamp}-{cid}"
        tmp_version = f"{self.dir}/versions/.tmp-{version}"
        try:
            pairs = [x for a in artifacts for x in (f"{self.dir}/store/{a.sha256}", a.name)]
            self.sh(ASSEMBLE_SH, tmp_version, *pairs, what="assembling the version")
            self._push_manifest(tmp_version, version, artifacts)
            for art in artifacts:  # the files as apps will open them, hashed where they are
                there = self.t.sha256(f"{tmp_version}/{art.name}")
                if there != art.sha256:
                    raise CheckFailed(
                        f"hash mismatch on device {self.device!r}: {art.name} is {(there or 'missing')[:12]} there, "
                        f"{art.sha256[:12]} here", "deploy again; if it persists, check the device's storage")
            self.sh('mv "$1" "$2"', tmp_version, f"{self.dir}/versions/{version}", what="publishing the version")
        finally:
            self.t.remove(tmp_version)
        if previous:
            self.switch(self.pointer.previous, previous)
        self.switch(self.pointer.current, version)
        report.update(version=version, previous=previous, changed=True)
        report["pruned"] = self.prune(keep, {version, previous})
        return report

    def _intact(self, version: str, artifacts: Sequence[LocalArtifact]) -> bool:
        """Same content id and every file still hashes right: the re-deploy changes nothing."""
        return all(self.t.sha256(f"{self.dir}/versions/{version}/{a.name}") == a.sha256 for a in artifacts)

    def _push_manifest(self, remote_dir: str, version: str, artifacts: Sequence[LocalArtifact]) -> None:
        from edgekit.artifacts import MANIFEST_SCHEMA, MANIFEST_SCHEMA_VERSION, now_iso

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
            self.t.push(local, f"{remote_dir}/manifest.json")

    def prune(self, keep: int, protected: set) -> list[str]:
        versions = self.versions()
        keep_set = set(versions[-keep:]) | {v for v in protected if v}
        drop = [v for v in versions if v not in keep_set]
        self.sh(PRUNE_SH, self.dir, *drop, what="removing old versions")
        return drop

    def rollback(self) -> dict:
        current = self.read_pointer(self.pointer.current)
        previous = self.read_pointer(self.pointer.previous)
        if not previous or previous == current:
            raise EdgekitError(f"nothing to roll back to in {self.dir} on device {self.device!r}",
                               "a rollback needs two deploys; 'edgekit deploy --status' shows what is there")
        if previous not in self.versions():
            raise EdgekitError(f"the previous version {previous} is gone from device {self.device!r}", "deploy the version you want again")
        if current:
            self.switch(self.pointer.previous, current)
        self.switch(self.pointer.current, previous)
        return {"schema": DEPLOY_SCHEMA, "device": self.device, "dir": self.dir, "version": previous,
                "previous": current, "changed": True, "rolled_back": True}

    def status(self, verify: bool = False) -> dict:
        current = self.read_pointer(self.pointer.current)
        out: dict = {"schema": DEPLOY_SCHEMA, "device": self.device, "dir": self.dir, "version": current,
                     "previous": self.read_pointer(self.pointer.previous), "versions": self.versions()}
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
                raise CheckFailed(f"hash mismatch on device {self.device!r} in version {current}: {', '.join(bad)}",
                                  "deploy the artifacts again (files that no longer match are re-sent)")
        return out


def default_dir(profile) -> str | None:
    if profile is None:
        return None
    if getattr(profile, "deploy_dir", None):
        return profile.deploy_dir
    return {"ssh": DEFAULT_DIR, "adb": ADB_DEFAULT_DIR}.get(profile.transport)


def open_deployer(device: str | None, to: str | None, devices_dirs: Sequence[str] = ()):
    """(transport, Deployer) for a device profile, or this machine when ``device`` is None."""
    from edgekit.transports import TRANSPORTS

    if device:
        from edgekit.devices import get_device
        from edgekit.transports.base import open_transport

        profile = get_device(device, devices_dirs)
        transport, kind = open_transport(profile), profile.transport
    else:
        profile, transport, kind = None, TRANSPORTS.get("host")(None), "host"
    directory = to or default_dir(profile)
    if not directory:
        transport.close()
        raise EdgekitError("no deploy directory for this machine", "pass --to DIR (or set deploy_dir in the device profile)")
    if kind == "host":
        directory = os.path.abspath(os.path.expanduser(directory))
    return transport, Deployer(transport, directory, kind)


def deploy(artifacts: Sequence[str], device: str | None = None, to: str | None = None, *,
           devices_dirs: Sequence[str] = (), keep: int = KEEP_VERSIONS) -> dict:
    local = collect(artifacts)
    transport, deployer = open_deployer(device, to, devices_dirs)
    with transport:
        return deployer.deploy(local, keep=keep)


def rollback(device: str | None = None, to: str | None = None, *, devices_dirs: Sequence[str] = ()) -> dict:
    transport, deployer = open_deployer(device, to, devices_dirs)
    with transport:
        return deployer.rollback()


def status(device: str | None = None, to: str | None = None, *, devices_dirs: Sequence[str] = (), verify: bool = False) -> dict:
    transport, deployer = open_deployer(device, to, devices_dirs)
    with transport:
        return deployer.status(verify=verify)
