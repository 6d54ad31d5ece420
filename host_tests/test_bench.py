# tools/bench.py (make bench) runs and prints its table: a smoke run with --quick. A benchmark
# is not a test: the figures are not checked, only that every row is there and usage errors
# are reported without a traceback.
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(REPO, "tools", "bench.py")
sys.path.insert(0, os.path.join(REPO, "tools"))

import deploy  # noqa: E402

ROWS = (
    "HAN decode, CPython, ours",
    "HAN decode, CPython, amshan 2.1.1",
    "HAN decode speed-up vs amshan",
    "HAN push -> Reading, CPython",
    "HAN decode, MicroPython unix port, ours",
    "HAN push -> Reading, MicroPython unix port",
    "HAN heap per push, decode to JSON",
    "HAN heap per push, HanSource",
    "frame end -> MQTT delivered (loopback)",
    "last byte read -> MQTT delivered",
    "frame end -> MQTT delivered, TCP_NODELAY",
    "frame end -> MQTT delivered, ROMFS small heap",
    "heap budgets",
)


def run_bench(*args, timeout=300):
    # --no-install: a test must not change the venv; amshan's cells then say "not available"
    # unless make bench installed it before.
    return subprocess.run([sys.executable, BENCH] + list(args), capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)


def table_rows(stdout):
    """{figure: value} of the printed table (the columns are separated by two spaces)."""
    lines = stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("figure "))
    value_col = lines[header].index("value")
    notes_col = lines[header].index("notes")
    rows = {}
    for line in lines[header + 2:]:
        figure = line[:value_col].strip()
        if figure:
            rows[figure] = line[value_col:notes_col].strip()
    return rows


def test_quick_run_prints_every_row():
    result = run_bench("--quick", "--no-install")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert result.stdout.startswith("make bench, ")
    rows = table_rows(result.stdout)
    for figure in ROWS:
        assert figure in rows, (figure, sorted(rows))
        assert rows[figure], figure  # a figure, "not available" or "skipped", never blank
    for board in deploy.BOARDS:
        assert rows[".mpy size, " + board].endswith(" KB"), board
    # tools/ram_report.py: a row per board module set, or one "not available" row
    boot = [figure for figure in rows if figure.startswith("boot heap, ")]
    assert boot or rows.get("boot free heap per board") == "not available", sorted(rows)
    atm = [figure for figure in rows if figure.startswith("ATM90E32 cycle, ")]
    assert atm, sorted(rows)
    for figure in atm:
        assert "SPI tx" in rows[figure], (figure, rows[figure])
    # The measurements that need nothing but this repo must have produced numbers.
    for figure in ("HAN decode, CPython, ours", "HAN decode, MicroPython unix port, ours"):
        assert rows[figure].endswith("µs/frame"), (figure, rows[figure])
    assert rows["HAN heap per push, HanSource"].endswith("B median")
    assert rows["frame end -> MQTT delivered (loopback)"].endswith("ms median")


def test_help_and_usage_errors():
    result = run_bench("--help", timeout=60)
    assert result.returncode == 0
    assert "usage: bench.py" in result.stdout and "--quick" in result.stdout
    for args in (("--runs", "0"), ("--runs", "many"), ("--bogus",), ("extra",)):
        result = run_bench(*args, timeout=60)
        assert result.returncode == 2, (args, result.returncode)
        assert "Traceback" not in result.stderr, args
        assert "usage: bench.py" in result.stderr, args
