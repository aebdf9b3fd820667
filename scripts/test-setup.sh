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
