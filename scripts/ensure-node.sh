#!/usr/bin/env bash
# Node.js for the web build: Next 16 needs Node >= 20.9, Debian 12's apt has 18. Sourced by host-setup.sh;
# also runnable alone (`bash scripts/ensure-node.sh`).
#
# When the machine's node is missing or older, JVP gets its own toolchain from the npm registry (apt and
# the npm registry are the only sources it assumes reachable; nodejs.org and NodeSource are not needed):
# apt's nodejs + npm bootstrap `npm install --prefix $JVP_NODE_PREFIX node-linux-<arch>@20 npm@10`, whose
# node_modules/.bin (node, npm, npx) the Makefile puts first on PATH. A machine whose node is new enough
# is left alone.
set -euo pipefail

NODE_MIN=${NODE_MIN:-20.9.0}
JVP_NODE_PREFIX=${JVP_NODE_PREFIX:-/opt/jvp-node}
JVP_NODE_BIN="$JVP_NODE_PREFIX/node_modules/.bin"

# node_version_ok VERSION: true when VERSION (with or without a leading v) is at least NODE_MIN.
node_version_ok() {
  local v=${1#v}
  [[ $v =~ ^[0-9]+(\.[0-9]+)*$ ]] || return 1
  [ "$(printf '%s\n%s\n' "$NODE_MIN" "$v" | sort -V | head -n1)" = "$NODE_MIN" ]
}

# node_ok DIR_OR_EMPTY: the node (and npm) found first on PATH, with DIR prepended, is new enough.
node_ok() {
  local path=${1:+$1:}$PATH
  local v
  v=$(PATH=$path node --version 2>/dev/null) || return 1
  node_version_ok "$v" && PATH=$path command -v npm >/dev/null
}

# node_arch: the node-linux-* package for this machine.
node_arch() {
  case "$(uname -m)" in
    x86_64|amd64) echo x64 ;;
    aarch64|arm64) echo arm64 ;;
    *) echo "unsupported-$(uname -m)" ;;
  esac
}

ensure_node() {
  if node_ok "$JVP_NODE_BIN"; then
    echo "[host-setup] node $(PATH=$JVP_NODE_BIN:$PATH node --version) ok for the web build"
    return 0
  fi
  local arch
  arch=$(node_arch)
  case "$arch" in unsupported-*) echo "[host-setup] no Node >= $NODE_MIN for $(uname -m)" >&2; return 1 ;; esac
  if [ "$(id -u)" != 0 ]; then
    echo "[host-setup] need root to install Node >= $NODE_MIN into $JVP_NODE_PREFIX" >&2
    return 1
  fi
  if ! command -v npm >/dev/null; then
    echo "[host-setup] installing apt's nodejs + npm to bootstrap Node >= $NODE_MIN"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
  fi
  echo "[host-setup] installing node-linux-$arch@20 and npm@10 into $JVP_NODE_PREFIX (the machine's node is older than $NODE_MIN)"
  mkdir -p "$JVP_NODE_PREFIX"
  npm install --prefix "$JVP_NODE_PREFIX" --no-audit --no-fund --loglevel=error \
      "node-linux-$arch@20" "npm@10" >/dev/null
  node_ok "$JVP_NODE_BIN" || { echo "[host-setup] $JVP_NODE_BIN/node is not >= $NODE_MIN" >&2; return 1; }
  echo "[host-setup] node $("$JVP_NODE_BIN/node" --version) in $JVP_NODE_BIN"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  ensure_node
fi
