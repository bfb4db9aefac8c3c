#!/usr/bin/env bash
# Build the emulated "Raspberry Pi": an arm64 Debian bookworm userland that runs under qemu-user.
#
#   tests/boards/build_rootfs.sh OUT_DIR
#
# OUT_DIR/rootfs gets: python3 + a venv at /opt/litert-venv with ai-edge-litert and numpy (native
# aarch64 wheels, no TensorFlow), openssh-server with its own host key and config for a loopback
# test server, and a user `pi`. Keys for the client are NOT made here: the board is started with a
# fresh authorized key each time (tests/boards/board.py), so the cached tarball holds no secrets
# anyone logs in with.
#
# WHY a script of its own: tests/boards/board.py caches the packed result keyed on this file's
# sha256, so any change here (packages, pins) rebuilds the board and nothing else does.
# Needs root, debootstrap, qemu-user-static and binfmt_misc with qemu-aarch64 enabled (sshd and
# apt/pip fork children; without binfmt only a single process would run).
set -euo pipefail

OUT=${1:?usage: build_rootfs.sh OUT_DIR}
ROOTFS="$OUT/rootfs"
SUITE=bookworm
# Pinned like constraints.txt: what the board runs must not drift under the tests.
LITERT_PIN="ai-edge-litert==2.3.0"
NUMPY_PIN="numpy==2.4.6"

# The host's Debian mirror (deb822 .sources first, then one-line .list), overridable.
mirror() {
  if [ -n "${EDGEKIT_BOARD_MIRROR:-}" ]; then echo "$EDGEKIT_BOARD_MIRROR"; return; fi
  local m
  m=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ {print $2}' | grep -v security | head -n1 || true)
  if [ -z "$m" ]; then
    m=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
        | awk '$1=="deb" {for (i=2;i<=NF;i++) if ($i ~ /^(https?|file):/) {print $i; exit}}' | grep -v security | head -n1 || true)
  fi
  echo "${m:-http://deb.debian.org/debian}"
}

MOUNTED=()
cleanup() {
  local i
  for ((i=${#MOUNTED[@]}-1; i>=0; i--)); do
    umount "${MOUNTED[$i]}" 2>/dev/null || umount -l "${MOUNTED[$i]}" 2>/dev/null || true
  done
}
trap cleanup EXIT
bind() { mount "$@"; MOUNTED+=("${@: -1}"); }

# A private /dev (tmpfs + the few nodes pip and sshd use) instead of a bind mount of the host's:
# an interrupted build can then never lead `rm -rf` into the host's /dev.
private_dev() {
  bind -t tmpfs -o mode=755,size=1m edgekit-dev "$1"
  local n
  for n in "null 1 3" "zero 1 5" "full 1 7" "random 1 8" "urandom 1 9" "tty 5 0"; do
    set -- "$1" $n
    mknod -m 666 "$1/$2" c "$3" "$4"
  done
  ln -s /proc/self/fd "$1/fd"
  ln -s /proc/self/fd/0 "$1/stdin"; ln -s /proc/self/fd/1 "$1/stdout"; ln -s /proc/self/fd/2 "$1/stderr"
  mkdir -p "$1/pts" "$1/shm"; chmod 1777 "$1/shm"
}

if grep -qs " $ROOTFS/" /proc/self/mounts; then
  echo "build_rootfs.sh: something is still mounted under $ROOTFS; unmount it first" >&2
  exit 1
fi
rm -rf "$ROOTFS"
mkdir -p "$OUT"
MIRROR=$(mirror)
echo "== debootstrap $SUITE arm64 from $MIRROR (3-4 min under emulation)"
debootstrap --arch=arm64 --variant=minbase \
  --include=python3,python3-venv,python3-pip,openssh-server,ca-certificates \
  "$SUITE" "$ROOTFS" "$MIRROR" >"$OUT/debootstrap.log" 2>&1 \
  || { tail -n 20 "$OUT/debootstrap.log" >&2; exit 1; }

# Hosts behind a TLS-inspecting proxy trust extra CAs; pip inside the chroot must trust them too.
for crt in /usr/local/share/ca-certificates/*.crt; do
  [ -f "$crt" ] && cat "$crt" >>"$ROOTFS/etc/ssl/certs/ca-certificates.crt"
done
cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf"

bind -t proc proc "$ROOTFS/proc"
bind -t sysfs -o ro sysfs "$ROOTFS/sys"
private_dev "$ROOTFS/dev"

echo "== venv with $LITERT_PIN $NUMPY_PIN"
chroot "$ROOTFS" /usr/bin/python3 -m venv /opt/litert-venv
# PIP_* from the host (find-links, local indexes) mean nothing inside the board.
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root PIP_DISABLE_PIP_VERSION_CHECK=1 \
  PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DEFAULT_TIMEOUT=180 \
  chroot "$ROOTFS" /opt/litert-venv/bin/pip install -q --no-cache-dir --only-binary=:all: \
  "$LITERT_PIN" "$NUMPY_PIN"
chroot "$ROOTFS" /opt/litert-venv/bin/python -c "import numpy, ai_edge_litert.interpreter"

echo "== user pi and sshd"
chroot "$ROOTFS" /usr/sbin/useradd -m -s /bin/bash pi
# No password at all, but not "locked" ('!'): without PAM, sshd refuses key logins to locked accounts.
chroot "$ROOTFS" /usr/sbin/usermod -p '*' pi
rm -f "$ROOTFS"/etc/ssh/ssh_host_*
ssh-keygen -q -t ed25519 -N '' -C edgekit-board -f "$ROOTFS/etc/ssh/ssh_host_ed25519_key"
cat >"$ROOTFS/etc/ssh/sshd_config.d/edgekit-board.conf" <<'CONF'
# Loopback test server of the emulated board (port and address come from the command line).
HostKey /etc/ssh/ssh_host_ed25519_key
UsePAM no
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
PubkeyAuthentication yes
AuthorizedKeysFile .ssh/authorized_keys
UseDNS no
MaxStartups 30:60:100
MaxSessions 30
CONF
echo "edgekit-board" >"$ROOTFS/etc/hostname"
cleanup; MOUNTED=()
# Nothing below needs the package lists or caches; they only make the tarball bigger.
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/root/.cache
echo "== done: $ROOTFS ($(du -sxh "$ROOTFS" | cut -f1))"
