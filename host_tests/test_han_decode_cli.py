"""CPython-only: tools/han_decode.py as users run it, under CPython and under the MicroPython
unix port (the device's decoder code), including the whole corpus 20 times in a limited heap
with byte-identical output on both: on the 64-bit port from source and from ROMFS, and on the
32-bit ESP8266-like build with the decoder (and lib/han/han_cli.py, the CLI itself) frozen in."""

import json
import os
import struct
import subprocess
import sys

import han_build as build
import han_corpus_check as check
import mp_env
import mp_romfs
import pytest
import support

CLI = os.path.join(support.REPO, "tools", "han_decode.py")
# The unix port holds the compiled decoder in its heap, and compiling the largest module from
# source needs more heap than running it (tests/test_config_memory.py: the 64-bit port needs
# about twice a board's heap): the smallest source heap that passes is 96K (tools/han_decode.py
# imports the decoder before lib/han/han_cli.py so the largest modules compile in an empty heap),
# plus one 8K step. See test_han_heap.py for what decoding itself costs.
SOURCE_HEAP = "104K"
# The decoder's modules in a ROMFS image (tools/mp_romfs.py: bytecode runs from flash, as on a
# ROMFS or frozen-module board): the smallest 64-bit heap that passes is 48K, plus one 8K step.
# Output is written piece by piece, each value's text made when it is written (no table of
# value strings: many small strings alive at once fragment the heap), hex input decoded from
# one reused buffer; with the smaller decoder modules that took the need from 136K to 48K.
ROMFS_HEAP = "56K"
# The 32-bit ESP8266-like build with the sim board's firmware frozen in (tools/mp_env.py target
# esp8266, modules frozen): lib/han/han_cli.py, the decoder and the report run from flash; only the
# entry script is compiled into the heap. Smallest passing heap measured: 20K (18K: MemoryError
# at start-up); 40K before the report was written value by value (the table of value strings
# fragmented the heap) and the CLI moved into a module. 24K: the ESP8266's 38 KB less boot and
# WiFi, with 4K of margin.
FROZEN_HEAP = "24K"


def _run(args, stdin=None, micropython=False, heap=None, env=None, romfs=False, frozen=False):
    if frozen:
        cmd, env = mp_env.command(CLI, target="esp8266", modules="frozen", board="sim",
                                  heap=heap, args=args)
    elif romfs:
        cmd, env = mp_romfs.romfs_command(CLI, args, heap=heap)
    elif micropython:
        cmd = mp_env.micropython_command(CLI, heap=heap, args=args)
    else:
        cmd = [sys.executable, CLI] + list(args)
    result = subprocess.run(cmd, input=stdin, capture_output=True, timeout=300, env=env,
                            cwd=support.REPO)
    return result.returncode, result.stdout.decode(), result.stderr.decode()


def _stream(entries):
    return b"".join(check.entry_bytes(e) for e in entries
                    if e.get("framing") != "apdu-only")


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("han") / "corpus.hex"
    lines = [check.entry_bytes(e).hex() for e in support.han_corpus()
             if e.get("framing") != "apdu-only"]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.mark.parametrize("micropython", [False, True])
def test_help_and_usage_errors(micropython):
    code, out, err = _run(["--help"], micropython=micropython)
    assert code == 0
    assert "usage: han_decode.py [--key HEX] [--auth-key HEX] [--apdu] [FILE|-]" in out
    for args in (["--bogus"], ["--key"], ["--key", "xyz"], ["a", "b"], ["/no/such/file"],
                 ["--auth-key", "00"]):
        code, out, err = _run(args, micropython=micropython)
        assert code == 2, (args, out, err)
        assert "Traceback" not in err
        assert err.startswith("han_decode: ") and "usage:" in err, err
        assert out == ""
    # the keys are checked by the config schema's rows for han.key / han.auth_key, the option
    # named; blanks and colons between byte pairs are allowed
    for option in ("--key", "--auth-key"):
        code, out, err = _run([option, "00" * 15], stdin=b"", micropython=micropython)
        assert code == 2 and err.startswith(
            "han_decode: %s: must be empty or 32 or 64 hex digits\n" % option), err
    code, out, err = _run(["--key", ":".join(["0a"] * 16), "--auth-key", " ".join(["B1"] * 16)],
                          stdin=b"", micropython=micropython)
    assert (code, out, err) == (0, "", "")


