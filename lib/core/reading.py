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
#
# The grid connection is the source's to work out, once per reading; the formats only render
# it (Victron and Tasmota publish exactly these, and compute none of them):
# - `grid`: the Channel objects that are the grid's phases, L1..L3 in that order, at most
#   three. A HAN meter's channels (L1, or L1..L3, from its first push with a phase value); the
#   ATM90E32 channels whose role is "grid", in port order (a split-phase board's two legs are
#   L1 and L2). Set when the channels are (re)built, not per reading.
# - `power`: the net grid power (+ import): the meter's import minus export, else the sum over
#   its phases when it sends only those (HAN); the sum over the "grid" channels, or over every
#   active channel when none is "grid" (ATM90E32). None rather than a partial sum.
# - `import_wh` / `export_wh`: the grid's lifetime energy: the meter's total, else its tariff
#   registers' sum, else its phases' (HAN); summed over the same channels as `power`
#   (ATM90E32).
# - `Channel.role`: "grid" | "load" | "solar" | "off" where the source knows it (ATM90E32, from
#   the config), None for a HAN meter's phases.


class Channel:
    """One measured line or CT port: "L1".."L3" for a HAN meter, "CT1".."CT6" for ATM90E32."""

    def __init__(self, name, label=None, role=None, port=None):
        self.name = name  # stable id in topics and unique ids: "L1", "CT2"
        self.port = port  # ATM90E32: the board's CT port ("CT2") the channel is measured on
        self.label = label  # what users call it ("Solar"), None = the name
        self.role = role  # the source's: "grid" | "load" | "solar" | "off" (ATM90E32); None (HAN)
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
        self.grid = []  # the channels that are the grid's phases, L1..L3 (see above)
        self.clear()

    def clear(self):
        self.seq = None  # int: the reader's count of published readings since boot
        self.timestamp = None  # int: Unix seconds (UTC) of the device clock, if it is set
        self.meter_id = None  # str: meter serial number (HAN), None for ATM90E32
        self.meter_model = None  # str: meter type (HAN)
        self.meter_time = None  # str: the meter's own clock, ISO 8601 local time, as sent
        self.power = None  # W, the grid's net power: + import, - export
        self.import_power = None  # W >= 0 (HAN sends import and export power separately)
        self.export_power = None  # W >= 0
        self.reactive_power = None  # var, net
        self.import_wh = None  # int, the grid's lifetime active energy A+
        self.export_wh = None  # int, the grid's lifetime active energy A-
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
        """Reshape the channel list (a HAN meter tells its phase count only in its first push).
        The source sets `grid` again afterwards."""
        if [c.name for c in self.channels] != list(names):
            self.channels = [Channel(name) for name in names]
            self.grid = []  # never the old channels
