"""ATM90E32 read-cycle benchmark: SPI transactions and time per full read cycle.

`make bench` calls bench(): it measures on CPython in this process and on the MicroPython unix
port in a subprocess (this same file, whose measure() runs on both), and prints one table,
every time figure the median of several runs. Rows:
  driver, stub bus   the driver's sweep() + update_energy() for one chip over a bus that answers
                     instantly: the driver's own CPU cost per chip and cycle
  source, stub bus   Atm90e32Source.read() for two chips (CT6 / 6-channel board) over that bus:
                     the firmware's whole cost per cycle, including filling the Reading
  source, emulated   the same over the register-level emulator with the house load: adds the
                     emulator's byte-level bus and load model, which real SPI hardware does not
                     cost (and which allocates: its figure is not the firmware's)
Wire time: transactions x 32 clocks at the bus rate, what the SPI lines themselves take on a
board (200 kHz: CT6 and older drivers; 1 MHz: the ESP32 boards here).
usage: bench_atm90e32.py [--runs N]
"""

import sys

_MICROPYTHON = sys.implementation.name == "micropython"


def _paths():
    if _MICROPYTHON:
        return
    import os

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for path in (os.path.join(repo, "lib", "core"), os.path.join(repo, "lib", "atm90e32"), repo):
        if path not in sys.path:
            sys.path.insert(0, path)


def _timer():
    import time

    if _MICROPYTHON:
        return time.ticks_us, time.ticks_diff
    return (lambda: time.perf_counter_ns() // 1000), (lambda a, b: a - b)


def _median(values):
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


class _StubSPI:
    """A register file that answers at once: reads return what was written (1 for everything
    else, so MeterEn and the energy registers read 1), LastSPIData the last data word, and
    SoftReset clears MeterEn. The driver runs its normal path with no emulation cost."""

    def __init__(self):
        from array import array

        self.transactions = 0
        self.registers = array("H", [1] * 0x400)
        self.address = 0
        self.last = 0

    def write(self, buf):
        address = ((buf[0] & 0x03) << 8) | buf[1]
        if len(buf) == 2:
            self.address = address  # the address word of a read
            return
        value = (buf[2] << 8) | buf[3]
        self.last = value
        if address == 0x70:
            self.registers[0] = 0  # soft reset: MeterEn back to 0
        else:
            self.registers[address] = value

    def readinto(self, buf, write=0):
        value = self.last if self.address == 0x78 else self.registers[self.address]
        self.last = value
        buf[0] = value >> 8
        buf[1] = value & 0xFF


class _StubPin:
    def __init__(self, spi):
        self.spi = spi

    def value(self, level=None):
        if level == 0:
            self.spi.transactions += 1


def _time_cycles(cycle, cycles):
    now, diff = _timer()
    start = now()
    for _ in range(cycles):
        cycle()
    return diff(now(), start) / cycles


def measure(runs=5, cycles=40):
    """Rows of (label, transactions per cycle, median us per cycle, bytes allocated per cycle
    or None): portable, runs on CPython and the unix port."""
    _paths()
    from atm90e32 import ATM90E32
    from atm90e32_source import Atm90e32Source
    from boards.sim_atm90e32 import HouseLoad, ManualClock, SimSPI

    rows = []

    stub = _StubSPI()
    meter = ATM90E32(stub, _StubPin(stub), sleep_ms=lambda ms: None)

    def driver_cycle():
        meter.sweep()
        meter.update_energy()

    rows.append(_row("driver, stub bus, 1 chip", driver_cycle, stub, runs, cycles))

    stub_chips = [(stub, _StubPin(stub), ("CT1", "CT2", "CT3")),
                  (stub, _StubPin(stub), ("CT4", "CT5", "CT6"))]
    stub_clock = ManualClock()
    stub_source = Atm90e32Source(stub_chips, {}, clock=stub_clock, sleep_ms=lambda ms: None)

    def stub_source_cycle():
        stub_clock.advance(1000)
        stub_source.read()

    rows.append(_row("source, stub bus, 2 chips", stub_source_cycle, stub, runs, cycles))

    for chips in (1, 2):
        clock = ManualClock(1000)
        spi = SimSPI(clock=clock)
        board = []
        for index in range(chips):
            loads = (HouseLoad("grid"), HouseLoad("solar"), HouseLoad("heat_pump"))
            names = tuple("CT%d" % (3 * index + n) for n in (1, 2, 3))
            board.append((spi, spi.add_chip(loads=loads), names))
        source = Atm90e32Source(board, {}, clock=clock, sleep_ms=clock.sleep_ms)
        source.read()
        clock.advance(1000)
        source.read()

        def source_cycle(clock=clock, source=source):
            clock.advance(1000)  # one cycle per second, as on the board
            source.read()

        label = "source, emulated bus, %d chip%s" % (chips, "s" if chips > 1 else "")
        rows.append(_row(label, source_cycle, spi, runs, cycles))
    return rows


def _row(label, cycle, bus, runs, cycles):
    cycle()  # warm-up: first-time allocations, chip init
    before = bus.transactions
    cycle()
    transactions = bus.transactions - before
    times = [_time_cycles(cycle, cycles) for _ in range(runs)]
    return (label, transactions, _median(times), _allocated(cycle))


def _allocated(cycle):
    """Bytes the heap grew by during one cycle (MicroPython only; None on CPython)."""
    if not _MICROPYTHON:
        return None
    import gc

    samples = []
    for _ in range(5):
        gc.collect()
        before = gc.mem_alloc()
        cycle()
        samples.append(gc.mem_alloc() - before)
    return _median(samples)


def _print_table(results):
    print("ATM90E32 read cycle (median of runs; wire time = transactions x 32 clocks)")
    header = "%-32s %-10s %6s %12s %12s %10s %10s"
    print(header % ("what", "runtime", "SPI tx", "us/cycle", "bytes/cycle", "wire@200k",
                    "wire@1M"))
    for runtime, rows in results:
        for label, transactions, micros, allocated in rows:
            print(header % (
                label, runtime, transactions, "%.0f" % micros,
                "-" if allocated is None else str(allocated),
                "%.1f ms" % (transactions * 32 / 200.0),
                "%.2f ms" % (transactions * 32 / 1000.0),
            ))


def _micropython_rows(runs):
    import json
    import os
    import subprocess

    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    import mp_env

    code = ("import sys, json\nsys.path.insert(0, %r)\nimport bench_atm90e32\n"
            "print(json.dumps(bench_atm90e32.measure(%d)))\n" % (here, runs))
    result = subprocess.run(
        [mp_env.micropython_binary(), "-c", code],
        env=mp_env.micropython_env(extra_path=[here]),
        cwd=mp_env.REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        raise RuntimeError("unix port run failed: %s" % (result.stderr.strip()[-300:],))
    return [tuple(row) for row in json.loads(result.stdout.strip().splitlines()[-1])]


def bench(runs=5):
    """Print the table (what `make bench` shows). Returns 0, or 1 if the unix port failed."""
    results = [("CPython", measure(runs))]
    status = 0
    try:
        results.append(("unix port", _micropython_rows(runs)))
    except (OSError, RuntimeError, ValueError) as error:
        print("bench_atm90e32: MicroPython unix port not measured: %s" % error)
        status = 1
    _print_table(results)
    return status


def main(argv):
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per figure (median)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be >= 1")
    return bench(args.runs)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