@pytest.mark.parametrize("micropython", [False, True])
def test_hex_and_raw_input_give_the_same_pushes(corpus_file, micropython):
    with open(corpus_file, "rb") as f:
        hex_text = f.read()
    raw = _stream(support.han_corpus())
    code_hex, out_hex, err_hex = _run([corpus_file], micropython=micropython)
    code_raw, out_raw, err_raw = _run(["-"], stdin=raw, micropython=micropython)
    code_in, out_in, _ = _run([], stdin=hex_text, micropython=micropython)
    assert code_hex == code_raw == code_in == 0
    assert out_hex == out_raw == out_in
    pushes = [json.loads(line) for line in out_hex.splitlines()]
    assert len(pushes) >= 45
    assert all("obis" in p and "units" in p for p in pushes)
    # Every rejection is one line with its reason, never a traceback.
    assert "Traceback" not in err_hex
    assert all(line.startswith("han_decode: ") for line in err_hex.splitlines())
    assert any("FCS" in line for line in err_hex.splitlines())


@pytest.mark.parametrize("micropython", [False, True])
def test_keys_decrypt_the_published_encrypted_frames(micropython):
    corpus = check.corpus_by_id()
    for name in ("enc-lg-e450-at-gh501-2", "enc-kaifa-tinetz-at-doc"):
        entry = corpus[name]
        args = ["--key", entry["key_hex"]]
        if entry.get("ak_hex"):
            args += ["--auth-key", entry["ak_hex"]]
        code, out, err = _run(args + ["-"], stdin=check.entry_bytes(entry).hex().encode(),
                              micropython=micropython)
        assert code == 0, err
        pushes = [json.loads(line) for line in out.splitlines()]
        assert len(pushes) == 1, (out, err)
        assert check.expected_mismatches(entry, pushes[0]) == []


@pytest.mark.parametrize("micropython", [False, True])
def test_apdu_mode_one_hex_apdu_per_line(micropython):
    entry = check.corpus_by_id()["kamstrup-gh517-2-decrypted"]
    text = "%s\n\nnot hex\n%s\n" % (entry["hex"], " ".join(
        entry["hex"][i : i + 2] for i in range(0, len(entry["hex"]), 2)))
    code, out, err = _run(["--apdu"], stdin=text.encode(), micropython=micropython)
    assert code == 0
    pushes = [json.loads(line) for line in out.splitlines()]
    assert len(pushes) == 2
    assert check.expected_mismatches(entry, pushes[0]) == []
    assert err.count("\n") == 1 and "not hex" in err


@pytest.mark.parametrize("micropython", [False, True])
def test_empty_and_garbage_input_exit_zero(micropython):
    for data in (b"", b"\x00" * 3000, b"zz not hex at all \x7e\x7e\x68"):
        code, out, err = _run(["-"], stdin=data, micropython=micropython)
        assert code == 0, (data, err)
        assert out == ""
        assert "Traceback" not in err


def test_whole_corpus_twenty_times_same_output_under_micropython(corpus_file, tmp_path):
    with open(corpus_file) as f:
        text = f.read()
    big = tmp_path / "corpus20.hex"
    big.write_text(text * 20)
    code_c, out_c, err_c = _run([str(big)])
    code_m, out_m, err_m = _run([str(big)], micropython=True, heap=SOURCE_HEAP)
    assert code_c == 0 and code_m == 0, err_m[-500:]
    assert len(out_c.splitlines()) == 20 * len(_run([corpus_file])[1].splitlines())
    assert out_m == out_c
    assert err_m == err_c


def _corpus_twenty_times_as_on_cpython(corpus_file, tmp_path, **run):
    """The corpus 20 times through the CLI run as `run` says: the same output as CPython's."""
    with open(corpus_file) as f:
        text = f.read()
    big = tmp_path / "corpus20.hex"
    big.write_text(text * 20)
    code_c, out_c, err_c = _run([str(big)])
    code, out, err = _run([str(big)], **run)
    assert code_c == 0 and code == 0, err[-500:]
    assert len(out.splitlines()) >= 20 * 45
    assert out == out_c
    assert err == err_c


def test_whole_corpus_twenty_times_same_output_from_romfs(corpus_file, tmp_path):
    _corpus_twenty_times_as_on_cpython(corpus_file, tmp_path, heap=ROMFS_HEAP, romfs=True)


