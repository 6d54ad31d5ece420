# The one config schema: every setting's type, default, range or choices, whether it is secret,
# whether a change needs a restart. Defaults, validation, merging of MQTT changes, redaction and
# the README's settings table (tools/config_doc.py) all come from SCHEMA and settings_help() below,
# the way ESPHome derives everything from CONFIG_SCHEMA.
#
# A config is a nested dict shaped like its JSON: {"mqtt": {"port": 1883, ...}, ...}. Settings are
# named by dotted keys ("mqtt.port", "atm90e32.ct3.igain"). Configs are values: nothing here
# mutates a config it is given, so the firmware can keep the previous one for a rollback.
#
# Memory: SCHEMA is one string, one row per setting, read on demand. As tuples of tuples the same
# table cost four times the heap (a tuple and a str object per field); the help text lives in a
# docstring, which MicroPython does not keep, so the board pays nothing for it.
import json

from micropython import const

MAX_PAYLOAD = const(1024)  # bytes; a config/set message is refused before parsing if larger
MASK = "***"  # what redact() shows for a secret that is set
_MAX_ERRORS = const(3)  # errors named in one refusal; the rest are counted
_MAX_UNKNOWN = const(8)  # unknown keys named in one refusal

# One row per setting: key, kind, default, flags, range (fields separated by blanks).
#   kind     bool | int | float | str | choice
#   default  `""` is the empty string
#   flags    "-" or letters: s secret (never published or logged), r needs a restart,
#            l connectivity (WiFi/broker: tried, rolled back if the broker is unreachable),
#            i letters/digits/_/- only, t MQTT topic part (no + or #, no outer /),
#            x hex digits (or empty), k an AES key: exactly lo or hi hex digits (128 or
#            256 bits), d deploy-time only (over MQTT it may only be cleared:
#            setting it would send it in clear text to everyone on the broker)
#   range    int/float: lo..hi; str: lo..hi characters (x: hex digits, even); choice: a|b|c
# "atm90e32.ct#" stands for the six channels atm90e32.ct1 .. atm90e32.ct6.
SCHEMA = """
device_id              str    ""        ir  0..32
board                  choice sim       r  sim|d1mini_han|esp32_han|esp32_split|esp32_6ch|picow_ct6
source                 choice atm90e32  r   atm90e32|han
publish_interval_s     int    10        -   1..3600
wifi.ssid              str    ""        l   0..32
wifi.password          str    ""        sl  0..64
mqtt.host              str    localhost l   1..128
mqtt.port              int    1883      l   1..65535
mqtt.user              str    ""        l   0..64
mqtt.password          str    ""        sl  0..64
mqtt.prefix            str    meters    tr  1..64
mqtt.keepalive_s       int    60        -   10..3600
mqtt.tls               bool   false     l   -
native.enabled         bool   true      -   -
homeassistant.enabled  bool   true      -   -
homeassistant.prefix   str    homeassistant t   1..64
ct6.enabled            bool   false     -   -
ct6.topic              str    ""        t   0..64
victron.enabled        bool   false     -   -
victron.topic          str    ""        t   0..64
tasmota.enabled        bool   false     -   -
tasmota.topic          str    ""        t   0..64
tasmota.prefix         str    grid      i   1..32
values.enabled         bool   false     -   -
han.baud               choice 115200    r   2400|4800|9600|19200|38400|57600|115200
han.parity             choice none      r   none|even|odd
han.invert             bool   true      r   -
han.key                str    ""        sxk 32..64
han.auth_key           str    ""        sxk 32..64
han.min_interval_s     int    0         -   0..3600
han.energy_multiplier  float  1.0       -   0.0001..10000
han.power_multiplier   float  1.0       -   0.0001..10000
han.voltage_multiplier float  1.0       -   0.0001..10000
han.current_multiplier float  1.0       -   0.0001..10000
atm90e32.line_freq     choice 50        r   50|60
atm90e32.pga_gain      choice 1         r   1|2|4
atm90e32.addon_chip    bool   false     r   -
atm90e32.ct#.name      str    ""        -   0..24
atm90e32.ct#.ugain     int    0         -   0..65535
atm90e32.ct#.igain     int    0         -   0..65535
atm90e32.ct#.reversed  bool   false     -   -
atm90e32.ct#.role      choice grid      -   grid|load|solar|off
security.secret        str    ""        sxd 32..128
"""

