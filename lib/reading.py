# One reading model for both meter sources (ATM90E32 chip, HAN/P1 port).
#
# A source owns one Reading and refills it in place on every cycle, so the read loop allocates
# no new objects for the model itself. Formats (native JSON, Home Assistant, CT6, Victron,
# Tasmota, per-value topics) read from it and never write to it.
#
# Conventions (the same for every source):
# - Power is signed: positive = import from the grid (consumption), negative = export.
# - Energy counters are integers in Wh / varh: lifetime, monotonic, never floats (the boards'
#   floats are single precision, 24 bits of mantissa would lose Wh after 16.7 MWh).
# - A value that the source does not provide is None and is left out of every payload.


# The one quantity table: every number a format publishes is a row here (docs/state.md lists
# them). Native state, per-value topics, Home Assistant discovery, CT6, Victron and Tasmota read
# their keys, units, classes and resolutions from it, and the firmware's presence masks follow
# its order; adding a quantity is one row plus the source's mapping. A tuple of literals only:
# frozen into the firmware it stays in flash (no heap).
#
# Columns (Q_* indexes):
#   key     native state / values key ("ch.<c>.<key>" per channel)
#   attr    the Reading / Channel attribute holding it (None = absent)
#   unit    unit of the published number (Home Assistant's unit_of_measurement)
#   scope   S_TOTAL (the reading), S_CHANNEL (each channel) or both
#   class   Home Assistant device_class; state: its state_class
#   dec     resolution in decimals: every published value is rounded to it (HA's suggested
#           display precision too); energy is integer Wh
#   tbit    Home Assistant key_set() bit for the total, -1 none; cbit: for a channel. Persisted
#           in the ha_keys file: never renumber, append new bits only
#   name    Home Assistant entity name (a channel's gets the channel label in front; a total's is
#           capitalised)
#   ct6     the CT6 port key ("" = the CT6 format does not carry it)
#   grid    dbus-mqtt-grid's key (Victron and Tasmota "grid" object; energy there in kWh)
S_TOTAL = 1
S_CHANNEL = 2
Q_KEY = 0
Q_ATTR = 1
Q_UNIT = 2
Q_SCOPE = 3
Q_CLASS = 4
Q_STATE = 5
Q_DEC = 6
Q_TBIT = 7
Q_CBIT = 8
Q_NAME = 9
Q_CT6 = 10
Q_GRID = 11
QUANTITIES = (
    # key, attr, unit, scope, class, state, dec,
    #     tbit, cbit, name, ct6, grid
    ("u", "voltage", "V", 2, "voltage", "measurement", 2,
     -1, 0, "voltage", "VRMS", "voltage"),
    ("i", "current", "A", 2, "current", "measurement", 3,
     -1, 1, "current", "IRMS", "current"),
    ("p", "power", "W", 3, "power", "measurement", 1,
     0, 2, "power", "PRMS", "power"),
    ("p_imp", "import_power", "W", 3, "power", "measurement", 1,
     1, 3, "power import", "", ""),
    ("p_exp", "export_power", "W", 3, "power", "measurement", 1,
     2, 4, "power export", "", ""),
    ("q", "reactive_power", "var", 3, "reactive_power", "measurement", 1,
     3, 5, "reactive power", "PREACT", ""),
    ("s", "apparent_power", "VA", 2, "apparent_power", "measurement", 1,
     -1, 6, "apparent power", "PAPPARENT", ""),
    ("pf", "power_factor", None, 2, "power_factor", "measurement", 3,
     -1, 7, "power factor", "PF", "power_factor"),
    ("e_imp", "import_wh", "Wh", 3, "energy", "total_increasing", 0,
     4, 10, "energy import", "", "energy_forward"),
    ("e_exp", "export_wh", "Wh", 3, "energy", "total_increasing", 0,
     5, 11, "energy export", "", "energy_reverse"),
    ("eq_imp", "reactive_import_varh", "varh", 1, "reactive_energy", "total_increasing", 0,
     6, -1, "reactive energy import", "", ""),
    ("eq_exp", "reactive_export_varh", "varh", 1, "reactive_energy", "total_increasing", 0,
     7, -1, "reactive energy export", "", ""),
    ("f", "frequency", "Hz", 3, "frequency", "measurement", 2,
     8, 8, "frequency", "FREQ", "frequency"),
    ("t", "temperature", "°C", 3, "temperature", "measurement", 1,
     9, 9, "temperature", "TEMP", ""),
)


def quantity(key):
    """The QUANTITIES row of a native key ("u", "e_imp"), None for an unknown key."""
    for row in QUANTITIES:
        if row[0] == key:
            return row
    return None


class Channel:
    """One measured line or CT port: "L1".."L3" for a HAN meter, "CT1".."CT6" for ATM90E32."""

    def __init__(self, name, label=None, role=None, port=None):
        self.name = name  # stable id in topics and unique ids: "L1", "CT2"
        self.port = port  # ATM90E32: the board's CT port ("CT2") the channel is measured on
        self.label = label  # what users call it ("Solar"), None = the name
        self.role = role  # ATM90E32 CT role: "grid" | "load" | "solar"; None for HAN phases
        self.clear()

    def clear(self):
        self.voltage = None  # V
        self.current = None  # A (signed where the meter says so)
        self.power = None  # W, signed: + import, - export
        self.reactive_power = None  # var, signed
        self.apparent_power = None  # VA
        self.power_factor = None  # -1..1
        self.frequency = None  # Hz
        self.temperature = None  # degC (ATM90E32 chip temperature)
        self.import_wh = None  # int, lifetime
        self.export_wh = None  # int, lifetime


class Reading:
    """What a meter says at one moment, per channel and in total."""

    def __init__(self, source, channel_names=()):
        self.source = source  # "han" | "atm90e32"
        self.channels = [Channel(name) for name in channel_names]
        self.clear()

    def clear(self):
        self.seq = None  # int: the reader's count of published readings since boot
        self.timestamp = None  # int: Unix seconds (UTC) of the device clock, if it is set
        self.meter_id = None  # str: meter serial number (HAN), None for ATM90E32
        self.meter_model = None  # str: meter type (HAN)
        self.meter_time = None  # str: the meter's own clock, ISO 8601 local time, as sent
        self.power = None  # W, net: + import, - export
        self.import_power = None  # W >= 0 (HAN sends import and export power separately)
        self.export_power = None  # W >= 0
        self.reactive_power = None  # var, net
        self.import_wh = None  # int, lifetime active energy A+
        self.export_wh = None  # int, lifetime active energy A-
        self.reactive_import_varh = None  # int, lifetime reactive energy R+
        self.reactive_export_varh = None  # int, lifetime reactive energy R-
        self.frequency = None  # Hz
        self.temperature = None  # degC
        for channel in self.channels:
            channel.clear()

    def channel(self, name):
        for channel in self.channels:
            if channel.name == name:
                return channel
        return None

    def set_channels(self, names):
        """Reshape the channel list (a HAN meter tells its phase count only in its first push)."""
        if [c.name for c in self.channels] != list(names):
            self.channels = [Channel(name) for name in names]
