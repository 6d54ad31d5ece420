# The firmware: picks the board from the config, reads the meter, publishes, takes new settings.
#
# One loop, no threads: feed the watchdog (only here, so a hung loop resets the board), keep the
# network and the MQTT link up, poll the meter source, publish a reading when one is due, and
# handle at most a few incoming messages per turn. Every failure below is handled where it
# happens and the loop goes on; only an unexpected exception ends it, and main() records the
# reason and resets the board (boot-loop protection then decides on safe mode).
import gc
import json
import sys

import log
import storage
from clock import ticks_diff, ticks_ms, unix_time
from micropython import const
from outputs import reading_messages

VERSION = "0.1.0"

_LOOP_SLEEP_MS = const(20)
_DIAG_INTERVAL_MS = const(60000)
_CONFIG_PUBLIC = "config.pub"  # config_change.PUBLIC_FILE
_MAINTENANCE_FILE = "maintenance"  # next boot: do not start the firmware (see main())
_HEALTHY_MS = const(120000)  # up this long: earlier crashes no longer count (crash_log.py)


# Code that runs rarely (config changes, commands, signing, HA discovery) is imported when needed
# and dropped again, so it does not hold heap in the steady state (the ESP8266 has about 36 KB in
# all).
_RARE_MODULES = ("startup", "link_events", "mqtt_connect", "mqtt_receive", "crash_log",
                 "config_change", "config_schema", "config_store", "commands", "signing",
                 "home_assistant", "ha_removals", "channels", "strict_json", "flash_error",
                 "publish_context", "diagnostics", "shutdown", "app_init",
                 "config_saved", "energy_restore", "app_change")


def _drop_rare_modules():
    for name in _RARE_MODULES:
        if name in sys.modules:
            del sys.modules[name]
    gc.collect()


def _presence(obj, scope):
    """Bit i set when obj has a value for the i-th quantity (quantities.QUANTITIES) of `scope`."""
    from quantities import QUANTITIES

    mask = 0
    bit = 1
    for _key, attr, _unit, in_scope, _cls, _dec, _tbit, _cbit, _ct6, _grid in QUANTITIES:
        if in_scope & scope:
            if getattr(obj, attr, None) is not None:
                mask |= bit
            bit <<= 1
    return mask


