#!/usr/bin/env bash
# Installs what tests/test_agent_clis.py runs for real: the five agent CLIs from npm (pinned to the
# versions their profiles in orchestration/providers/agents/profiles.py were checked against) and a
# LiteLLM proxy in a venv of its own (its `proxy` extra pins mcp<2, which Chorus's venv cannot have).
# Both installs run at once. Prints CHORUS_AGENT_BIN=... (the npm .bin folder) and
# CHORUS_LITELLM=... (the proxy's executable); .ci/run evaluates those two lines.
# CHORUS_AGENTS_DIR chooses the folder (default: .ci-agents in the repository).
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${CHORUS_AGENTS_DIR:-$PWD/.ci-agents}"
mkdir -p "$dir"
started=$SECONDS

PACKAGES=(
  "@anthropic-ai/claude-code@2.1.197"
  "@openai/codex@0.171.0"
  "@google/gemini-cli@0.61.0"
  "@github/copilot@1.0.102"
  "@vibe-kit/grok-cli@0.0.34"
)

install_clis() {
  # npm does not run the packages' install scripts here (none is needed to run headless).
  npm install --prefix "$dir/npm" --no-audit --no-fund --loglevel=error "${PACKAGES[@]}" >"$dir/npm.log" 2>&1
}

install_proxy() {
  if [ ! -x "$dir/litellm-venv/bin/litellm" ]; then
    python3 -m venv "$dir/litellm-venv"
  fi
  # Hash-locked like Chorus's own venv (litellm had malicious releases): requirements/proxy.lock.
  "$dir/litellm-venv/bin/python" -m pip install -q --disable-pip-version-check --require-hashes \
    -r requirements/proxy.lock >"$dir/pip.log" 2>&1
}

install_clis &
clis=$!
install_proxy &
proxy=$!
status=0
wait "$clis" || { echo "agents.sh: npm install failed:" >&2; tail -20 "$dir/npm.log" >&2; status=1; }
wait "$proxy" || { echo "agents.sh: the LiteLLM venv failed:" >&2; tail -20 "$dir/pip.log" >&2; status=1; }
[ "$status" = 0 ] || exit 1

bin="$dir/npm/node_modules/.bin"
for cli in claude codex gemini copilot grok; do
  if [ ! -x "$bin/$cli" ]; then echo "agents.sh: $cli was not installed" >&2; exit 1; fi
  printf '%s %s\n' "$cli" "$("$bin/$cli" --version 2>/dev/null | head -1)" >&2
done
echo "agents.sh: installed in $((SECONDS - started)) s" >&2
echo "CHORUS_AGENT_BIN=$bin"
echo "CHORUS_LITELLM=$dir/litellm-venv/bin/litellm"
