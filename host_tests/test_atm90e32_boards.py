"""The ATM90E32 board modules (esp32_split, esp32_6ch, picow_ct6) on CPython with a stand-in
`machine` whose SPI is the register-level emulator: each chip sits behind the CS pin the board
file names, so the test checks pins, bus settings and the channel-to-chip mapping end to end
through the firmware's source."""

import importlib
import sys
import time
import types

import pytest

from atm90e32_source import Atm90e32Source
from boards.sim_atm90e32 import Load, ManualClock, SimSPI

BOARD_INTERFACE = ("NAME", "MODEL", "SOURCES", "HEAP_BYTES", "unique_id", "watchdog",
                   "network_up", "han_uart", "spi_chips", "identify", "reset", "reset_cause")


class FakeMachine(types.ModuleType):
    """Just enough of `machine` for the board modules; SPI buses are SimSPI, and a Pin whose
    number has chip loads registered is that chip's chip-select."""

    PWRON_RESET = 1
    HARD_RESET = 2
    WDT_RESET = 3
    DEEPSLEEP_RESET = 4
    SOFT_RESET = 5

    def __init__(self, clock, chips_by_cs):
        super().__init__("machine")
        self.clock = clock
        self.chips_by_cs = chips_by_cs
        self.buses = []
        self.spi_args = []
        self.pins = {}
        self.pin_writes = []
        self.wdt_timeouts = []
        self.cause = self.PWRON_RESET
        machine = self

        class Pin:
            OUT = 1
            IN = 0

            def __new__(cls, ident, mode=None, value=None):
                if ident in machine.chips_by_cs and mode == Pin.OUT:
                    assert value == 1, "a CS pin must start high (deselected)"
                    cs = machine.buses[-1].add_chip(loads=machine.chips_by_cs[ident])
                    machine.pins[ident] = cs
                    return cs
                pin = object.__new__(cls)
                pin.ident = ident
                if value is not None:
                    machine.pin_writes.append((ident, value))
                return pin

            def value(self, level=None):
                if level is not None:
                    machine.pin_writes.append((self.ident, level))

        class SPI:
            MSB = 0
            LSB = 1

            def __new__(cls, ident, baudrate, polarity, phase, bits, firstbit, sck, mosi, miso):
                machine.spi_args.append({"id": ident, "baudrate": baudrate,
                                         "mode": (polarity, phase), "firstbit": firstbit,
                                         "pins": (sck.ident, mosi.ident, miso.ident)})
                bus = SimSPI(baudrate=baudrate, polarity=polarity, phase=phase,
                             clock=machine.clock)
                machine.buses.append(bus)
                return bus

        class WDT:
            def __init__(self, timeout):
                machine.wdt_timeouts.append(timeout)

            def feed(self):
                pass

        self.Pin = Pin
        self.SPI = SPI
        self.WDT = WDT

    def unique_id(self):
        return b"\x01\x02\x03\x04\x05\x06"

    def reset_cause(self):
        return self.cause


@pytest.fixture
def rig(monkeypatch):
    """load(board_name, chips_by_cs) -> (board module, fake machine, clock)."""
    clock = ManualClock(1000)
    wifi_calls = []
    wifi = types.ModuleType("boards.wifi")
    wifi.up = lambda ssid, password, timeout_ms: wifi_calls.append(
        (ssid, password, timeout_ms)) or True
    monkeypatch.setitem(sys.modules, "boards.wifi", wifi)
    monkeypatch.setattr(time, "sleep_ms", clock.sleep_ms, raising=False)

    def load(name, chips_by_cs):
        machine = FakeMachine(clock, chips_by_cs)
        monkeypatch.setitem(sys.modules, "machine", machine)
        sys.modules.pop("boards." + name, None)
        # boards.hardware holds the machine module it imported: import it afresh
        sys.modules.pop("boards.hardware", None)
        if "boards" in sys.modules:
            monkeypatch.delattr(sys.modules["boards"], "hardware", raising=False)
        module = importlib.import_module("boards." + name)
        monkeypatch.setattr(sys.modules["boards"], "wifi", wifi, raising=False)
        module.wifi_calls = wifi_calls
        return module, machine, clock

    yield load
    for name in ("esp32_split", "esp32_6ch", "picow_ct6", "hardware"):
        sys.modules.pop("boards." + name, None)


def run_source(board, config, clock):
    source = Atm90e32Source(board.spi_chips(config), config.get("atm90e32"), clock=clock,
                            sleep_ms=clock.sleep_ms)
    source.read()
    clock.advance(1000)
    assert source.read()
    return source, source.reading


def loads(volts, *amps):
    return tuple(Load(volts, a) for a in amps)


