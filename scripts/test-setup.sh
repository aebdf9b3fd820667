#!/usr/bin/env bash
# System parts the tests need, installed when missing (CI machines start bare; we are root there).
set -euo pipefail
need=()
command -v /usr/bin/chromium >/dev/null 2>&1 || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "test-setup: installing ${need[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "test-setup: missing ${need[*]}; the tests that need them will be skipped" >&2
  fi
fi

# --- PostgreSQL (issue 6): the server binaries for the throwaway test cluster -----------------
# tests/postgres_server.py runs initdb + pg_ctl from /usr/lib/postgresql/*/bin in a temporary
# directory (as the `postgres` user when we are root); nothing here starts a system service.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "test-setup: installing postgresql"
    if ! apt-cache policy postgresql 2>/dev/null | grep -q 'Candidate: [0-9]'; then
      apt-get update -qq >/dev/null
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql </dev/null >/dev/null \
      || { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql </dev/null >/dev/null; }
  elif [ "${CI:-}" = true ]; then
    echo "test-setup: PostgreSQL is missing and CI=true: install it (apt-get install postgresql)" >&2
    exit 1
  else
    echo "test-setup: PostgreSQL is missing; the PostgreSQL tests will be skipped" >&2
  fi
fi