_REPEAT_AT = "atm90e32.ct"  # the one repeated group: ct1 .. ct6
_REPEAT = "123456"


def settings_help():
    """One-line help per setting, "key: text", in SCHEMA order (tools/config_doc.py reads it).

    device_id: Id in the topics; empty = derived from the board's unique id
    board: Board module: pins, buses and radios
    source: Meter source: the ATM90E32 CT chip or the meter's HAN/P1 port
    publish_interval_s: Seconds between published readings
    wifi.ssid: WiFi network name
    wifi.password: WiFi passphrase
    mqtt.host: Broker host name or IP address
    mqtt.port: Broker port (8883 is usual for TLS)
    mqtt.user: Broker user name; empty = no login
    mqtt.password: Broker password
    mqtt.prefix: First topic level: `<prefix>/<id>/state`, `<prefix>/<id>/config`, ...
    mqtt.keepalive_s: MQTT keepalive in seconds; applies from the next connection
    mqtt.tls: TLS to the broker (ESP32 boards; the ESP8266 lacks the RAM for it)
    native.enabled: Publish the native JSON reading on `<prefix>/<id>/state`
    homeassistant.enabled: Publish Home Assistant discovery
    homeassistant.prefix: Home Assistant discovery prefix
    ct6.enabled: Publish in the CT6 format
    ct6.topic: CT6 format topic; empty = the format's default
    victron.enabled: Publish in the Victron grid meter format
    victron.topic: Victron format topic; empty = the format's default
    tasmota.enabled: Publish in the Tasmota SML format (as dbus-mqtt-grid reads it)
    tasmota.topic: Tasmota format topic; empty = the format's default
    tasmota.prefix: Tasmota sensor name in the JSON payload (dbus-mqtt-grid reads grid)
    values.enabled: Publish every value on its own topic
    han.baud: HAN/P1 line speed (M-Bus HAN: 2400; P1 and H1: 115200)
    han.parity: HAN/P1 parity (Aidon and Kaifa M-Bus HAN: even)
    han.invert: ESP32: invert RX for RJ12 P1/H1 ports; turn off behind an M-Bus converter
    han.key: Meter encryption key (hex: AES-128; AES-256 for suite 2); empty = not encrypted
    han.auth_key: Meter authentication key (hex, as long as han.key); empty = none
    han.min_interval_s: Least seconds between published HAN readings; 0 = every frame
    han.energy_multiplier: Scale for energy counters (for meters that send no scaler)
    han.power_multiplier: Scale for power values
    han.voltage_multiplier: Scale for voltages
    han.current_multiplier: Scale for currents
    atm90e32.line_freq: Mains frequency in Hz
    atm90e32.pga_gain: Current channel PGA gain
    atm90e32.addon_chip: CircuitSetup split-phase board: a second (add-on) ATM90E32 on CS GPIO4
    atm90e32.ct#.name: Channel name; empty = `CT<n>`
    atm90e32.ct#.ugain: Voltage gain register (Ugain); 0 = board default
    atm90e32.ct#.igain: Current gain register (Igain); 0 = board default
    atm90e32.ct#.reversed: Clamp mounted backwards: flip the sign of its power
    atm90e32.ct#.role: What the channel measures; off = not published
    security.secret: HMAC key (hex) for signed config/set and cmd; empty = signing off
    """


# ---- schema rows --------------------------------------------------------------------------------

def _pattern(key):
    """The SCHEMA key for a dotted key: atm90e32.ct3.name -> atm90e32.ct#.name."""
    n = len(_REPEAT_AT)
    if (
        key.startswith(_REPEAT_AT)
        and len(key) > n
        and key[n] in _REPEAT
        and (len(key) == n + 1 or key[n + 1] == ".")
    ):
        return key[:n] + "#" + key[n + 1:]
    return key


def row(key):
    """The SCHEMA row of a dotted key as [key, kind, default, flags, range], or None."""
    if "#" in key:  # "ct#" is the schema's placeholder, not a key
        return None
    pattern = _pattern(key)
    start = SCHEMA.find("\n" + pattern + " ")
    if start < 0:
        return None
    fields = SCHEMA[start + 1:SCHEMA.find("\n", start + 1)].split()
    # "mqtt.port " (with a blank) would find the mqtt.port row: the key must match exactly.
    return fields if fields[0] == pattern else None


