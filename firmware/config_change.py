# Config changes, at boot and while the firmware runs: site settings, config/set messages,
# signed messages, connectivity changes put on trial and the TLS context mqtt.tls asks for.
# A change is validated (config_schema), saved and answered here; the App takes it through its
# methods use_config() and apply_changes() (firmware/app_change.py: the publish context, the
# link, the meter source, the trial and its rollback). The one attribute this module sets on
# the App is its own: the signature check's replay counters (app.replay_guard), which must
# outlive the module and which nothing else reads.
#
# All of it runs rarely, so app.py imports this module only when needed and drops it again
# (with config_schema, config_store and signing): in the steady state it holds no heap.
import json

import config_saved
import config_schema
import config_store
import log
import storage

TRIAL_FILE = config_saved.TRIAL  # the previous config while a connectivity change is on trial
_SITE_FILE = config_saved.SITE  # first-boot / provisioning settings (make deploy, tools/sim.py)


def load_at_boot():
    """(config, notices, on_trial): the config on flash with any site settings applied, the
    notices to say on MQTT once connected, and whether a connectivity change was on trial."""
    config, notice = config_store.load()
    notices = [notice] if notice else []
    if storage.exists(_SITE_FILE):
        # Site settings from make deploy / tools/sim.py: applied once, validated like any change.
        with open(_SITE_FILE, "rb") as f:
            result, new_config = config_schema.apply_change(config, f.read(), limit=None,
                                                             local=True)
        if result["ok"]:
            config = new_config
            try:
                config_store.save(config)
            except OSError as e:  # run on them anyway; site.json stays for the next boot
                import flash_error

                notices.append("site settings applied but not saved: %s"
                                % flash_error.describe(e))
                save_public(config)
                return config, notices, storage.exists(TRIAL_FILE)
        else:
            notices.append("site settings refused: %s" % result["error"])
        storage.remove(_SITE_FILE)
    save_public(config)
    on_trial = storage.exists(TRIAL_FILE)
    if on_trial:
        notices.append("a connectivity change was on trial at reset; trying it again")
    elif config_saved.load() is None:
        # Validated now: saved with its mark, so the next boot takes the fast path
        # (config_saved.py). A config read from the backup or made of defaults included.
        try:
            config_store.save(config)
        except OSError as e:  # flash full: the next boot validates again, nothing worse
            import flash_error

            log.warning("config: cannot save the validated config: %s", flash_error.describe(e))
    return config, notices, on_trial


def full_config(app):
    """The whole config in force: app.config plus what in_ram() left on flash (the config on
    flash is the one in force: every change is saved before it is applied)."""
    config = app.config
    missing = [name for name in config_saved.SOURCE_SECTIONS if name not in config]
    if missing:
        stored = config_store.load()[0]
        config = dict(config)
        for name in missing:
            config[name] = stored[name]
    return config


def tls_context():
    """TLS to the broker (ESP32; the ESP8266 lacks the RAM). With the broker's CA certificate on
    flash as ca.der (DER), the broker is verified; without it the link is encrypted but not
    authenticated, and the log says so."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        with open("ca.der", "rb") as f:
            context.load_verify_locations(cadata=f.read())
        context.verify_mode = ssl.CERT_REQUIRED
    except OSError:
        log.warning("mqtt: TLS without ca.der: encrypted, but the broker is not verified")
        context.verify_mode = ssl.CERT_NONE
    return context


PUBLIC_FILE = "config.pub"  # the config in force, redacted: what <base>/config carries


def save_public(config):
    """Keep PUBLIC_FILE equal to the redacted `config` (the config in force), so that a
    (re)connect publishes it streamed from flash without loading the schema (app._on_connect).
    If it cannot be written (flash full), it is removed: publish_config() then redacts from RAM,
    and no stale config is ever published."""
    # Compared and written piece by piece: the whole text (~1.3 KB) is never held at once.
    if _file_holds(PUBLIC_FILE, config_schema.redacted_json(config)):
        return True
    try:
        storage.write_pieces_atomic(PUBLIC_FILE, config_schema.redacted_json(config))
        return True
    except OSError as e:
        import flash_error

        log.error("config: cannot save %s: %s", PUBLIC_FILE, flash_error.describe(e))
        storage.remove(PUBLIC_FILE)
        return False


def _file_holds(path, pieces):
    """True when the file's bytes are exactly the concatenated `pieces` (read piece by piece)."""
    try:
        with open(path, "rb") as f:
            for piece in pieces:
                if f.read(len(piece)) != piece:
                    return False
            return not f.read(1)
    except OSError:
        return False


