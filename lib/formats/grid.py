# The grid connection as Victron and Tasmota consumers see it: its phases and its net power and
# energy, from what the source put in the reading. Imported by those two formats only.
from channels import channel_role
from json_writer import is_number

_PHASE_NAMES = ("L1", "L2", "L3")


def grid_phases(reading, ctx):
    """The channels that are the grid's phases, as [(label "L1".."L3", channel)]: channels named
    L1..L3 (HAN meters), else the ATM90E32 channels whose role is "grid", in order (a split-phase
    board's two legs become L1 and L2). At most three."""
    phases = []
    for channel in reading.channels:
        if channel.name in _PHASE_NAMES:
            phases.append((channel.name, channel))
    if phases:
        return phases
    for channel in reading.channels:
        if len(phases) < 3 and channel_role(channel, ctx) == "grid":
            phases.append((_PHASE_NAMES[len(phases)], channel))
    return phases


def net_power(reading, phases=None):
    """Net grid power in W (+ import), else None: the reading's own; or import minus export
    (HAN meters send those two separately); or the sum over `phases` when each has power."""
    if is_number(reading.power):
        return reading.power
    if is_number(reading.import_power) and is_number(reading.export_power):
        return reading.import_power - reading.export_power
    if not phases:
        return None
    total = 0
    for _label, channel in phases:
        if not is_number(channel.power):
            return None
        total += channel.power
    return total


def grid_energy(reading, phases, attr):
    """A lifetime counter (attr "import_wh" / "export_wh") of the grid: the reading's own, or
    the sum over `phases` when each has it; None otherwise."""
    own = getattr(reading, attr)
    if type(own) is int:
        return own
    if not phases:
        return None
    total = 0
    for _label, channel in phases:
        value = getattr(channel, attr)
        if type(value) is not int:
            return None
        total += value
    return total
