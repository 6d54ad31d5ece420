"""`make deploy` against a virtual board: the unix port behind a pty (socat), whose filesystem is
its working folder; then that board boots the deployed firmware and publishes readings."""

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

import mp_env
from broker import Broker
from mqtt_observer import Observer, wait_until

DEVICE = "deployed"


def _virtual_board(tmp_path, binary):
    if not shutil.which("socat"):
        pytest.fail("socat is missing: make setup installs it")
    folder = tmp_path / "board"
    folder.mkdir()
    dev = str(tmp_path / "ttyVB")
    env = {k: v for k, v in os.environ.items() if k != "MICROPYPATH"}
    proc = subprocess.Popen(
        ["socat", "pty,raw,echo=0,link=%s" % dev, "exec:%s,pty,raw,echo=0" % binary],
        cwd=str(folder), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert wait_until(lambda: os.path.exists(dev), timeout=10)
    time.sleep(0.3)
    return proc, folder, dev


@pytest.fixture
def virtual_board(tmp_path):
    proc, folder, dev = _virtual_board(tmp_path, mp_env.micropython_binary())
    yield folder, dev
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def frozen_board(tmp_path):
    """A virtual board running an image with the sim firmware frozen in (the 32-bit ESP8266
    build of boards/manifests/sim.py), as a board flashed with `make firmware`'s image."""
    binary = mp_env.binary("esp8266", "frozen", "sim")
    proc, folder, dev = _virtual_board(tmp_path, binary)
    yield binary, folder, dev
    proc.terminate()
    proc.wait(timeout=10)


def make_deploy(*args):
    return subprocess.run(["make", "-s", "deploy"] + list(args), cwd=mp_env.REPO,
                          capture_output=True, text=True, timeout=300)


def test_deploy_to_a_virtual_board_which_then_boots_and_publishes(virtual_board, tmp_path):
    folder, dev = virtual_board
    with Broker() as broker:
        config = tmp_path / "site.json"
        config.write_text(json.dumps({"device_id": DEVICE,
                                      "mqtt": {"host": broker.host, "port": broker.port}}))
        result = make_deploy("BOARD=sim", "PORT=" + dev, "CONFIG=%s" % config, "RESET=0")
        assert result.returncode == 0, result.stdout + result.stderr
        files = sorted(os.listdir(folder))
        assert "main.py" in files and "site.json" in files
        lib = sorted(os.listdir(folder / "lib"))
        assert "app.mpy" in lib and "han_framer.mpy" in lib and "atm90e32.mpy" in lib
        assert not [name for name in lib if name.endswith(".py")]  # compiled, not source
        assert "micropython.mpy" not in lib  # the CPython stand-in never goes to a board
        assert (folder / "lib" / "boards" / "sim.mpy").exists()
        assert json.loads((folder / "site.json").read_text())["board"] == "sim"

        # A second deploy sends only what changed (mpremote compares hashes).
        again = make_deploy("BOARD=sim", "PORT=" + dev, "CONFIG=%s" % config, "RESET=0")
        assert again.returncode == 0, again.stderr

        # Boot the board: its own main.py in its own folder, no host module path.
        observer = Observer(broker, ["meters/%s/#" % DEVICE])
        env = {k: v for k, v in os.environ.items() if k != "MICROPYPATH"}
        board = subprocess.Popen([mp_env.micropython_binary(), "main.py"], cwd=str(folder),
                                 env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True)
        try:
            assert wait_until(lambda: observer.payloads("meters/%s/state" % DEVICE),
                              timeout=40), board.stdout.read() if board.poll() is not None else ""
            assert observer.payloads("meters/%s/status" % DEVICE)[-1] == b"online"
            state = json.loads(observer.payloads("meters/%s/state" % DEVICE)[-1])
            assert state["src"] == "atm90e32" and "CT1" in state["ch"]
        finally:
            board.send_signal(2)
            board.wait(timeout=20)
        observer.close()


def test_deploy_frozen_copies_only_main_and_the_site_settings_and_the_board_runs(frozen_board,
                                                                                  tmp_path):
    binary, folder, dev = frozen_board
    with Broker() as broker:
        config = tmp_path / "site.json"
        config.write_text(json.dumps({"device_id": DEVICE, "source": "han",
                                      "mqtt": {"host": broker.host, "port": broker.port}}))
        result = make_deploy("BOARD=sim", "PORT=" + dev, "CONFIG=%s" % config, "RESET=0",
                             "FROZEN=1")
        assert result.returncode == 0, result.stdout + result.stderr
        assert sorted(os.listdir(folder)) == ["main.py", "site.json"]
        assert "frozen image" in result.stdout

        # Boot it: main.py from its folder, every other module from the image.
        observer = Observer(broker, ["meters/%s/#" % DEVICE])
        env = {k: v for k, v in os.environ.items() if k != "MICROPYPATH"}
        env["SIM_HAN"] = os.path.join(tmp_path, "han.bin")
        from han_capture import load_pushes, write_replay

        write_replay(load_pushes(os.path.join(mp_env.REPO, "host_tests", "data",
                                              "han_frames.jsonl")), env["SIM_HAN"])
        env["SIM_HAN_BAUD"] = "0"
        env["SIM_HAN_INTERVAL_MS"] = "200"
        board = subprocess.Popen([binary, "-X", "heapsize=96K", "main.py"], cwd=str(folder),
                                 env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True)
        try:
            assert wait_until(lambda: observer.payloads("meters/%s/state" % DEVICE),
                              timeout=40), board.stdout.read() if board.poll() is not None else ""
            state = json.loads(observer.payloads("meters/%s/state" % DEVICE)[-1])
            assert state["src"] == "han"
        finally:
            board.send_signal(2)
            board.wait(timeout=20)
        observer.close()


def test_deploy_without_a_reachable_board_fails_with_one_clear_line(tmp_path):
    result = make_deploy("BOARD=sim", "PORT=%s" % (tmp_path / "no-such-tty"))
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines()
              if line.strip() and not line.startswith("make")]
    assert len(errors) == 1, result.stderr
    assert "no board" in errors[0] and "Traceback" not in result.stderr


