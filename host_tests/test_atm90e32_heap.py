# portable
# The raw register sweep of one read cycle allocates nothing once warmed up: proved with
# micropython.heap_lock() under the unix port (any allocation then raises MemoryError).
# Two chips on one bus, as on the CT6 and the 6-channel board; the emulated bus and chips sit
# under the driver, so they are held to the same rule.
import support
from atm90e32 import ATM90E32
from boards.sim_atm90e32 import Load, ManualClock, SimSPI


def _meters():
    clock = ManualClock(1000)
    spi = SimSPI(clock=clock)
    loads = (Load(230.0, 10.0, 0.9), Load(230.0, 3.0, 0.7, export=True), Load(229.0, 0.2))
    meters = []
    for _ in range(2):
        meter = ATM90E32(spi, spi.add_chip(loads=loads), sleep_ms=clock.sleep_ms)
        meter.init()
        meters.append(meter)
    clock.advance(1000)
    return clock, meters


def _cycle(meters):
    for meter in meters:
        meter.sweep()
        meter.update_energy()


def _allocates(function):
    """True if calling function() allocates (build the callable before: that allocates)."""
    import micropython

    micropython.heap_lock()
    try:
        function()
        failed = False
    except MemoryError:
        failed = True
    micropython.heap_unlock()
    return failed


def test_read_cycle_allocates_nothing_after_warm_up():
    if not support.running_on_micropython():
        support.skip("heap_lock needs MicroPython")
    clock, meters = _meters()
    clock.advance(320)  # past a window boundary: the emulator refreshes in the warm-up
    _cycle(meters)  # warm-up
    def cycle():
        _cycle(meters)

    for _ in range(5):
        assert not _allocates(cycle)
    assert meters[0].raw[0] != 0  # it did read: 230 V on phase A
    total = meters[0].energy_counts(0)[0] + meters[1].energy_counts(0)[0]
    assert total > 0


def test_the_check_itself_catches_an_allocation():
    if not support.running_on_micropython():
        support.skip("heap_lock needs MicroPython")
    clock, meters = _meters()
    meter = meters[0]

    def volts():
        meter.voltage(0)  # a float result is an allocation

    assert _allocates(volts)
