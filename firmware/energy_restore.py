# Restoring the ATM90E32 lifetime energy counters at boot (EnergyStore.restore): run once, then
# dropped (app._RARE_MODULES). The source checks the counters (Atm90e32Source.restore_energy, all
# or nothing); this module decides what the firmware does with a file it cannot use.
import log
import storage


def restore(store, text, counters):
    """Seed store.source with the counters saved in store.path (its text, and what json.loads
    made of it: the counters or the ValueError); returns a notice for MQTT, or None."""
    try:
        if isinstance(counters, ValueError):
            raise counters
        store.source.restore_energy(counters)
    except (ValueError, TypeError, KeyError) as e:
        # Keep the unusable file for a human to look at instead of overwriting it.
        try:
            storage.write_atomic(store.path + ".bad", text)
        except OSError as write_error:
            log.error("energy: cannot keep %s.bad: %s", store.path, write_error)
        log.error("energy: %s is unusable (%s); counters start from zero", store.path, e)
        return "energy counters could not be restored (%s); starting from zero, the file " \
               "is kept as %s.bad" % (e, store.path)
    store.saved = counters
    log.info("energy: restored lifetime counters from %s", store.path)
    return None
