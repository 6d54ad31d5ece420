# WiFi station bring-up shared by the board modules (network.WLAN, STA interface).
#
# up() is called from the main loop on every turn, so it must be cheap when connected and never
# block long when not: it starts a connection at most once per _RETRY_MS and waits at most
# timeout_ms for it. On the ESP8266 the SDK stores the station credentials in flash on every
# connect(ssid, password) and reconnects by itself at boot, so when the stored SSID is the
# configured one the stored credentials are tried first, and the configured ones are written at
# most once per boot (a changed password), never on every retry of a board far from its AP.
import sys
import time

import network
from micropython import const

_RETRY_MS = const(15000)  # a connect attempt in progress is not restarted before this
_POLL_MS = const(50)

_wlan = None
_attempt_ms = None  # ticks of the last connect() we issued
_written = False  # ESP8266: credentials given to connect() (and so to flash) this boot


def _station():
    global _wlan
    if _wlan is None:
        _wlan = network.WLAN(network.STA_IF)
        if sys.platform == "esp8266":
            # The ESP8266 starts its own access point by default: off, it costs RAM and is an
            # open door.
            network.WLAN(network.AP_IF).active(False)
        _wlan.active(True)
    return _wlan


def up(ssid, password, timeout_ms):
    """True when the station is connected; starts or waits for a connection otherwise."""
    global _attempt_ms, _written
    if not ssid:
        return False  # no WiFi configured
    wlan = _station()
    if wlan.isconnected():
        return True
    now = time.ticks_ms()
    if _attempt_ms is None or time.ticks_diff(now, _attempt_ms) >= _RETRY_MS:
        first = _attempt_ms is None
        _attempt_ms = now
        if sys.platform != "esp8266":
            wlan.connect(ssid, password)
        elif wlan.config("ssid") != ssid or not (first or _written):
            wlan.connect(ssid, password)
            _written = True
        elif wlan.status() != network.STAT_CONNECTING:
            wlan.connect()  # the stored credentials: no flash write
    deadline = time.ticks_add(now, timeout_ms)
    while not wlan.isconnected() and time.ticks_diff(deadline, time.ticks_ms()) > 0:
        time.sleep_ms(_POLL_MS)
    return wlan.isconnected()
