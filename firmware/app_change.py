# How the App takes a change: the code of its methods apply_changes() and prune_announcements()
# (app.py, where use_config() is too), and the end of a connectivity trial (from the loop and the
# link's connect). config_change.py and commands.py validate, save and answer; they change the
# App only through these methods, so what holds between its attributes is kept here, in one
# place:
#   - app.config is the config in force (validated and saved; config_saved.in_ram() of it);
#   - app.ctx and app.base are built from app.config, and the MQTT link from both (its topics,
#     its subscriptions, the broker settings);
#   - the meter source runs with app.config's settings and publish interval;
#   - app.trial_deadline_ms is set only while a connectivity change is on trial (TRIAL file).
# Loaded for a change and dropped after it (app._RARE_MODULES): it holds no heap otherwise. The
# config code is imported only by the functions that need it: a confirmed trial (at a connect)
# needs none of it.
import log
import storage
from config_saved import TRIAL


def apply_changes(app, changed, trial_ms):
    """App.apply_changes: what the dotted keys `changed` of the config in force touch."""
    import config_schema
    import publish_context

    if trial_ms:
        from clock import ticks_add, ticks_ms

        # the old settings are in the TRIAL file; end_trial() rolls back if the new ones do not
        # reach the broker in time
        app.trial_deadline_ms = ticks_add(ticks_ms(), trial_ms)
        log.info("config: trying the new connection settings for %d s", trial_ms // 1000)
    sections = {key.split(".")[0] for key in changed}
    if "homeassistant" in sections or config_schema.touches_connectivity(changed):
        # the broker, the login, or HA's status topic (one of the link's subscriptions)
        _replace_link(app)
    else:
        app.ctx = publish_context.build(app.config, app.board, app.ctx.sw_version)
    source = app.config["source"]
    if app.source is not None and source in sections:
        app.source.apply_settings(app.config[source])
    if app.source is not None and source == "atm90e32" and "publish_interval_s" in changed:
        app.source.set_interval(app.config["publish_interval_s"] * 1000)
    # Sensors may have been ruled out (HA off, a CT's role "off") or renamed: prune and
    # re-announce. A gain changes no sensor.
    announced = False
    for key in changed:
        if key.startswith("homeassistant.") or key.startswith("atm90e32.") \
                and not key.endswith("gain"):
            announced = True
    if announced and app.last_publish_ms is not None and app.link.connected:
        prune_announcements(app)


def prune_announcements(app):
    """App.prune_announcements: remove the HA sensors the current reading (and config) no
    longer has, then announce. False when the link went down on the way."""
    import home_assistant

    ctx = app.ctx
    current = home_assistant.key_set(app.reading, ctx) if ctx.ha_enabled else ""
    import ha_removals

    for topic, payload, retain in ha_removals.removals(app.announced_keys, current, ctx):
        if not app.link.publish(topic, payload, retain):
            return False
    app.announced_keys = current
    app.save_announced()
    app.session_announced = False
    if ctx.ha_enabled:
        app.announce()
    return True


def _replace_link(app):
    """A new link for changed settings, keeping what the old one still had to deliver."""
    import publish_context

    old = app.link
    old.close()
    app.ctx = publish_context.build(app.config, app.board, app.ctx.sw_version)
    app.base = app.ctx.base
    app.build_link()
    app.link.adopt(old)


def end_trial(app, confirmed):
    """From App.step() and link_events.on_connect(): the connectivity change on trial reached
    the broker (confirmed), or its time ran out: roll back to the config in the TRIAL file."""
    app.trial_deadline_ms = None
    if confirmed:
        storage.remove(TRIAL)
        log.info("config: new connection settings confirmed")
        return
    import json

    import config_change
    import config_schema
    import config_store

    text = storage.read_text(TRIAL)
    try:
        old_config, _, error = config_schema.load_dict(json.loads(text or ""))
    except ValueError:
        old_config, error = None, "not valid JSON"
    if old_config is None:
        # Nothing sound to go back to: keep trying the new settings rather than guess.
        log.error("config: cannot roll back, %s is unusable: %s", TRIAL, error)
        storage.remove(TRIAL)
        return
    failed = app.link.last_error or "no connection"
    config_change.save_public(old_config)
    app.use_config(old_config)
    try:
        config_store.save(old_config)
    except OSError as e:  # keep the trial file: the next boot rolls back again
        import flash_error

        log.error("config: cannot save the rolled back config: %s", flash_error.describe(e))
    else:
        storage.remove(TRIAL)
    note = "rolled back a connectivity change: the broker was not reachable within %d s (%s)"
    app.notices.append(note % (app.trial_ms // 1000, failed))
    app.rollback_report = {"ok": False, "error": note % (app.trial_ms // 1000, failed)}
    log.warning("config: " + note, app.trial_ms // 1000, failed)
    _replace_link(app)
