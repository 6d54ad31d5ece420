# The way down, after the loop has ended (app.main()): record a crash, save the energy
# counters, say goodbye to the broker, then reset, exit, or reset into maintenance mode.
# Loaded only then, so its code takes no heap while the firmware runs.
import sys

import log
import storage


def finish(booted, crashed, interrupted, maintenance_file, reset):
    """`booted`: [board module, App], either may be None (a failed start); `crashed`: the
    exception that ended the loop, or None; `interrupted`: Ctrl-C / SIGINT; `reset(board)`
    resets the board (app._reset)."""
    board, app = booted
    if crashed is not None:
        _record_crash(crashed)
    # Save the energy counters, say goodbye, and (no crash) mark the run as ended cleanly. A
    # second interrupt meanwhile (Ctrl-C pressed twice; a terminal's SIGINT and a supervisor's)
    # does not cut it short: it is all done again (each step is atomic and idempotent), up to a
    # few times, so a held-down Ctrl-C still ends it.
    for _ in range(5 if app is not None else 0):
        try:
            if interrupted:
                log.info("app: stopping (interrupt)")
            if app.energy is not None:
                app.energy.save()
            app.link.close()
            if crashed is None:
                import crash_log

                crash_log.clean_exit()
            break
        except KeyboardInterrupt:
            continue  # the shutdown again, from the start
        except Exception as e:  # going down anyway; say why the goodbye failed
            log.error("app: shutdown: %s", e)
            break
    if crashed is not None:
        reset(board)
        raise crashed  # the unix port: show why
    if app is not None and app.reset_requested:
        board.reset()
    if interrupted and getattr(board, "MAINTENANCE_ON_INTERRUPT", True):
        # Ctrl-C at the console (mpremote does this) cannot stop a started hardware watchdog,
        # which would reset the board mid-copy. Reset now into maintenance mode instead: the
        # next boot skips the firmware, so mpremote has the REPL until the board is reset.
        storage.write_atomic(maintenance_file, "interrupted at the console")
        board.reset()
    sys.exit(0)


def _record_crash(e):
    """crash_log.record(e), imported only now (it is not kept in RAM while the firmware runs).
    If even now the module cannot load, the board resets all the same, only without the
    reason."""
    try:
        import crash_log

        crash_log.record(e)
    except MemoryError:
        log.error("crash: %s (not recorded: no memory left)", e)