def rows():
    """Every SCHEMA row, split into fields, in order."""
    start = 1
    while True:
        end = SCHEMA.find("\n", start)
        if end < 0:
            return
        yield SCHEMA[start:end].split()
        start = end + 1


def _is_group(key):
    return SCHEMA.find("\n" + _pattern(key) + ".") >= 0


def _expand(key):
    if "#" in key:
        return [key.replace("#", n) for n in _REPEAT]
    return (key,)


def keys():
    """Every dotted setting key, in SCHEMA order (CT channels expanded)."""
    for fields in rows():
        yield from _expand(fields[0])


def _flag(key, letter):
    fields = row(key)
    return fields is not None and letter in fields[3]


def is_secret(key):
    return _flag(key, "s")


def needs_restart(key):
    return _flag(key, "r")


def is_connectivity(key):
    """True for keys whose change may cut the reader off the broker (WiFi, broker, login, TLS)."""
    return _flag(key, "l")


def touches_connectivity(changed):
    """True if any of the dotted keys in `changed` is a connectivity key."""
    for key in changed:
        if is_connectivity(key):
            return True
    return False


def _value(kind, text):
    # A default or a choice, from its SCHEMA text.
    if kind == "bool":
        return text == "true"
    if kind == "float":
        return float(text)
    if kind == "str":
        return "" if text == '""' else text
    if kind == "int" or "0" <= text[0] <= "9":
        return int(text)
    return text


def choices(fields):
    """The allowed values of a choice row, typed (ints for baud rates, strings otherwise)."""
    return [_value("choice", c) for c in fields[4].split("|")]


def limits(fields):
    """(lo, hi) of an int, float or str row, typed."""
    lo, hi = fields[4].split("..")
    if fields[1] == "float":
        return float(lo), float(hi)
    return int(lo), int(hi)


def default(fields):
    return _value(fields[1], fields[2])


# ---- nested dicts -------------------------------------------------------------------------------

def get(config, key):
    """The value of a dotted key in a nested config (KeyError if it is not there)."""
    node = config
    for part in key.split("."):
        node = node[part]
    return node


def defaults():
    """A fresh config holding every default."""
    config = {}
    # One str object per distinct name: the six CT dicts share "name", "role", ..., instead of
    # each holding copies made by split() (long-lived small strings fragment the heap).
    names = {}
    for fields in rows():
        value = default(fields)
        for key in _expand(fields[0]):
            node = config
            parts = key.split(".")
            last = len(parts) - 1
            for i in range(last + 1):
                part = names.setdefault(parts[i], parts[i])
                if i == last:
                    node[part] = value
                else:
                    child = node.get(part)
                    if child is None:
                        child = {}
                        node[part] = child
                    node = child
    return config


def redact(config):
    """A copy of `config` for MQTT and logs: every secret is MASK, or "" when it is empty.

    Only keys the schema knows are copied, so a stray key can never carry a secret out."""
    return _redacted(config, "")


def _redacted(node, prefix):
    out = {}
    for name in node:
        if type(name) is not str or "." in name:  # not a name the schema has
            continue
        value = node[name]
        key = prefix + name
        if type(value) is dict:
            if _is_group(key):
                out[name] = _redacted(value, key + ".")
        else:
            fields = row(key)
            if fields is not None:
                out[name] = (MASK if value else "") if "s" in fields[3] else value
    return out


def redacted_json(config):
    """redact(config) as JSON text, yielded in small bytes pieces: the retained config is
    published streamed (MqttLink.publish_pieces), because the whole text plus a redacted copy
    would need ~3 KB at once, more than a D1 mini can count on while it runs."""
    yield from _redacted_pieces(config, "")


def _redacted_pieces(node, prefix):
    # The same walk as _redacted(): only keys the schema knows, secrets masked.
    separator = b"{"
    for name in node:
        if type(name) is not str or "." in name:
            continue
        value = node[name]
        key = prefix + name
        if type(value) is dict:
            if not _is_group(key):
                continue
            yield separator
            yield json.dumps(name).encode()
            yield b":"
            yield from _redacted_pieces(value, key + ".")
        else:
            fields = row(key)
            if fields is None:
                continue
            if "s" in fields[3]:
                value = MASK if value else ""
            yield separator
            yield json.dumps(name).encode()
            yield b":"
            yield json.dumps(value).encode()
        separator = b","
    if separator == b"{":
        yield separator
    yield b"}"


# ---- checking one value -------------------------------------------------------------------------

