# Commands on <prefix>/<id>/cmd, answered on <prefix>/<id>/cmd/result with the same convention
# as config changes: {"ok": true, "cmd": ..., ...} or {"ok": false, "error": "..."}.
# A request may carry an "id"; the answer repeats it so a tool can match the two.
#
#   {"cmd": "reboot"}
#   {"cmd": "identify", "seconds": 10}
#   {"cmd": "announce"}                                   re-send Home Assistant discovery
#   {"cmd": "calibrate", "channel": "CT1", "voltage": 231.4}   or "current": 5.02 (amperes)
#   {"cmd": "reset_energy", "confirm": "reset_energy"}   zero the ATM90E32 lifetime counters
#
# A command that fails changes nothing: a calibration is applied only once its gains are saved,
# reset_energy zeroes the counters only once the zeros are saved; a flash error is named in
# words ("flash full", "read-only"). A calibration that would move the gain by more than
# ±20 % (a wrong reference: a tenfold slip, another phase's reading) is refused unless the
# request says "force": true.
import json

import config_change
import config_schema
import config_store
import flash_error
import log
from micropython import const

_MAX_COMMAND_BYTES = const(512)
_CALIBRATION_MAX_CHANGE = 0.2  # beyond ±20 % of the gain in force, calibrate needs "force"
NAMES = ("reboot", "identify", "announce", "calibrate", "reset_energy")


def _parse(payload):
    if not payload:
        return None, "empty command"
    if len(payload) > _MAX_COMMAND_BYTES:
        return None, "command too large: %d bytes (limit %d)" % (len(payload), _MAX_COMMAND_BYTES)
    try:
        request = json.loads(payload)
    except ValueError:
        return None, "command is not valid JSON"
    if type(request) is not dict:
        return None, "command must be a JSON object"
    if request.get("cmd") not in NAMES:
        # the request is returned too, so the refusal can repeat its "id"
        return request, "unknown command %s; known: %s" % (
            json.dumps(request.get("cmd")), ", ".join(NAMES))
    return request, None


def _number(request, key, low, high):
    value = request.get(key)
    if type(value) not in (int, float) or not low <= value <= high:
        raise ValueError("%s must be a number from %s to %s" % (key, low, high))
    return value


def handle(app, payload, retained=False):
    topic = app.base + "/cmd/result"
    if retained:
        _ignore_retained(app, topic, payload)
        return
    body, error = config_change.verify_signature(app, payload)
    request = None
    if not error:
        request, error = _parse(body)
    if error:
        log.warning("cmd: refused: %s", error)
        refusal = {"ok": False, "error": error}
        if request is not None and "id" in request:
            refusal["id"] = request["id"]
        app.reply(topic, refusal)
        return
    name = request["cmd"]
    result = {"ok": True, "cmd": name}
    if "id" in request:
        result["id"] = request["id"]
    try:
        reset = _run(app, name, request, result)
    except Exception as e:  # a command must never take the reader down: answer instead
        log.error("cmd: %s failed: %s", name, e)
        result = {"ok": False, "cmd": name, "error": "%s: %s" % (type(e).__name__, e)
                  if not isinstance(e, (ValueError, OSError)) else str(e)}
        if "id" in request:
            result["id"] = request["id"]
        reset = False
    app.reply(topic, result)
    if reset:
        app.request_reset("reboot command")


def _ignore_retained(app, topic, payload):
    """A retained command is one the broker kept and replays at every (re)connect (MQTT 3.1.1
    §3.3.1.3): run, a retained reboot would reset the board forever. Said on cmd/result and
    notice, signed or not (its signature would only prove an old message genuine)."""
    note = ("retained command on %s ignored: commands act only on fresh messages; clear it"
            " with an empty retained message" % (app.base + "/cmd"))
    log.warning("cmd: %s", note)
    refusal = {"ok": False, "error": note}
    request, _ = _parse(payload)  # for its name and "id", when it has them (unsigned)
    if request is not None:
        if request.get("cmd") in NAMES:
            refusal["cmd"] = request["cmd"]
        if "id" in request:
            refusal["id"] = request["id"]
    app.reply(topic, refusal)
    app.link.publish(app.base + "/notice", note.encode())


def _run(app, name, request, result):
    if name == "reboot":
        return True
    if name == "identify":
        seconds = int(_number(request, "seconds", 1, 300)) if "seconds" in request else 10
        app.board.identify(seconds)
    elif name == "announce":
        if app.last_publish_ms is None:
            raise ValueError("announce: no reading yet to announce sensors for")
        if not app.prune_announcements():
            raise OSError("announce: the link went down while announcing")
    elif name == "calibrate":
        _calibrate(app, request, result)
    elif name == "reset_energy":
        if request.get("confirm") != "reset_energy":
            raise ValueError('reset_energy needs "confirm": "reset_energy"')
        if app.config["source"] != "atm90e32":
            raise ValueError("reset_energy: a HAN meter's registers belong to the meter")
        if app.energy is None:
            raise ValueError("reset_energy: the meter source is not running (safe mode)")
        try:
            app.energy.reset()
        except OSError as e:
            raise ValueError("reset_energy: the counters could not be saved (%s); nothing "
                             "changed" % flash_error.describe(e)) from None
    return False


def _calibrate(app, request, result):
    if app.config["source"] != "atm90e32" or app.source is None:
        raise ValueError("calibrate: only the ATM90E32 source can be calibrated")
    channel = request.get("channel")
    if type(channel) is not str:
        raise ValueError('calibrate needs "channel", e.g. "CT1"')
    force = request.get("force", False)
    if type(force) is not bool:
        raise ValueError('calibrate: "force" must be true or false')
    # Measured only: the gains are applied once they are saved, so a calibration that cannot
    # be saved changes nothing. The source checks the reference (one of the two, a number in
    # the chip's range).
    gains = app.source.calibrate(channel, voltage=request.get("voltage"),
                                 current=request.get("current"), write=False,
                                 max_change=None if force else _CALIBRATION_MAX_CHANGE)
    # Persist the new gains through the schema, like any other config change: every channel the
    # calibration changed (a voltage gain applies to all CTs on the same voltage input).
    changed = app.source.last_calibration or {channel.lower(): gains}
    change = json.dumps({"atm90e32": changed}).encode()
    outcome, new_config = config_schema.apply_change(config_change.full_config(app), change)
    if not outcome["ok"]:
        raise ValueError("calibrate: new gains refused: %s" % outcome["error"])
    try:
        config_store.save(new_config)
    except OSError as e:
        raise ValueError("calibrate: the new gains could not be saved (%s); nothing changed"
                         % flash_error.describe(e)) from None
    app.use_config(new_config)
    app.apply_changes(outcome["changed"])  # rebuilds the chip with the new gains
    config_change.publish_config(app, new_config)
    result["channel"] = channel
    result.update(gains)
