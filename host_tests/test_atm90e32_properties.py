"""Property tests (CPython, hypothesis) for the ATM90E32 driver and source over the emulator:
readings match the load for any load, energy is exact for any read schedule, a corrupted energy
read is always recovered, and every settings object the config schema accepts makes a working
source (the source trusts its settings: the schema is the one place that checks them)."""

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from atm90e32 import ATM90E32
from atm90e32_source import Atm90e32Source
from boards.sim_atm90e32 import Load, ManualClock, SimSPI

loads = st.builds(
    Load,
    volts=st.floats(0.0, 600.0),
    amps=st.floats(0.0, 60.0),
    pf=st.floats(0.0, 1.0),
    export=st.booleans(),
    leading=st.booleans(),
)


def meter_with(load, **kwargs):
    clock = ManualClock(1000)
    spi = SimSPI(clock=clock)
    cs = spi.add_chip(loads=(load, Load(), Load()))
    meter = ATM90E32(spi, cs, sleep_ms=clock.sleep_ms, **kwargs)
    meter.init()
    clock.advance(320)
    return clock, cs.chip, meter


@settings(max_examples=60, deadline=None)
@given(loads, st.booleans())
def test_readings_match_any_load(load, reverse):
    clock, chip, meter = meter_with(load, reverse=(reverse, False, False))
    sign = -1 if reverse else 1
    # the 16-bit RMS register is the top of a 32-bit word (the rest is in the LSB register)
    assert abs(meter.voltage(0) - load.volts) <= 0.01 + 1e-9
    assert abs(meter.current(0) - load.amps) <= 0.001 + 1e-9
    va = load.volts * load.amps
    watts = va * load.pf * (-1 if load.export else 1)
    var = va * math.sqrt(max(0.0, 1 - load.pf**2))
    if load.export != load.leading:
        var = -var
    # powers are published at 0.01 W from counts of 0.00032 W: half of each, at most
    assert abs(meter.active_power(0) - sign * watts) <= 0.005 + 0.00032
    assert abs(meter.reactive_power(0) - sign * var) <= 0.005 + 0.00032
    assert abs(meter.apparent_power(0) - va) <= 0.005 + 0.00032
    # DS: 0.32 mW/LSB; rounded half away from zero to hundredths
    raw = chip.power_raw(0)
    centi = (abs(raw) * 32 + 500) // 1000
    assert meter.power_centi(0, 0) == sign * (centi if raw >= 0 else -centi)
    assert meter.active_power(0) == meter.power_centi(0, 0) / 100
    if va > 1.0:
        # PF register = round(1000 P / S) from the quantised powers: 1/2000 plus their error
        assert abs(meter.power_factor(0) - sign * watts / va) <= 0.0005 + 0.001 / va


@settings(max_examples=40, deadline=None)
@given(loads, st.lists(st.integers(1, 8000), min_size=1, max_size=60), st.booleans())
def test_energy_is_exact_for_any_read_schedule(load, steps, corrupt):
    clock, chip, meter = meter_with(load)
    meter.update_energy()
    start = meter.energy_counts(0)
    for i, step in enumerate(steps):
        clock.advance(step)
        if corrupt and i % 3 == 0:
            chip.corrupt_reads(1, mask=0x5A5A)  # recovered from LastSPIData (AN §2)
        meter.update_energy()
    end = meter.energy_counts(0)
    watts = chip.power_raw(0) * 0.00032
    magnitude = abs(chip.power_raw(0)) + abs(chip._power[5])  # phase A's Q
    if magnitude < 0x02EE:  # below the per-phase startup threshold nothing is metered
        expected = 0.0
    else:
        expected = abs(watts) * sum(steps) / 11250
    counted = end[0] - start[0] if watts >= 0 else end[1] - start[1]
    assert abs(counted - expected) < 1 + 1e-6
    other = end[1] - start[1] if watts >= 0 else end[0] - start[0]
    assert other == 0


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10**15), st.integers(0, 10**15))
def test_seeded_counts_round_trip(imported, exported):
    clock, chip, meter = meter_with(Load())
    meter.seed_energy(2, imported, exported)
    assert meter.energy_counts(2) == (imported, exported)
    assert meter.import_wh(2) == imported // 320 and meter.export_wh(2) == exported // 320


channel_settings = st.fixed_dictionaries({}, optional={
    "name": st.text(st.characters(min_codepoint=32, blacklist_categories=("Cs",),
                                    blacklist_characters="\x7f"), max_size=24),
    "ugain": st.integers(0, 65535), "igain": st.integers(0, 65535),
    "reversed": st.booleans(), "role": st.sampled_from(["grid", "load", "solar", "off"])})
source_settings = st.fixed_dictionaries({}, optional={
    "line_freq": st.sampled_from([50, 60]), "pga_gain": st.sampled_from([1, 2, 4]),
    "ct1": channel_settings, "ct2": channel_settings, "ct3": channel_settings,
    "ct4": channel_settings})


@settings(max_examples=80, deadline=None)
@given(source_settings)
def test_every_setting_the_schema_accepts_makes_a_working_source(raw):
    import json

    import config_schema

    result, config = config_schema.apply_change(config_schema.defaults(),
                                                json.dumps({"atm90e32": raw}).encode())
    assert result["ok"], result
    clock = ManualClock(1000)
    spi = SimSPI(clock=clock)
    cs = spi.add_chip(loads=(Load(230.0, 1.0), Load(230.0, 2.0), Load(230.0, 3.0)))
    source = Atm90e32Source([(spi, cs, ("CT1", "CT2", "CT3"))], config["atm90e32"],
                            clock=clock, sleep_ms=clock.sleep_ms)
    source.read()
    clock.advance(1000)
    assert source.read()
    assert [c.name for c in source.reading.channels] == ["CT1", "CT2", "CT3"]
    for n, channel in enumerate(source.reading.channels):
        given = raw.get("ct%d" % (n + 1), {})
        assert channel.role == given.get("role", "grid")
        assert channel.label == given.get("name", "")
        if channel.role != "off":
            assert channel.voltage is not None