class App:
    def __init__(self, board, config, notices, safe_mode=False):
        import app_init  # the attributes, with why each is there

        app_init.init(self, board, config, notices, safe_mode, VERSION)

    # -- set-up ---------------------------------------------------------------------------------

    def build_link(self):
        import link_events

        link_events.build_link(self)

    def _on_connect(self):
        import link_events

        link_events.on_connect(self)
        _drop_rare_modules()

    def publish_public_config(self):
        """The redacted config (config_change.PUBLIC_FILE, kept by every change) streamed from
        flash, retained on <base>/config; False when there is no such file."""
        if not storage.exists(_CONFIG_PUBLIC):
            return False
        self.link.publish_pieces(self.base + "/config", lambda: storage.chunks(_CONFIG_PUBLIC),
                                 True)
        return True

    # -- the loop -------------------------------------------------------------------------------

    def run(self):
        import time

        log.info("app: %s on board %s, source %s, topics under %s", VERSION, self.board.NAME,
                 self.config["source"], self.base)
        while self.running:
            self.step()
            if hasattr(time, "sleep_ms"):
                time.sleep_ms(_LOOP_SLEEP_MS)
            else:
                time.sleep(_LOOP_SLEEP_MS / 1000)

    def step(self):
        self.wdt.feed()
        now = ticks_ms()
        if self.board.network_up(self.config):
            self.link.service()
        if self.trial_deadline_ms is not None and ticks_diff(now, self.trial_deadline_ms) >= 0:
            import app_change

            app_change.end_trial(self, False)  # the broker was not reached: roll back
            _drop_rare_modules()
        while self.link.inbox:
            import link_events  # incoming messages are rare: their code is loaded for them

            topic, payload, retained = self.link.inbox.pop(0)
            link_events.handle_message(self, topic, payload, retained)
            del link_events
            _drop_rare_modules()
        if self.source is not None and self._poll_source(now):
            self.publish_reading()
        if self.source is not None and self.ctx.victron_enabled \
                and self.last_publish_ms is not None \
                and ticks_diff(now, self.last_victron_ms) >= self.victron_keepalive_ms:
            self._victron_keepalive(now)
        if self.source is not None and ticks_diff(now, self.last_condition_ms) >= 1000:
            self._check_condition(now)
        if ticks_diff(now, self.last_diag_ms) >= _DIAG_INTERVAL_MS:
            self.publish_diag()
        if self.energy is not None:
            self.energy.maybe_save(now)
        if not self.healthy and ticks_diff(now, self.started_ms) >= _HEALTHY_MS:
            self.healthy = True
            import crash_log

            crash_log.healthy()
            _drop_rare_modules()

    def _check_condition(self, now):
        """Report a change of the meter's condition (silent line, undecodable data, chip
        error, back to ok) at once, not only with the next periodic diag."""
        self.last_condition_ms = now
        condition = self.source.condition(self.meter_quiet_ms)
        if condition == self.condition:
            return
        if condition != "ok":
            log.warning("meter: %s -> %s", self.condition, condition)
        elif self.condition not in (None, "starting"):
            log.info("meter: %s -> ok", self.condition)
        self.condition = condition
        if self.link.connected:
            self.publish_diag()

    def _victron_keepalive(self, now):
        """dbus-mqtt-grid drops the grid meter after 60 s without a message: between slower
        publishes, send the Victron payload alone from a fresh reading."""
        import victron

        self.last_victron_ms = now
        if self.config["source"] == "atm90e32" and not self.source.read():
            return
        if self.link.connected:
            for topic, payload, retain in victron.messages(self.reading, self.ctx):
                self.link.publish(topic, payload, retain)

    def _poll_source(self, now):
        """True when a reading is due for publishing. Both sources' poll() mean the same: True
        when it brought a fresh reading (a HAN push; an ATM90E32 read cycle at its interval,
        publish_interval_s, which reads the chips once for it)."""
        if not self.source.poll():
            return False
        if self.config["source"] != "han":
            return True
        min_ms = self.config["han"]["min_interval_s"] * 1000
        return self.last_publish_ms is None or ticks_diff(now, self.last_publish_ms) >= min_ms

    # -- publishing -----------------------------------------------------------------------------

    def publish_reading(self):
        self.last_publish_ms = ticks_ms()
        self.published += 1
        self.reading.seq = self.published
        self.reading.timestamp = unix_time()
        fresh = self._new_values_seen()
        if self.ctx.victron_enabled:
            self._learn_grid_phases()
        if self.link.connected and self.ctx.ha_enabled and (fresh or not self.session_announced):
            try:
                self.announce()
            except MemoryError:
                # Discovery is worth a retry, not a reset: the heap may be too fragmented for
                # its code at this moment. The reading goes out now; the announcement is not
                # marked done, so the next reading tries again.
                self.session_announced = False
                self.announce_retries += 1
                log.warning("ha: no room for discovery now; trying again with the next reading")
            _drop_rare_modules()
        state_topic = self.ctx.state_topic
        for topic, payload, retain in reading_messages(self.reading, self.ctx):
            if topic == state_topic:
                # The state must survive a short outage: outbox, QoS 1.
                self.link.queue(topic, payload, retain)
            elif self.link.connected:
                # The other formats are momentary views of the same reading: sent when the
                # link is up, not queued.
                self.link.publish(topic, payload, retain)
                if topic == self.ctx.victron_topic:
                    self.last_victron_ms = self.last_publish_ms

    def announce(self):
        """Home Assistant discovery of the sensors seen so far (link_events.announce)."""
        import link_events

        link_events.announce(self)

    def _learn_grid_phases(self):
        """Sets ctx.grid_phases once the phase count (of the source's reading.grid) is known: a
        HAN meter's from its first push with a per-phase value, kept in flash (it may grow, never
        shrink); an ATM90E32 board's from its "grid" channels, known at once."""
        count = len(self.reading.grid)
        if self.reading.source == "han":
            if count and (self.grid_phases is None or count > self.grid_phases):
                self.grid_phases = count
                try:
                    from app_init import GRID_PHASES_FILE

                    storage.write_atomic(GRID_PHASES_FILE, str(count))
                except OSError as e:  # flash full: learnt again from the next full push
                    log.error("victron: cannot save the phase count: %s", e)
        else:
            self.grid_phases = count
        self.ctx.grid_phases = self.grid_phases

    def _new_values_seen(self):
        """True when the reading has a value (or channel) no earlier reading had: only then can
        Home Assistant discovery have something new to announce. Bit masks per channel, so the
        discovery code needs loading only on those rare readings, not on every one."""
        from quantities import S_CHANNEL, S_TOTAL

        reading = self.reading
        fresh = False
        if self._seen_channels is not reading.channels:
            self._seen_channels = reading.channels
            self._seen_masks = [0] * (len(reading.channels) + 1)
            fresh = True
        masks = self._seen_masks
        mask = _presence(reading, S_TOTAL)
        if mask & ~masks[0]:
            masks[0] |= mask
            fresh = True
        index = 1
        for channel in reading.channels:
            mask = _presence(channel, S_CHANNEL)
            if mask & ~masks[index]:
                masks[index] |= mask
                fresh = True
            index += 1
        return fresh

    def save_announced(self):
        try:
            from app_init import HA_KEYS_FILE

            storage.write_atomic(HA_KEYS_FILE,
                                 self.config["source"] + "\n" + self.announced_keys)
        except OSError as e:  # flash full: the worst case is announcing again after a reboot
            import flash_error

            log.error("ha: cannot save the announced sensors: %s", flash_error.describe(e))

    def publish_diag(self):
        """The retained <base>/diag (diagnostics.py, loaded for it: once a minute and on a
        change of the meter's condition)."""
        self.last_diag_ms = ticks_ms()
        try:
            import diagnostics

            diagnostics.publish(self)
        except MemoryError:  # a moment of fragmentation: the next one comes in a minute
            log.warning("diag: no room to report now")
        _drop_rare_modules()

    # -- incoming messages ----------------------------------------------------------------------

    def reply(self, topic, result):
        self.link.publish(topic, json.dumps(result).encode())

    # -- changes: config/set, commands and rollbacks change the App only through these ---------

    def use_config(self, config):
        """Put a validated, saved config in force (what it changes: apply_changes())."""
        import config_saved

        self.config = config_saved.in_ram(config)

    def apply_changes(self, changed, trial_ms=0):
        """Apply the dotted keys `changed` of the config in force: publish context, link,
        meter source, HA sensors; trial_ms: a connectivity change on trial (app_change.py)."""
        import app_change

        app_change.apply_changes(self, changed, trial_ms)

    def prune_announcements(self):
        """Remove the HA sensors no longer there, then announce; False if the link went down."""
        import app_change

        return app_change.prune_announcements(self)

    # -- shutdown -------------------------------------------------------------------------------

    def request_reset(self, reason):
        log.info("app: resetting: %s", reason)
        self.reset_requested = True
        self.running = False
        import crash_log

        crash_log.healthy()  # a deliberate reset is not a crash: it also leaves safe mode


