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

# --- Strands Agents (issue 13): strands-agents pins mcp<2.2, the `mcp` extra needs mcp>=2.3 -------
# pip cannot install both from one requirement set, so strands goes in without its dependencies
# (it imports mcp only for its MCP client, which signoff.integrations.strands does not use), then
# its other requirements (all of its Requires-Dist but mcp), held to the versions already installed
# (-c: nothing installed moves). ~5 s on a fresh venv, nothing when strands is already there.
STRANDS_VERSION=1.62.0
if ! .venv/bin/python -c "import strands.interventions" >/dev/null 2>&1; then
  echo "test-setup: installing strands-agents==${STRANDS_VERSION} (--no-deps; keeps mcp>=2.3)"
  constraints="$(mktemp)"
  # OpenTelemetry moves in lockstep (sdk and semantic-conventions pin the api exactly): its packages are
  # left out of the constraints and the threading instrumentation is matched to what is installed.
  .venv/bin/python -m pip freeze --exclude-editable | grep -v ' @ ' | grep -v '^opentelemetry-' >"$constraints" || true
  otel_threading="opentelemetry-instrumentation-threading>=0.51b0,<1.00b0"
  semconv="$(.venv/bin/python -c 'from importlib.metadata import version as v
print(v("opentelemetry-semantic-conventions"))' 2>/dev/null || true)"
  if [ -n "$semconv" ]; then otel_threading="opentelemetry-instrumentation-threading==${semconv}"; fi
  if ! { .venv/bin/python -m pip install --quiet --no-deps "strands-agents==${STRANDS_VERSION}" &&
         .venv/bin/python -m pip install --quiet -c "$constraints" "$otel_threading" \
           "opentelemetry-api>=1.30.0,<2.0.0" "opentelemetry-sdk>=1.30.0,<2.0.0" "boto3>=1.26.0,<2.0.0" \
           "botocore>=1.29.0,<2.0.0" "docstring-parser>=0.15,<1.0" "jsonschema>=4.0.0,<5.0.0" \
           "watchdog>=6.0.0,<7.0.0" "typing-extensions>=4.13.2,<5.0.0" "httpx>=0.28.1,<1.0.0" \
           "pydantic>=2.4.0,<3.0.0" "pyyaml>=6.0.0,<7.0.0"; }; then
    rm -f "$constraints"
    if [ "${CI:-}" = true ]; then
      echo "test-setup: installing strands-agents failed and CI=true" >&2
      exit 1
    fi
    echo "test-setup: strands-agents could not be installed; the Strands tests will be skipped" >&2
  fi
  rm -f "$constraints"
fi

# --- OIDC (issue 16): a real OpenID Provider (npm oidc-provider) for tests/ui/test_oidc_browser.py -------
# Installed into the tests' own directory from its package-lock.json (~2 s); nothing global.
if [ ! -d tests/ui/oidc_provider/node_modules/oidc-provider ]; then
  if command -v npm >/dev/null 2>&1; then
    echo "test-setup: installing the test OIDC provider (npm ci in tests/ui/oidc_provider)"
    (cd tests/ui/oidc_provider && npm ci --no-audit --no-fund --silent </dev/null) \
      || { [ "${CI:-}" = true ] && { echo "test-setup: npm ci failed and CI=true" >&2; exit 1; }; \
           echo "test-setup: the test OIDC provider could not be installed; the OIDC tests install it or skip" >&2; }
  else
    echo "test-setup: npm is missing; the OIDC browser tests will be skipped" >&2
  fi
fi