def _show(value):
    # Numbers only: strings are never echoed, they may be secrets typed into the wrong key.
    text = repr(value)
    return text if len(text) <= 24 else text[:20] + "..."


def _check_str(key, value, lo, hi, flags):
    n = len(value)
    if "x" in flags:
        aes_key = "k" in flags
        if n and (n < lo or n > hi or n % 2 or value.strip("0123456789abcdefABCDEF")
                  or aes_key and n != lo and n != hi):
            if lo == hi:
                size = str(lo)
            else:
                size = f"{lo} or {hi}" if aes_key else f"{lo}..{hi} (even)"
            return f"{key}: must be empty or {size} hex digits"
        return None
    if n < lo:
        return f"{key}: too short ({n} chars, min {lo})"
    if n > hi:
        return f"{key}: too long ({n} chars, max {hi})"
    ident = "i" in flags
    topic = "t" in flags
    for ch in value:
        if ch < " " or ch == "\x7f":
            return f"{key}: control characters are not allowed"
        if ident and not ("a" <= ch <= "z" or "A" <= ch <= "Z" or "0" <= ch <= "9" or ch in "_-"):
            return f"{key}: only letters, digits, '_' and '-' are allowed"
        if topic and ch in "+#":
            return f"{key}: '+' and '#' are MQTT wildcards, not allowed"
    if topic and n and (value[0] == "/" or value[-1] == "/"):
        return f"{key}: must not start or end with '/'"
    try:
        value.encode()
    except UnicodeError:  # a lone surrogate from a JSON "\ud800" escape (CPython)
        return f"{key}: not valid text"
    return None


def check(key, value, fields=None):
    """(value, None) with the value in its stored type, or (None, "<key>: <why>")."""
    if fields is None:
        fields = row(key)
        if fields is None:
            return None, "unknown key " + _name(key)
    kind = fields[1]
    t = type(value)
    if kind == "bool":
        if t is not bool:
            return None, key + ": expected true or false"
        return value, None
    if kind == "str":
        if t is not str:
            return None, key + ": expected a string"
        lo, hi = limits(fields)
        error = _check_str(key, value, lo, hi, fields[3])
        return (None, error) if error else (value, None)
    if kind == "choice":
        allowed = choices(fields)
        # type(True) is bool, but True == 1 and isinstance(True, int) on CPython: exact types.
        if t is not type(allowed[0]):
            return None, key + (": expected an integer" if allowed[0] != str(allowed[0])
                                else ": expected a string")
        if value not in allowed:
            shown = "" if t is str else _show(value) + " "
            return None, f"{key}: {shown}not one of {fields[4].replace('|', ', ')}"
        return value, None
    if not (t is int or (t is float and kind == "float")):
        return None, key + (": expected an integer" if kind == "int" else ": expected a number")
    lo, hi = limits(fields)
    # Before float(): float(10**400) raises OverflowError on CPython.
    if not (lo <= value <= hi):  # also false for NaN
        return None, f"{key}: {_show(value)} out of range {fields[4]}"
    return (float(value) if kind == "float" else value), None


def _name(key):
    # Unknown keys come from the sender; keep them short in the answer.
    return key if len(key) <= 40 else key[:37] + "..."


# ---- walking a nested change --------------------------------------------------------------------

def _collect(obj, prefix, updates, errors, unknown):
    """Flattens a nested dict of changes into (dotted key, checked value) pairs."""
    for name in obj:
        value = obj[name]
        if type(name) is not str:  # not from JSON, but validate() takes any dict
            unknown.append(prefix + repr(name))
            continue
        key = prefix + name
        # "mqtt.port" as one name would be a second spelling of a key: with both in one message
        # the winner would depend on dict order, which MicroPython does not keep.
        fields = row(key) if "." not in name else None
        if fields is not None:
            value, error = check(key, value, fields)
            if error:
                errors.append(error)
            else:
                updates.append((key, value))
        elif "#" not in key and "." not in name and _is_group(key):
            if type(value) is dict:
                _collect(value, key + ".", updates, errors, unknown)
            else:
                errors.append(key + ": expected an object")
        else:
            unknown.append(_name(key))


def _unknown(names):
    names.sort()
    text = ("unknown keys: " if len(names) > 1 else "unknown key: ") + ", ".join(
        names[:_MAX_UNKNOWN])
    if len(names) > _MAX_UNKNOWN:
        text += f" (and {len(names) - _MAX_UNKNOWN} more)"
    return text


