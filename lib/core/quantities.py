# The quantities the reader publishes, with every format's key for each.
#
# The one quantity table: every number a format publishes is a row here (docs/state.md lists
# them). Native state, per-value topics, Home Assistant discovery, CT6, Victron and Tasmota take
# their keys, units, classes and resolutions from it, and the firmware's presence masks follow
# its order; adding a quantity is one row plus the source's mapping (lib/core/reading.py holds the
# attributes). Literals only: frozen into the firmware it stays in flash; loaded from a .mpy its
# tuples and strings cost about 2.5 KB of heap (measured on the esp32 build), so it is a module
# of its own that the formats import at their first publish, not at boot with the Reading (the
# boot's peak stays as it was), and only what more than one module needs is a column (Home
# Assistant's entity names and state classes follow from class and unit: home_assistant.py).
#
# Columns, unpacked by name where they are read (no index names to import):
#   key    native state / values key ("ch.<c>.<key>" per channel)
#   attr   the Reading / Channel attribute holding the value (a Channel has no import_power /
#          export_power: read with getattr(obj, attr, None))
#   unit   of the published number (Home Assistant's unit_of_measurement)
#   scope  S_TOTAL (the reading) | S_CHANNEL (each channel)
#   cls    Home Assistant device_class
#   dec    resolution in decimals: every published value is rounded to it (JsonWriter.quantity)
#          and Home Assistant displays that many; counters are integer Wh / varh
#   tbit   Home Assistant key_set() bit of the total sensor, -1 none; cbit: of a channel's.
#          Persisted (the ha_keys file): never renumber, append new bits only
#   ct6    the CT6 port key ("" = not in the CT6 format)
#   grid   dbus-mqtt-grid's key (Victron's and Tasmota's "grid" object; energy in kWh there)
S_TOTAL = 1
S_CHANNEL = 2
QUANTITIES = (
    # key    attr                    unit    scope cls             dec tbit cbit ct6     grid
    ("u",      "voltage",              "V",    2, "voltage",         2, -1, 0,  "VRMS",      "voltage"),
    ("i",      "current",              "A",    2, "current",         3, -1, 1,  "IRMS",      "current"),
    ("p",      "power",                "W",    3, "power",           1, 0,  2,  "PRMS",      "power"),
    ("p_imp",  "import_power",         "W",    3, "power",           1, 1,  3,  "",          ""),
    ("p_exp",  "export_power",         "W",    3, "power",           1, 2,  4,  "",          ""),
    ("q",      "reactive_power",       "var",  3, "reactive_power",  1, 3,  5,  "PREACT",    ""),
    ("s",      "apparent_power",       "VA",   2, "apparent_power",  1, -1, 6,  "PAPPARENT", ""),
    ("pf",     "power_factor",         None,   2, "power_factor",    3, -1, 7,  "PF",        "power_factor"),
    ("e_imp",  "import_wh",            "Wh",   3, "energy",          0, 4,  10, "",          "energy_forward"),
    ("e_exp",  "export_wh",            "Wh",   3, "energy",          0, 5,  11, "",          "energy_reverse"),
    ("eq_imp", "reactive_import_varh", "varh", 1, "reactive_energy", 0, 6,  -1, "",          ""),
    ("eq_exp", "reactive_export_varh", "varh", 1, "reactive_energy", 0, 7,  -1, "",          ""),
    ("f",      "frequency",            "Hz",   3, "frequency",       2, 8,  8,  "FREQ",      "frequency"),
    ("t",      "temperature",          "°C",   3, "temperature",     1, 9,  9,  "TEMP",      ""),
)  # fmt: skip


def quantity(key):
    """The QUANTITIES row of a native key ("u", "e_imp"), None for an unknown key."""
    for row in QUANTITIES:
        if row[0] == key:
            return row
    return None
