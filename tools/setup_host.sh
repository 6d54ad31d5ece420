#!/usr/bin/env bash
# `make setup`: idempotent host set-up. Fast when everything is already in place.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
PY=${PYTHON:-python3}

# 1. Debian packages: Mosquitto (the tests' and the sim's broker) and socat (virtual boards).
missing=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto mosquitto-clients)
command -v socat >/dev/null 2>&1 || missing+=(socat)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing ${missing[*]} from Debian"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup: missing ${missing[*]}; run: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

# 2. The virtualenv with pinned host tools; reinstalled only when requirements-dev.txt changes.
req_hash=$(sha256sum requirements-dev.txt | cut -d' ' -f1)
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$VENV/.requirements-sha256" 2>/dev/null)" != "$req_hash" ]; then
  echo "setup: creating $VENV"
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r requirements-dev.txt 2>&1 \
    | grep -v "^WARNING: Location" || true
  "$VENV/bin/python" -c "import pytest, hypothesis, paho.mqtt, jinja2" \
    || { echo "setup: pip install failed" >&2; exit 1; }
  echo "$req_hash" > "$VENV/.requirements-sha256"
fi

# 3. umqtt.simple for the unix port (pinned and hash-checked; never committed).
"$VENV/bin/python" tools/fetch_umqtt.py --dest .deps >/dev/null

# 4. MicroPython type stubs, one folder per port (their modules differ: no `esp32` on esp8266).
for port in esp32 esp8266 rp2; do
  stub_req="micropython-${port}-stubs==1.29.0.post1"
  [ "$port" = rp2 ] && stub_req="micropython-rp2-rpi-pico-w-stubs==1.29.0.post1"
  if [ "$(cat ".typings/$port/.pinned" 2>/dev/null)" != "$stub_req" ]; then
    rm -rf ".typings/$port"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps --target ".typings/$port" \
      "$stub_req" "micropython-stdlib-stubs==1.29.0.post2" 2>&1 | grep -v "^WARNING: Location" || true
    echo "$stub_req" > ".typings/$port/.pinned"
  fi
done

# 5. The dashboard's MQTT.js bundle (npm, pinned by its lock file) and Chromium for its test.
bash tools/dashboard/setup.sh