def _summary(errors):
    errors.sort()
    text = "; ".join(errors[:_MAX_ERRORS])
    if len(errors) > _MAX_ERRORS:
        text += f" (and {len(errors) - _MAX_ERRORS} more)"
    return text


def _with(config, updates, in_place=False):
    """`config` with the updates applied: a copy in which only the dicts on changed paths are
    new (the rest is shared), or, in_place, `config` itself (only for a fresh config)."""
    new = config if in_place else dict(config)
    copied = []
    for key, value in updates:
        parts = key.split(".")
        node = new
        for part in parts[:-1]:
            child = node.get(part)
            if type(child) is not dict:  # only if `config` lacked the group (it should not)
                child = {}
                node[part] = child
                copied.append(child)
            fresh = in_place
            for done in copied:
                if done is child:
                    fresh = True
                    break
            if not fresh:
                child = dict(child)
                node[part] = child
                copied.append(child)
            node = child
        node[parts[-1]] = value
    return new


# ---- public: changes over MQTT, whole configs at load time --------------------------------------

def parse(payload, limit=MAX_PAYLOAD):
    """(dict, None) for a JSON object in `payload` (bytes), else (None, why).

    `limit` (bytes, None = none) is checked before parsing: the parser never sees a huge
    message."""
    t = type(payload)
    if t is str:
        payload = payload.encode()
    elif t is bytearray or t is memoryview:
        payload = bytes(payload)
    elif t is not bytes:
        return None, "payload must be bytes"
    n = len(payload)
    if n == 0:
        return None, "empty payload"
    if limit is not None and n > limit:
        return None, f"payload too large: {n} bytes (max {limit})"
    try:
        obj = json.loads(payload.decode())
    except UnicodeError:
        return None, "payload is not UTF-8 text"
    except ValueError:
        return None, "invalid JSON"
    if type(obj) is not dict:
        return None, "expected a JSON object"
    return obj, None


def apply_change(current, payload, limit=MAX_PAYLOAD, local=False):
    """Checks a config/set payload (bytes) against `current` (a valid config, left untouched).

    Returns (result, config): result is {"ok": True, "changed": [dotted keys], "restart": bool}
    with the new config, or {"ok": False, "error": "<what and why>"} with `current` itself.
    All or nothing: a message with any bad part changes nothing. `local=True` is for settings
    from the device's own flash (deploy), which may also set deploy-time keys. Never raises for
    bad input; error texts never contain a string value (it might be a secret)."""
    obj, error = parse(payload, limit)
    if error:
        return {"ok": False, "error": error}, current
    updates = []
    errors = []
    unknown = []
    _collect(obj, "", updates, errors, unknown)
    if unknown:
        errors.append(_unknown(unknown))
    changes = []
    for key, value in updates:
        try:
            old = get(current, key)
        except (KeyError, TypeError):
            old = None
        if old == value and type(old) is type(value):
            continue
        if value and not local and _flag(key, "d"):
            errors.append(key + ": can only be cleared over MQTT; set it at deploy time")
            continue
        changes.append((key, value))
    if errors:
        return {"ok": False, "error": _summary(errors)}, current
    changed = sorted(key for key, _ in changes)
    restart = False
    for key in changed:
        if needs_restart(key):
            restart = True
    return {"ok": True, "changed": changed, "restart": restart}, _with(current, changes)


def load_dict(obj):
    """A stored config (possibly partial, possibly from an older version) over the defaults.

    Returns (config, dropped, error): `dropped` lists the unknown keys left out (sorted);
    `error` is set, and config None, if a known key holds a bad value, so the caller can fall
    back to another copy."""
    if type(obj) is not dict:
        return None, [], "expected a JSON object"
    updates = []
    errors = []
    dropped = []
    _collect(obj, "", updates, errors, dropped)
    dropped.sort()
    if errors:
        return None, dropped, _summary(errors)
    return _with(defaults(), updates, True), dropped, None


def validate(config):
    """None if `config` is a complete, valid config, else the reason."""
    if type(config) is not dict:
        return "expected a JSON object"
    updates = []
    errors = []
    unknown = []
    _collect(config, "", updates, errors, unknown)
    if unknown:
        errors.append(_unknown(unknown))
    if not errors:
        for key in keys():
            try:
                get(config, key)
            except (KeyError, TypeError):
                errors.append(key + ": missing")
    if errors:
        return _summary(errors)
    return None