def test_deploy_refuses_an_unknown_board_and_a_bad_config(tmp_path):
    result = make_deploy("BOARD=toaster", "PORT=/dev/null")
    assert result.returncode != 0 and "unknown board" in result.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    result = make_deploy("BOARD=sim", "PORT=/dev/null", "CONFIG=%s" % bad)
    assert result.returncode != 0 and "not valid JSON at byte 1" in result.stderr
    assert "Traceback" not in result.stderr
    # what the board would refuse at boot is refused here already
    for content, cause in ((b'{"device_id": "a",}', "not valid JSON at byte 17: trailing comma"),
                           (b'{"device_id": "\\ud800"}', "not valid UTF-8 at byte 15"),
                           (b'{"device_id": "\xc0\xaf"}', "not valid UTF-8 at byte 15"),
                           (b'{"a": 1, "a": 2}', "duplicate name")):
        bad.write_bytes(content)
        result = make_deploy("BOARD=sim", "PORT=/dev/null", "CONFIG=%s" % bad)
        assert result.returncode != 0 and cause in result.stderr, (content, result.stderr)
        assert "Traceback" not in result.stderr


def test_flash_without_an_image_or_for_the_pico_says_what_to_do(tmp_path):
    def make_flash(*args):
        return subprocess.run(["make", "-s", "flash"] + list(args), cwd=mp_env.REPO,
                              capture_output=True, text=True, timeout=300)

    result = make_flash("BOARD=esp32_split", "PORT=/dev/null", "IMAGE=%s" % (tmp_path / "x.bin"))
    assert result.returncode != 0 and "download the MicroPython image" in result.stderr
    result = make_flash("BOARD=picow_ct6", "PORT=/dev/null")
    assert result.returncode != 0 and "BOOTSEL" in result.stderr
    assert "Traceback" not in result.stderr


def test_package_json_is_current_and_mip_installs_the_libraries(virtual_board):
    folder, dev = virtual_board
    check = subprocess.run([sys.executable, "tools/gen_package_json.py", "--check"],
                           cwd=mp_env.REPO, capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    result = subprocess.run(
        [os.path.join(os.path.dirname(mp_env.micropython_binary()), "mpremote"), "connect", dev,
         "resume", "mip", "install", "--target", "lib",
         os.path.join(mp_env.REPO, "package.json")],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    installed = sorted(os.listdir(folder / "lib"))
    assert "atm90e32.py" in installed and "han_framer.py" in installed
    # the installed libraries import on their own (nothing missing from the manifest)
    env = {k: v for k, v in os.environ.items() if k != "MICROPYPATH"}
    run = subprocess.run([mp_env.micropython_binary(), "-c",
                          "import sys; sys.path.append('lib'); import han_stream, atm90e32, "
                          "dlms, gcm; print('ok')"],
                         cwd=str(folder), env=env, capture_output=True, text=True, timeout=60)
    assert run.stdout.strip() == "ok", run.stdout + run.stderr