def test_ct6_chip_selects_map_to_their_ports(rig):
    board, machine, clock = rig("picow_ct6", {22: (Load(240.0, 1.0), Load(0.0, 2.0),
                                                   Load(0.0, 3.0)),
                                              5: (Load(235.0, 4.0), Load(0.0, 5.0),
                                                  Load(0.0, 6.0))})
    assert machine.spi_args == []  # nothing touches hardware at import
    source, reading = run_source(board, {"atm90e32": {}}, clock)
    assert machine.spi_args == [{"id": 0, "baudrate": 200000, "mode": (1, 1), "firstbit": 0,
                                 "pins": (2, 3, 4)}]
    assert machine.pin_writes[:2] == [(19, 0), (19, 1)]  # both chips hardware-reset first
    for number, name in enumerate(("CT1", "CT2", "CT3", "CT4", "CT5", "CT6"), start=1):
        assert reading.channel(name).current == pytest.approx(number, abs=0.001)
    # each chip measures voltage on V1 only: ChannelMapU routes it to all three phases
    for name in ("CT1", "CT2", "CT3"):
        assert reading.channel(name).voltage == pytest.approx(240.0, abs=0.01)
    for name in ("CT4", "CT5", "CT6"):
        assert reading.channel(name).voltage == pytest.approx(235.0, abs=0.01)
    assert machine.pins[22].chip.peek(0x02) == 0x0444


def test_ct6_watchdog_is_clamped_to_the_rp2040_limit(rig):
    board, machine, clock = rig("picow_ct6", {})
    board.watchdog(30000)
    assert machine.wdt_timeouts == [8388]


def test_6ch_chip_selects_map_to_their_ports_with_the_board_gains(rig):
    board, machine, clock = rig("esp32_6ch", {5: loads(230.0, 1.0, 2.0, 3.0),
                                              4: loads(230.0, 4.0, 5.0, 6.0)})
    source, reading = run_source(board, {"atm90e32": {"ct5": {"igain": 0x8000}}}, clock)
    assert machine.spi_args[0]["id"] == 2 and machine.spi_args[0]["pins"] == (18, 23, 19)
    assert machine.spi_args[0]["mode"] == (1, 1) and machine.spi_args[0]["baudrate"] <= 1000000
    assert [c.name for c in reading.channels] == ["CT1", "CT2", "CT3", "CT4", "CT5", "CT6"]
    first, second = machine.pins[5].chip, machine.pins[4].chip
    assert first.peek(0x61) == 7305 and first.peek(0x62) == 27518
    assert second.peek(0x66) == 0x8000  # CT5's configured gain wins over the board default
    # the emulated chips read true at 0x8000: the board gains scale the readings
    assert reading.channel("CT5").current == pytest.approx(5.0, abs=0.001)
    assert reading.channel("CT4").current == pytest.approx(4.0 * 27518 / 0x8000, abs=0.002)
    assert reading.channel("CT1").voltage == pytest.approx(230.0 * 7305 / 0x8000, abs=0.01)


def test_split_phase_uses_phases_a_and_c_and_the_addon_only_when_configured(rig):
    board, machine, clock = rig("esp32_split", {5: loads(120.0, 1.0, 9.0, 2.0),
                                                4: loads(120.0, 3.0, 9.0, 4.0)})
    source, reading = run_source(board, {"atm90e32": {"ct1": {"igain": 0x8000},
                                                      "ct2": {"igain": 0x8000}}}, clock)
    assert [c.name for c in reading.channels] == ["CT1", "CT2"]
    assert reading.channel("CT1").current == pytest.approx(1.0, abs=0.001)
    assert reading.channel("CT2").current == pytest.approx(2.0, abs=0.001)  # phase C
    assert 4 not in machine.pins
    board, machine, clock = rig("esp32_split", {5: loads(120.0, 1.0, 9.0, 2.0),
                                                4: loads(120.0, 3.0, 9.0, 4.0)})
    config = {"atm90e32": {"addon_chip": True, "ct3": {"igain": 0x8000},
                           "ct4": {"igain": 0x8000}}}
    source, reading = run_source(board, config, clock)
    assert [c.name for c in reading.channels] == ["CT1", "CT2", "CT3", "CT4"]
    assert reading.channel("CT3").current == pytest.approx(3.0, abs=0.001)
    assert reading.channel("CT4").current == pytest.approx(4.0, abs=0.001)


@pytest.mark.parametrize("name", ["esp32_split", "esp32_6ch", "picow_ct6"])
def test_board_interface(rig, name):
    board, machine, clock = rig(name, {})
    for attribute in BOARD_INTERFACE:
        assert hasattr(board, attribute), attribute
    assert board.NAME == name and board.SOURCES == ("atm90e32",)
    assert board.unique_id() == b"\x01\x02\x03\x04\x05\x06"
    assert board.reset_cause() == "power_on"
    machine.cause = machine.WDT_RESET
    assert board.reset_cause() == "watchdog"
    machine.cause = 99
    assert board.reset_cause() == "unknown"
    assert board.network_up({"wifi": {"ssid": "home", "password": "secret"}})
    ssid, password, timeout_ms = board.wifi_calls[-1]
    assert (ssid, password) == ("home", "secret") and timeout_ms <= 5000
    with pytest.raises(OSError):
        board.han_uart({})
