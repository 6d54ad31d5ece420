# The output dispatch: each enabled per-reading format's messages for a reading, by the flags
# and topics of the PublishContext (publish_context.build). Kept apart from the context's
# builder: this runs on every publish, the builder only at boot and after a config change.


def reading_messages(reading, ctx):
    """Every enabled per-reading format's messages, one (topic, payload, retain) at a time.

    Home Assistant discovery is not per reading: the firmware sends home_assistant.discovery()
    at connect, when HA comes online and when home_assistant.key_set() changes.
    Modules are imported here, only when enabled, so a disabled format costs no RAM.
    """
    # Home Assistant's sensors read the state topic, so it goes out whenever either needs it
    if ctx.native_enabled or ctx.ha_enabled:
        import native

        yield from native.messages(reading, ctx)
    if ctx.ct6_enabled:
        import ct6

        yield from ct6.messages(reading, ctx)
    if ctx.victron_enabled:
        import victron

        yield from victron.messages(reading, ctx)
    if ctx.tasmota_enabled:
        import tasmota

        yield from tasmota.messages(reading, ctx)
    if ctx.values_enabled:
        import values

        yield from values.messages(reading, ctx)