def test_whole_corpus_twenty_times_esp8266_frozen_at_24k_same_output(corpus_file, tmp_path):
    _corpus_twenty_times_as_on_cpython(corpus_file, tmp_path, heap=FROZEN_HEAP, frozen=True)


@pytest.mark.parametrize("micropython", [False, True])
def test_a_key_sent_twice_keeps_its_last_value_and_unit(micropython):
    # As a dict's update (the report writes values one by one, so this is its own logic): the
    # last line or item with a key sets its value, and its unit or none.
    telegram = build.telegram("ABC5 test", [
        "1-0:1.8.0(000100.000*kWh)", "0-0:96.1.1(AB)", "1-0:1.8.0(000200.500*kWh)",
        "1-0:32.7.0(230.0*V)", "0-0:96.1.1(CD)", "1-0:32.7.0(x)", "1-0:99.97.0(1)(0-0:96.7.19)",
        "(101208152415W)(0000000240*s)"])
    energy = b"\x01\x00\x01\x08\x00\xff"
    push = build.hdlc(build.notification(b"\x02\x03" + b"".join((
        build.register(energy, b"\x06\x00\x00\x00\x64", scaler=0, unit=30),
        build.register(b"\x00\x00\x60\x01\x00\xff", b"\x09\x02AB"),
        build.register(energy, b"\x06\x00\x00\x00\xc8")))))
    code, out, err = _run(["-"], stdin=telegram + push, micropython=micropython)
    assert code == 0, err
    dsmr, dlms = [json.loads(line) for line in out.splitlines()]
    assert dsmr["obis"] == {"1-0:1.8.0": 200.5, "0-0:96.1.1": "CD", "1-0:32.7.0": "x",
                            "1-0:99.97.0": ["1", "0-0:96.7.19", "101208152415W", "0000000240*s"]}
    assert dsmr["units"] == {"1-0:1.8.0": "kWh"}
    assert dlms["obis"] == {"1-0:1.8.0": 200, "0-0:96.1.0": "AB"}
    assert dlms["units"] == {}
    for result, line in zip((dsmr, dlms), out.splitlines()):
        # No key written twice: once under "obis", once more under "units" if it has one.
        assert line.count('"1-0:1.8.0"') == 1 + ("1-0:1.8.0" in result["units"])
        assert list(result["obis"]) == sorted(result["obis"])


@pytest.mark.parametrize("how", ["cpython", "micropython", "esp8266"])
def test_float_registers_are_scaled_like_integers_with_the_same_digits_everywhere(how):
    # A-XDR float32 (tag 23) and float64 (24) take their register's scaler and unit as the
    # integers do (IEC 62056-6-2 scaler_unit), printed from their bits to 7 and 15 significant
    # digits: the same text on CPython's doubles and a board's float32.
    def register(code, value, scaler, unit):
        return build.register(bytes(code) + b"\xff", value, scaler=scaler, unit=unit)

    push = build.hdlc(build.notification(b"\x02\x05" + b"".join((
        register((1, 0, 1, 7, 0), b"\x17" + struct.pack(">f", 1234.5), -1, 27),
        register((1, 0, 32, 7, 0), b"\x18" + struct.pack(">d", 230.1), 0, 35),
        register((1, 0, 31, 7, 0), b"\x17" + struct.pack(">f", 0.1), 0, 33),
        register((1, 0, 14, 7, 0), b"\x17" + struct.pack(">f", float("nan")), 0, 44),
        register((1, 0, 1, 8, 0), b"\x18" + struct.pack(">d", 1.5e20), 3, 30)))))
    code, out, err = _run(["-"], stdin=push, micropython=how == "micropython",
                          frozen=how == "esp8266", heap=FROZEN_HEAP if how == "esp8266" else None)
    assert code == 0, err
    assert out == ('{"format": "dlms", "obis": {"1-0:1.7.0": 123.45, "1-0:1.8.0": '
                   '150000000000000000000000, "1-0:14.7.0": null, "1-0:31.7.0": 0.1, '
                   '"1-0:32.7.0": 230.1}, "units": {"1-0:1.7.0": "W", "1-0:1.8.0": "Wh", '
                   '"1-0:31.7.0": "A", "1-0:32.7.0": "V"}}\n')
