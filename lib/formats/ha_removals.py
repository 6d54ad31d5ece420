# Removing Home Assistant sensors: the keys a key_set() string stands for and the empty
# retained configs that make HA delete entities no longer measured. Used by a config change and
# the announce command (App.prune_announcements), not by every announcement, so it is
# a module of its own (home_assistant.py stays smaller where .mpy files load into RAM).
from channels import slug_safe
from home_assistant import CHANNEL_SENSORS, TOTAL_SENSORS, parse_key_set, discovery_topic, key_set


def keys(signature):
    """The sensor keys ("p", "L1_u", ...) of a key_set() string; malformed parts are skipped."""
    for name, mask in parse_key_set(signature):
        prefix, rows = ("", TOTAL_SENSORS) if name == "" else (name + "_", CHANNEL_SENSORS)
        for index in range(len(rows)):
            if mask & (1 << index):
                yield prefix + rows[index][0]


def entity_keys(reading, ctx):
    """The keys of the sensors discovery() announces for `reading`, as a list ("p", "L1_u",
    ...): what the firmware keeps (RAM or flash) to remove them later."""
    return list(keys(key_set(reading, ctx)))


def _key_list(announced):
    # a key_set() string or any iterable of keys; anything else counts as no keys
    if type(announced) is str:
        return list(keys(announced))
    if type(announced) in (list, tuple, set):
        return [key for key in announced if type(key) is str and _valid_key(key)]
    return []


def _valid_key(key):
    # a key becomes part of a topic: refuse what a corrupt file could hold (/, +, #, spaces)
    if not key:
        return False
    for ch in key:
        if not (slug_safe(ord(ch)) or ch == "_"):
            return False
    return True


def removals(previous_keys, current_keys, ctx):
    """Yields (topic, b"", retain=True) for each sensor in `previous_keys` but not in
    `current_keys` (each a key_set() string or a list from entity_keys()): HA deletes an entity
    whose config topic gets an empty payload.
    """
    current = set(_key_list(current_keys))
    for key in _key_list(previous_keys):
        if key not in current:
            yield discovery_topic(key, ctx), b"", True


def remove_stale(app, current_keys):
    """The sensors of the meter source the firmware ran before a switch (app.stale_keys, a
    key_set() string) removed, but for those in `current_keys` (this source has them too: they
    are announced again). `app` is the firmware's (firmware/link_events.py): its link and ctx.
    False when the link went down on the way (tried again later); the caller then forgets the
    stale keys and saves the announced ones."""
    for topic, payload, retain in removals(app.stale_keys, current_keys, app.ctx):
        if not app.link.publish(topic, payload, retain):
            return False
    return True
