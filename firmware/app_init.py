# The App's attributes and their values at boot (app.App.__init__). Runs once per start: kept
# out of app.py so that a board loading .mpy files into RAM does not hold this code while the
# firmware runs (app._RARE_MODULES).
import storage
from micropython import const

_WATCHDOG_MS = const(30000)
_METER_QUIET_MS = const(30000)  # meters push every 1-10 s (docs/han.md §2.3)
_VICTRON_KEEPALIVE_MS = const(30000)  # half of dbus-mqtt-grid's 60 s silence timeout
_TRIAL_MS = const(90000)  # how long a connectivity change may take to reach the broker
# (a board may set TRIAL_MS: the sim board shortens it for tests)
HA_KEYS_FILE = "ha_keys"  # HA sensors announced so far: "<source>\n<key-set string>"
GRID_PHASES_FILE = "grid_phases"  # a HAN meter's phase count, for the Victron format


def init(app, board, config, notices, safe_mode, version):
    from clock import ticks_ms

    app.board = board
    app.safe_mode = safe_mode
    app.config = config
    app.notices = notices  # said on MQTT once connected (config fallbacks, rollbacks, ...)
    app.running = True
    app.reset_requested = False
    import publish_context  # a rare module too: the context keeps none of its code

    app.ctx = publish_context.build(config, board, version)
    app.base = app.ctx.base
    app.wdt = board.watchdog(_WATCHDOG_MS)
    app.started_ms = ticks_ms()
    app.last_publish_ms = None
    app.published = 0
    app.last_victron_ms = ticks_ms()
    app.victron_keepalive_ms = getattr(board, "VICTRON_KEEPALIVE_MS", _VICTRON_KEEPALIVE_MS)
    app.last_diag_ms = ticks_ms()
    app.trial_deadline_ms = None
    # Home Assistant: the sensors announced so far (a key-set string, kept in flash after
    # the meter source that announced them; startup.py splits the two and sets stale_keys
    # only when another source's are to be removed), and whether they were announced on
    # this connection
    app.announced_keys = storage.read_text(HA_KEYS_FILE) or ""
    app.session_announced = False
    app.announce_retries = 0  # discoveries put off for want of memory (diag)
    app._seen_channels = None  # the reading's channel list the masks below describe
    app._seen_masks = None  # per value seen so far: bit masks, totals then channels
    # the grid's phase count (ctx.grid_phases, for the Victron format): a HAN meter's from
    # flash until a push shows it again, so the first Victron message after a reboot
    # carries every phase even when the meter's first push is a short list
    app.grid_phases = saved_phase_count() if config.get("source") == "han" else None
    app.healthy = False
    app.condition = None  # the source's last reported condition ("ok", "silent", ...)
    app.last_condition_ms = ticks_ms()
    # how long without a decodable push before the meter counts as silent (boards may
    # shorten it: the sim board does for tests)
    app.meter_quiet_ms = getattr(board, "METER_QUIET_MS", _METER_QUIET_MS)
    app.trial_ms = getattr(board, "TRIAL_MS", _TRIAL_MS)
    app.rollback_report = None  # said on config/result once back online after a rollback
    app.source = None  # set by startup.start(), left None in safe mode
    app.reading = None
    app.energy = None
    app.last_crash = None  # crash_log.last() at boot, for diag


def saved_phase_count():
    """The phase count kept in flash (0..3), or None."""
    text = storage.read_text(GRID_PHASES_FILE)
    if text and text.isdigit() and int(text) <= 3:
        return int(text)
    return None
