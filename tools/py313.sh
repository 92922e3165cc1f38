#!/usr/bin/env bash
# `make test-py313`: every test under Python 3.13, the image's Python (python-connector-base
# 4.1.0), where the machine has another Python. It builds a Debian trixie root once (debootstrap,
# about a minute), copies the working tree into it and runs pytest there with Python 3.13.
#
# Skips, with a message and exit status 0, when it cannot build that root (not root, no
# debootstrap, Debian's mirror out of reach): a missing tool is not a failing test. Once the
# root is there, a failed install or test fails.
set -euo pipefail
cd "$(dirname "$0")/.."

ROOT=${PY313_ROOT:-/var/tmp/source-chartmogul-py313}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

skip() {
    echo "test-py313: SKIPPED: $*" >&2
    exit 0
}

mounts_under_root() {
    awk -v root="$ROOT" '$2 == root || index($2, root "/") == 1 { print $2 }' /proc/mounts | sort -r
}

# debootstrap mounts /proc (and may bind /dev) in the root while it works: a failed or killed
# run can leave them. Deleting through such a mount would delete the host's files.
remove_root() {
    for mount in $(mounts_under_root); do
        umount "$mount" 2>/dev/null || true
    done
    if [ -n "$(mounts_under_root)" ]; then
        echo "test-py313: something is still mounted under $ROOT; not deleting it" >&2
        return 1
    fi
    rm -rf "$ROOT"
}

case "$ROOT" in
    /*/?*) ;;
    *) echo "test-py313: PY313_ROOT must be a directory of its own, like /var/tmp/name" >&2; exit 1 ;;
esac
[ "$(id -u)" = 0 ] || skip "needs root (debootstrap, chroot, mount)"
# Never delete or refill a root that still has something mounted in it (a run killed midway).
if [ -n "$(mounts_under_root)" ]; then
    echo "test-py313: something is still mounted under $ROOT; unmount it first" >&2
    exit 1
fi

if [ ! -x "$ROOT/usr/bin/python3.13" ] || [ ! -x "$ROOT/venv/bin/python" ]; then
    command -v debootstrap >/dev/null || apt-get install -y -q debootstrap >/dev/null 2>&1 \
        || skip "debootstrap is not installed and could not be"
    remove_root
    mkdir -p "$(dirname "$ROOT")"
    echo "test-py313: building a Debian trixie root in $ROOT (log: $ROOT.log)" >&2
    timeout 600 debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
        trixie "$ROOT" "$MIRROR" >"$ROOT.log" 2>&1 || { remove_root; skip "debootstrap failed, see $ROOT.log"; }
    chroot "$ROOT" python3 -m venv /venv || { remove_root; skip "cannot run a command in the root (chroot)"; }
fi

# The host's certificates and resolver: where a proxy re-signs TLS, pip needs its certificate.
for file in /etc/ssl/certs/ca-certificates.crt /etc/resolv.conf; do
    if [ -f "$file" ]; then cp "$file" "$ROOT$file"; fi
done

# The working tree as it is, committed or not, without what git ignores (venvs, caches).
rm -rf "$ROOT/repo"
mkdir "$ROOT/repo"
git ls-files -z --cached --others --exclude-standard | tar --null --ignore-failed-read -T - -cf - | tar -xf - -C "$ROOT/repo"

mount -t proc proc "$ROOT/proc" || skip "cannot mount /proc in the root"
trap 'umount "$ROOT/proc"' EXIT
chroot "$ROOT" /bin/sh -c '
    set -e
    cd /repo
    /venv/bin/python --version
    /venv/bin/pip install --quiet --disable-pip-version-check -e ".[tests]"
    /venv/bin/python -m pytest unit_tests integration_tests
'
