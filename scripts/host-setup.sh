#!/usr/bin/env bash
# Prepare a Debian 12 host (as root, no systemd) for JVP: packages, libvirtd/virtlogd, loopback TCP listener.
# Idempotent: safe to run before every `make run` / `make test`.
set -euo pipefail

log() { echo "[host-setup] $*"; }

PKGS=(libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils libvirt-dev pkg-config gcc
      python3-dev python3-venv dnsmasq-base iproute2 ovmf openssh-client chromium
      swtpm swtpm-tools   # create-vm tpm: true (libvirt runs swtpm, an emulated TPM 2.0, beside QEMU)
      curl jq   # curl + jq: the README's curl sessions (the VM session polls tasks with jq)
      e2fsprogs  # debugfs: tests/host/test_rebuild_template_host.py writes a file into a copy of the guest image
      prometheus   # a real Prometheus server scrapes JVP's /metrics in tests/host/test_metrics_host.py
      libxml2-utils  # xmllint, which virt-xml-validate runs (tests/host/test_windows_xml_host.py)
      genisoimage)  # isoinfo: tests/unit/test_cloudinit.py reads the seed ISO with a reader other than pycdlib
# Node.js (>= 20.9 for Next 16) is handled by scripts/ensure-node.sh below: apt's is 18 on Debian 12.

need_install=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need_install+=("$p")
done
# Python headers/venv may come from a non-Debian python (pyenv): each is skipped only when python3 really
# has it. `import venv` succeeds on Debian without python3-venv while `python3 -m venv` then fails for lack
# of ensurepip, so ensurepip is what is checked.
drop=()
python3 -c 'import sysconfig, os; assert os.path.exists(sysconfig.get_paths()["include"] + "/Python.h")' \
  2>/dev/null && drop+=(python3-dev)
python3 -c 'import ensurepip, venv' 2>/dev/null && drop+=(python3-venv)
clean=()
for p in "${need_install[@]}"; do
  [ -n "$p" ] || continue
  for d in "${drop[@]}"; do [ "$p" = "$d" ] && continue 2; done
  clean+=("$p")
done
if [ "${#clean[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then echo "[host-setup] need root to install: ${clean[*]}" >&2; exit 1; fi
  log "installing: ${clean[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${clean[@]}" >/dev/null
fi

# Node >= 20.9 for the web build (own toolchain under /opt/jvp-node when the machine's node is older).
source "$(dirname "$0")/ensure-node.sh"
ensure_node

[ "$(id -u)" = 0 ] || { log "not root: skipping libvirtd set-up"; exit 0; }
[ -z "${JVP_SETUP_NO_DAEMONS:-}" ] || exit 0

# The qemu driver refuses to initialise until these exist, even when qemu.conf names root.
getent group kvm >/dev/null || groupadd -r kvm
getent passwd libvirt-qemu >/dev/null || useradd -r -g kvm -d /var/lib/libvirt -s /usr/sbin/nologin libvirt-qemu

set_conf() {  # file key value: replace or append `key = value`
  local f=$1 k=$2 v=$3
  if grep -qE "^\s*#?\s*${k}\s*=" "$f"; then
    sed -i -E "s|^\s*#?\s*${k}\s*=.*|${k} = ${v}|" "$f"
  else
    echo "${k} = ${v}" >> "$f"
  fi
}
QC=/etc/libvirt/qemu.conf
set_conf $QC user '"root"'
set_conf $QC group '"root"'
set_conf $QC security_driver '"none"'
set_conf $QC cgroup_controllers '[ ]'
# swtpm runs as QEMU does (root, no security driver); its state goes to /var/lib/libvirt/swtpm/<uuid>/ and
# its log to /var/log/swtpm/libvirt/qemu/. libvirtd reads these at start (a running one keeps its settings).
set_conf $QC swtpm_user '"root"'
set_conf $QC swtpm_group '"root"'
install -d -m 0711 /var/lib/libvirt/swtpm
install -d -m 0755 /var/log/swtpm/libvirt/qemu
LC=/etc/libvirt/libvirtd.conf
set_conf $LC listen_tls 0
set_conf $LC listen_tcp 1
set_conf $LC auth_tcp '"none"'
set_conf $LC listen_addr '"127.0.0.1"'

# Only daemons of this PID namespace count: the test bed's second libvirtd (tests/host/second_node.py) runs in
# a namespace of its own, and its processes are visible from here.
if ! pgrep --ns $$ --nslist pid -x virtlogd >/dev/null; then log "starting virtlogd"; virtlogd -d; fi
if ! pgrep --ns $$ --nslist pid -x libvirtd >/dev/null; then
  log "starting libvirtd --listen"
  libvirtd -d --listen
fi
for i in $(seq 1 50); do
  virsh -c qemu:///system version >/dev/null 2>&1 && break
  sleep 0.2
done
virsh -c qemu:///system version >/dev/null 2>&1 || { log "libvirtd does not answer on qemu:///system"; exit 1; }
virsh -c qemu+tcp://127.0.0.1/system version >/dev/null 2>&1 || log "warning: qemu+tcp://127.0.0.1/system does not answer"
log "libvirtd ready"
