#!/usr/bin/env bash
# Makes PostgreSQL's server binaries available for the store tests (tests/postgres.py starts its
# own throwaway server per test session, on a free loopback port; nothing system-wide is started).
# Installs Debian's postgresql only when no initdb/pg_ctl exists yet. Prints the binaries' directory
# and exports CHORUS_PG_BIN when sourced.
set -euo pipefail

find_pg_bin() {
  if [ -n "${CHORUS_PG_BIN:-}" ] && [ -x "$CHORUS_PG_BIN/initdb" ]; then echo "$CHORUS_PG_BIN"; return 0; fi
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n -r); do
    if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then echo "$dir"; return 0; fi
  done
  if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then dirname "$(command -v initdb)"; return 0; fi
  return 1
}

if ! pg_bin=$(find_pg_bin); then
  if command -v apt-get >/dev/null; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    # policy-rc.d keeps Debian from starting its own cluster in containers; we never use it.
    $SUDO apt-get install -y -qq postgresql >/dev/null
  else
    echo "postgres.sh: no PostgreSQL binaries and no apt-get; install PostgreSQL 13+ and set CHORUS_PG_BIN" >&2
    exit 1
  fi
  pg_bin=$(find_pg_bin) || { echo "postgres.sh: postgresql installed but initdb/pg_ctl not found" >&2; exit 1; }
fi

if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
  echo "postgres.sh: running as root needs a 'postgres' user (Debian's package creates it)" >&2
  exit 1
fi

export CHORUS_PG_BIN="$pg_bin"
"$pg_bin/postgres" --version
echo "CHORUS_PG_BIN=$pg_bin"