def publish_config(app, config=None):
    """`config` (default: the whole config in force), secrets redacted, retained on
    <base>/config (after a change)."""
    if config is None:
        config = full_config(app)
    if save_public(config):
        app.publish_public_config()
    else:
        app.link.publish_pieces(app.base + "/config",
                                lambda: config_schema.redacted_json(config), True)


def verify_signature(app, payload):
    """(body bytes, None) when the message may be applied, (None, error) when refused: signed
    if signing is on, strict JSON in valid UTF-8 always (signing.verify)."""
    secret = app.config["security"]["secret"]
    import signing

    guard = getattr(app, "replay_guard", None)
    if guard is None and secret:
        # kept by the app: the counters it has seen must outlive this module
        guard = app.replay_guard = signing.ReplayGuard("replay.json")
        if guard.notice:
            log.warning("signing: %s", guard.notice)
            app.link.publish(app.base + "/notice", guard.notice.encode())
    return signing.verify(secret, payload, guard)


def handle_set(app, payload):
    """A message on <base>/config/set: validate, save, answer on config/result, apply."""
    result_topic = app.base + "/config/result"
    body, error = verify_signature(app, payload)
    if error:
        log.warning("config: refused: %s", error)
        app.reply(result_topic, {"ok": False, "error": error})
        return
    config = full_config(app)
    result, new_config = config_schema.apply_change(config, body)
    if not result["ok"]:
        log.warning("config: refused: %s", result["error"])
        app.reply(result_topic, result)
        return
    changed = result["changed"]
    if not changed:
        app.reply(result_topic, result)
        return
    error = _not_for_this_board(app, new_config, changed)
    if error:
        log.warning("config: refused: %s", error)
        app.reply(result_topic, {"ok": False, "error": error})
        return
    link_change = config_schema.touches_connectivity(changed)
    if link_change:
        others = [key for key in changed if not config_schema.is_connectivity(key)]
        if others:
            # A failed connection rolls the whole change back: keep the two apart.
            error = ("change connection settings (wifi.*, mqtt.host/port/user/password/tls)"
                     " on their own, not with %s, so a rollback undoes nothing else"
                     % ", ".join(others))
            app.reply(result_topic, {"ok": False, "error": error})
            return
    try:
        if link_change:
            # The way back is on flash before the new settings are: a reset in between still
            # rolls back.
            storage.write_atomic(TRIAL_FILE, json.dumps(config))
        config_store.save(new_config)
    except OSError as e:  # flash full or failing: keep running on the old config
        import flash_error

        storage.remove(TRIAL_FILE)
        app.reply(result_topic, {"ok": False,
                                 "error": "could not save config: " + flash_error.describe(e)})
        return
    del config
    app.use_config(new_config)  # in force now; what it changes is applied once answered
    log.info("config: changed %s", ", ".join(changed))
    app.reply(result_topic, result)
    publish_config(app, new_config)
    if link_change:
        app.apply_changes(changed, app.trial_ms)
    elif result["restart"] or app.safe_mode:
        app.request_reset("config change needs a restart")
    else:
        app.apply_changes(changed)


def _not_for_this_board(app, config, changed):
    """Why a valid change cannot work on this board (it would crash every boot after it), or
    None: another board's module, a meter source the board lacks, TLS without `ssl`."""
    board = app.board
    if "board" in changed and config["board"] != board.NAME:
        return ("board %s is not this hardware (%s): the board module is chosen with make "
                "deploy BOARD=..." % (config["board"], board.NAME))
    if "source" in changed and config["source"] not in getattr(board, "SOURCES", ()):
        return "board %s has no %s source" % (board.NAME, config["source"])
    if "mqtt.tls" in changed and config["mqtt"]["tls"]:
        try:
            import ssl  # noqa: F401
        except ImportError:
            return "mqtt.tls needs the ssl module, which this board's firmware does not have"
    return None