def main():
    booted = [None, None]  # the board module, then the App: startup.start() fills them in
    crashed = None
    interrupted = False
    if storage.exists(_MAINTENANCE_FILE):
        storage.remove(_MAINTENANCE_FILE)
        print("maintenance mode: the firmware is not started (no watchdog); reset to start it")
        return
    try:
        import startup

        startup.start(booted, App, _drop_rare_modules)
        del startup  # main() runs for good: its locals must not keep the module alive
        _drop_rare_modules()  # the boot code, before the loop takes its share of the heap
        booted[1].run()
    except KeyboardInterrupt:
        interrupted = True  # logged by shutdown.finish(): a second interrupt may come anytime
    except Exception as e:  # anything unexpected: recorded by shutdown.finish(), then a reset
        crashed = e
    # The way down (shutdown.py) is loaded only now. After a MemoryError the failed call's
    # objects are garbage and the rare code it had loaded can go: collect first.
    _drop_rare_modules()
    while True:
        try:
            import shutdown

            break
        except KeyboardInterrupt:  # a second Ctrl-C: the clean stop still runs
            interrupted = True
        except MemoryError:  # not even the way down fits: reset without the goodbye
            _reset(booted[0])
            raise  # the unix port without a board module: show why
    shutdown.finish(booted, crashed, interrupted, _MAINTENANCE_FILE, _reset)


def _reset(board):
    """Reset through the board module; without one (it failed to load), reset the hardware
    directly rather than sit at the REPL, where nothing feeds a watchdog."""
    if board is not None:
        board.reset()
    if sys.platform != "linux":
        import machine

        machine.reset()
