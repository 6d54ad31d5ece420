#!/usr/bin/env bash
# The dashboard's host set-up, called by `make setup` (tools/setup_host.sh). Idempotent and fast
# when everything is in place:
#  - MQTT.js, the exact version pinned in package.json / package-lock.json, into node_modules/
#    (git-ignored; the page loads node_modules/mqtt/dist/mqtt.min.js by a relative path);
#  - Debian's chromium for the dashboard test (installed when running as root; otherwise the
#    one apt-get line is printed and the test skips).
set -euo pipefail
cd "$(dirname "$0")"

# 1. MQTT.js: reinstalled only when the lock file changed since the last install.
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
stamp=node_modules/.package-lock.sha256
if [ ! -f node_modules/mqtt/dist/mqtt.min.js ] || [ "$(cat "$stamp" 2>/dev/null)" != "$lock_hash" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "dashboard setup: installing npm from Debian"
      apt-get update -qq >/dev/null
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null
    else
      echo "dashboard setup: npm is missing; run: sudo apt-get update && sudo apt-get install -y npm" >&2
      exit 1
    fi
  fi
  echo "dashboard setup: installing MQTT.js from package-lock.json"
  # --ignore-scripts: only the prebuilt browser bundle is used, no install scripts run.
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null
  [ -f node_modules/mqtt/dist/mqtt.min.js ] \
    || { echo "dashboard setup: npm ci did not produce mqtt/dist/mqtt.min.js" >&2; exit 1; }
  echo "$lock_hash" > "$stamp"
fi

# 2. Chromium for host_tests/test_dashboard.py.
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "dashboard setup: installing chromium from Debian"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "dashboard setup: chromium is missing (the dashboard test skips); run:" \
         "sudo apt-get update && sudo apt-get install -y chromium" >&2
  fi
fi
