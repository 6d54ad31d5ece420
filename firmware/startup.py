# Boot: from power-on to a running App. Runs once and is then dropped from RAM (app.main()), so
# none of it holds heap while the firmware runs.
#
# Order matters (app.main() has checked for maintenance mode first): the config
# (with site settings from make deploy / tools/sim.py), the board module it names, boot-loop
# counting (crash_log), and last the App with its meter source and MQTT link.
import crash_log
import log
from clock import ticks_add, ticks_ms


def start(booted, app_class, drop_rare_modules):
    """Fills booted[0] with the board module and booted[1] with an `app_class` (app.App), as
    soon as each exists (app.main() resets through the board if anything later fails).
    drop_rare_modules is app's: called once the config code is no longer needed."""
    import config_saved

    # The config as saved, without the config code, unless the full path is needed (why:
    # config_saved.py). After a crash the full path runs: it validates the config again.
    config = config_saved.load() if not crash_log.unhealthy_starts() else None
    notices, on_trial = [], False
    if config is None:
        import config_change

        config, notices, on_trial = config_change.load_at_boot()
        del config_change
    config = config_saved.in_ram(config)
    del config_saved
    drop_rare_modules()  # before the source and the link take their share of the heap
    board = booted[0] = __import__("boards." + config["board"], None, None, ("NAME",))
    safe_mode = crash_log.boot(board.reset_cause())
    instance = app_class(board, config, notices, safe_mode)
    drop_rare_modules()  # the App's set-up code (app_init, publish_context), before the source's
    # Home Assistant sensors belong to the meter source that announced them: ha_keys is
    # "<source>\n<key set>". Another source's (the source was switched) are removed at the first
    # announcement (link_events.announce), not merged with this one's. A set saved without its
    # source (before they were kept apart) counts as this source's.
    owner, _, keys = instance.announced_keys.rpartition("\n")
    if owner and owner != config["source"]:
        instance.stale_keys = keys
        keys = ""
    instance.announced_keys = keys
    instance.last_crash = crash_log.last()
    if safe_mode:
        note = ("safe mode: %d failed starts in a row (last: %s); the meter source is not "
                "started; send a config change or a reboot command to leave it"
                % (crash_log.unhealthy_starts(), instance.last_crash))
        log.warning("%s", note)  # on the console too (the sim's, a board's REPL)
        notices.append(note)
    else:
        _build_source(instance, board, config)
    instance.build_link()
    if on_trial:
        instance.trial_deadline_ms = ticks_add(ticks_ms(), instance.trial_ms)
    booted[1] = instance


def _build_source(instance, board, config):
    from reading import Reading

    source = config["source"]
    if source not in getattr(board, "SOURCES", ()):
        raise ValueError("board %s has no %s source" % (board.NAME, source))
    instance.reading = Reading(source)
    if source == "han":
        from han_source import HanSource

        instance.source = HanSource(board.han_uart(config), config["han"], instance.reading)
    else:
        import energy_store
        from atm90e32_source import Atm90e32Source

        instance.source = Atm90e32Source(board.spi_chips(config), config["atm90e32"],
                                         instance.reading,
                                         interval_ms=config["publish_interval_s"] * 1000)
        instance.energy = energy_store.EnergyStore(instance.source)
        if hasattr(board, "ENERGY_SAVE_MS"):  # the sim board shortens it for tests
            instance.energy.interval_ms = board.ENERGY_SAVE_MS
        note = instance.energy.restore()
        if note:
            instance.notices.append(note)
