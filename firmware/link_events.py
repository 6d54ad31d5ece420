# What the firmware does on the link's rare events: building the MQTT link (boot, new
# connection settings), a (re)connection, Home Assistant discovery and an incoming message
# (config/set, cmd, HA's status). app.py imports this module for the event and drops it after
# (app._RARE_MODULES): on a board that loads .mpy files into RAM (stock ESP32) its code then
# holds no heap while the meter is read.
import log


def build_link(app):
    """A new MqttLink for app.config, subscribed to config/set, cmd and HA's status."""
    import umqtt.simple
    from mqtt_link import MqttLink

    mqtt = app.config["mqtt"]
    app.ha_status_topic = app.ctx.ha_prefix + "/status"
    subscriptions = [app.base + "/config/set", app.base + "/cmd"]
    if app.ctx.ha_enabled:
        subscriptions.append(app.ha_status_topic)
    ssl = None
    if mqtt.get("tls"):
        import config_change

        ssl = config_change.tls_context()
    app.link = MqttLink(umqtt.simple, app.ctx.device_id, mqtt["host"], mqtt["port"],
                        mqtt["user"], mqtt["password"], mqtt["keepalive_s"],
                        app.ctx.status_topic, subscriptions, ssl=ssl,
                        outbox_len=getattr(app.board, "OUTBOX_LEN", 8))
    app.link.on_connect = app._on_connect


def on_connect(app):
    """After every (re)connect: the retained config, what a rollback or a trial has to say,
    the notices kept for this moment, and diag."""
    if not app.publish_public_config():
        import config_change  # no redacted copy on flash: make one

        config_change.publish_config(app)
    if app.rollback_report is not None:
        app.reply(app.base + "/config/result", app.rollback_report)
        app.rollback_report = None
    if app.trial_deadline_ms is not None:
        import app_change

        app_change.end_trial(app, True)
    for note in app.notices:
        app.link.publish(app.base + "/notice", note.encode())
    app.notices = []
    app.session_announced = False  # the broker may have lost retained messages
    app.publish_diag()


def announce(app):
    """Home Assistant discovery: a retained config per sensor the meter has shown so far.

    The set announced is the union over readings (kept in flash as a key-set string): a HAN
    meter's short power-only lists must not remove the energy sensors its full lists bring.
    Sensors are removed only by App.prune_announcements() (the announce command, or a config
    change that can rule sensors out)."""
    import gc
    import sys

    # The discovery code needs its room in one piece more than anything else: the link's
    # reader of rare packets (loaded for the SUBACK after a connect) goes first.
    sys.modules.pop("mqtt_receive", None)
    gc.collect()
    import home_assistant

    current = home_assistant.key_set(app.reading, app.ctx)
    if getattr(app, "stale_keys", None) is not None:  # the source was switched (startup.py)
        import ha_removals

        if not ha_removals.remove_stale(app, current):
            return  # link down: try again with the next reading
        app.stale_keys = None
        app.save_announced()  # the file now holds this source's sensors only
    known = app.announced_keys
    merged = home_assistant.merge_key_sets(known, current) if known else current
    if app.session_announced and merged == known:
        return
    for topic, pieces, retain in home_assistant.discovery(app.reading, app.ctx, streamed=True):
        # streamed from the writer's buffer: a payload is never copied whole (~0.5 KB each)
        if not app.link.publish_pieces(topic, pieces, retain):
            return  # link down: try again with the next reading
    app.session_announced = True
    if merged != known:
        app.announced_keys = merged
        app.save_announced()


def refuse_oversized(app, topic, size):
    """A config/set or cmd whose body the link skipped unread (larger than any handler takes):
    answered on its result topic, so the sender learns why nothing happened."""
    from mqtt_receive import MAX_MESSAGE

    if topic == app.base + "/config/set":
        result_topic = app.base + "/config/result"
    elif topic == app.base + "/cmd":
        result_topic = app.base + "/cmd/result"
    else:
        return  # Home Assistant's status: nobody waits for an answer
    app.reply(result_topic, {"ok": False, "error": "message too large: %d bytes (limit %d)"
                             % (size, MAX_MESSAGE)})
    app.publish_diag()  # with the link's count of refused messages


def handle_message(app, topic, payload, retained=False):
    """A message from the link's inbox (app.App.step drops the rare code it loads after
    each). payload: bytes, or the size (int) of a body too large to read, which the link
    skipped; retained: the broker kept it and sent it for a new subscription."""
    if isinstance(topic, bytes):
        topic = topic.decode()
    if type(payload) is int:
        refuse_oversized(app, topic, payload)
    elif topic == app.base + "/config/set":
        try:
            import config_change
        except MemoryError:  # nothing has changed yet: refuse, and keep reading the meter
            _no_room_for(app, "config/result", "the config code")
            return
        config_change.handle_set(app, payload)
    elif topic == app.base + "/cmd":
        try:
            import commands
        except MemoryError:
            _no_room_for(app, "cmd/result", "the command code")
            return
        commands.handle(app, payload, retained)
    elif topic == app.ha_status_topic:
        if payload == b"online":
            # HA restarted and lost its discovery state: announce again at the next reading
            app.session_announced = False


def _no_room_for(app, result, what):
    """A config/set or cmd whose code does not fit in the heap as it is now (a board that loads
    .mpy files into RAM, fragmented by the meter's pushes): answered, counted in the log, and
    the firmware goes on; nothing was changed."""
    import gc

    gc.collect()
    error = "not enough memory to load %s now (%d bytes free); nothing changed" % (
        what, gc.mem_free())
    log.warning("%s", error)
    app.reply(app.base + "/" + result, {"ok": False, "error": error})
