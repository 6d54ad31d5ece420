# The retained <base>/diag message: what a user (or a support question) needs to know about a
# reader at a glance. Loaded for each report (once a minute and when the meter's condition
# changes) and dropped again (app._RARE_MODULES).
import gc
import json

from clock import ticks_diff, ticks_ms


def publish(app):
    gc.collect()  # so mem_free says what is really left
    diag = {
        "version": app.ctx.sw_version,
        "board": app.board.NAME,
        "uptime_s": ticks_diff(ticks_ms(), app.started_ms) // 1000,
        "reset_cause": app.board.reset_cause(),
        "mem_free": gc.mem_free(),
        "mqtt_connects": app.link.connects,
        "outbox_dropped": app.link.outbox_dropped,
        "inbox_refused": app.link.inbox_refused,
        "announce_retries": app.announce_retries,
        "safe_mode": app.safe_mode,
        "condition": app.condition,
    }
    if app.source is not None:
        diag["source"] = app.source.diagnostics()
    if app.last_crash:
        diag["last_crash"] = app.last_crash
    app.link.publish(app.base + "/diag", json.dumps(diag).encode(), True)
