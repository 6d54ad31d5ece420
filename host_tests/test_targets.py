"""Targets and module modes (tools/mp_env.py), the board catalog and the frozen manifests, and
the CLIs built on them: tools/sim.py --target/--modules, make firmware."""

import os
import subprocess
import sys

import pytest

import deploy
import mp_env
import mp32_firmware
import typecheck

REPO = mp_env.REPO
SIM = os.path.join(REPO, "tools", "sim.py")
HAN_CAPTURE = os.path.join(REPO, "host_tests", "data", "han_frames.jsonl")
CATALOG = mp_env.catalog()

# Prints where the firmware's modules and the emulated hardware were loaded from.
_WHERE = """
import sys
import app
import boards.sim
from boards.sim_uart import ReplayUart
import umqtt.simple
for name in ("app", "boards.sim", "boards.sim_uart", "umqtt.simple"):
    print(name, "=", sys.modules[name].__file__)
"""


def _where(tmp_path, target, modules):
    script = tmp_path / "where.py"
    script.write_text(_WHERE)
    argv, env = mp_env.command(str(script), target=target, modules=modules, heap="512K")
    result = subprocess.run(argv, env=env, cwd=str(tmp_path), capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return dict(line.split(" = ") for line in result.stdout.splitlines() if " = " in line)


@pytest.mark.parametrize("target", ("esp8266", "esp32"))
@pytest.mark.parametrize("modules", ("source", "mpy", "frozen"))
def test_32bit_targets_freeze_the_hardware_and_load_the_firmware_per_mode(tmp_path, target,
                                                                          modules):
    where = _where(tmp_path, target, modules)
    # Frozen modules carry their manifest-relative name, loaded ones a real path.
    assert where["boards.sim_uart"] == "boards/sim_uart.py", where
    assert where["umqtt.simple"] == "umqtt/simple.py", where
    if modules == "source":
        assert where["app"] == os.path.join(REPO, "firmware", "app.py")
        assert where["boards.sim"] == os.path.join(REPO, "boards", "sim.py")
    elif modules == "mpy":
        assert where["app"].endswith("/tree/lib/app.mpy"), where
        assert where["boards.sim"].endswith("/tree/lib/boards/sim.mpy"), where
    else:
        assert where["app"] == "app.py" and where["boards.sim"] == "boards/sim.py", where


@pytest.mark.parametrize("target", ("host", "esp8266"))
def test_romfs_mode_runs_the_firmware_modules_from_the_image(tmp_path, target):
    where = _where(tmp_path, target, "romfs")
    assert where["app"] == "/rom/lib/app.mpy" and where["boards.sim"] == "/rom/lib/boards/sim.mpy"


def test_host_source_mode_is_the_module_path_it_always_was():
    argv, env = mp_env.command("x.py", heap="64K", args=["a"], extra_path=["/t"])
    assert argv == [mp_env.micropython_binary(), "-X", "heapsize=64K", "x.py", "a"]
    assert env["MICROPYPATH"] == mp_env.micropython_path(["/t"])
    assert mp_env.DEFAULT_MODULES == {"host": "source", "esp8266": "frozen", "esp32": "mpy"}


def test_impossible_targets_and_modes_are_refused_with_one_line():
    for target, modules, board, words in (("esp9", None, "sim", "unknown target"),
                                          ("host", "flash", "sim", "unknown module mode"),
                                          ("host", "frozen", "sim", "no frozen modules"),
                                          ("esp32", "mpy", "toaster", "unknown board")):
        with pytest.raises(mp_env.TargetError) as e:
            mp_env.command("x.py", target=target, modules=modules, board=board)
        assert words in str(e.value) and "\n" not in str(e.value)


def test_no_32bit_source_is_one_clear_line(tmp_path, monkeypatch):
    import mp32_build

    monkeypatch.setattr(mp32_build, "SHARED_BUILD", str(tmp_path / "nowhere" / "build.sh"))
    monkeypatch.delenv("MICROPY_SRC", raising=False)
    with pytest.raises(mp32_build.BuildError) as e:
        mp32_build.binary("esp8266")
    assert "MICROPY_SRC" in str(e.value) and "\n" not in str(e.value)
    monkeypatch.setenv("MICROPY_SRC", str(tmp_path))
    with pytest.raises(mp32_build.BuildError) as e:
        mp32_build.binary("esp8266")
    assert "not a MicroPython checkout" in str(e.value)


def _sim(*args, timeout=300):
    return subprocess.run([sys.executable, SIM] + list(args), cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.parametrize("args, words", [
    (["--target", "esp9"], "invalid choice"),
    (["--modules", "flash"], "invalid choice"),
    (["--target", "host", "--modules", "frozen"], "no frozen modules"),
    (["--heap", "3x"], "bad --heap"),
    (["--target"], "expected one argument"),
])
def test_sim_usage_errors_are_one_line_and_exit_2(args, words):
    result = _sim(*args, timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and lines[0].startswith("sim: "), result.stderr


def test_sim_help_names_the_targets_and_modes():
    result = _sim("--help", timeout=60)
    assert result.returncode == 0
    for word in ("--target", "esp8266", "--modules", "frozen", "--heap"):
        assert word in result.stdout


def test_sim_runs_the_han_firmware_frozen_on_the_esp8266_build(tmp_path):
    result = _sim("--target", "esp8266", "--modules", "frozen", "--heap", "96K",
                  "--han", HAN_CAPTURE, "--han-baud", "0", "--han-interval", "0.2",
                  "--duration", "8", "--state-dir", str(tmp_path / "state"))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    readings = [line for line in result.stdout.splitlines() if line.startswith("reading ")]
    assert readings and " p=" in readings[-1], output
    assert "Traceback" not in output


def test_make_firmware_without_a_checkout_says_so_in_one_line():
    result = subprocess.run(["make", "-s", "firmware", "BOARD=d1mini_han", "MICROPY_SRC="],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    ours = [line for line in result.stderr.splitlines() if line.startswith("firmware:")]
    assert len(ours) == 1 and "MICROPY_SRC" in ours[0], result.stderr


@pytest.mark.parametrize("board, missing", [("d1mini_han", "xtensa-lx106-elf-gcc"),
                                            ("esp32_han", "IDF_PATH"),
                                            ("picow_ct6", "arm-none-eabi-gcc")])
def test_make_firmware_names_the_missing_toolchain(tmp_path, board, missing):
    checkout = tmp_path / "micropython"
    for port in ("esp8266", "esp32", "rp2"):
        (checkout / "ports" / port).mkdir(parents=True)
        (checkout / "ports" / port / "Makefile").write_text("")
    env = {k: v for k, v in os.environ.items() if k != "IDF_PATH"}
    env["PATH"] = "/usr/bin:/bin"  # make and the venv's python only: no board toolchain
    result = subprocess.run(["make", "-s", "firmware", "BOARD=" + board,
                             "MICROPY_SRC=%s" % checkout], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    ours = [line for line in result.stderr.splitlines() if line.startswith("firmware:")]
    assert len(ours) == 1 and missing in ours[0], result.stderr
    assert "Traceback" not in result.stderr


def test_firmware_plan_builds_the_port_image_with_the_board_manifest(tmp_path):
    checkout = tmp_path / "micropython"
    (checkout / "ports" / "esp8266").mkdir(parents=True)
    (checkout / "ports" / "esp8266" / "Makefile").write_text("")
    port, commands, image = mp32_firmware.plan("d1mini_han", str(checkout))
    assert port == "esp8266" and image.endswith("build/firmware/d1mini_han/firmware.bin")
    build = commands[-1]
    assert "BOARD=ESP8266_GENERIC" in build
    assert "FROZEN_MANIFEST=%s" % os.path.join(REPO, "boards", "manifests", "d1mini_han.py") \
        in build
    assert mp32_firmware.missing_toolchain("esp8266", which=lambda name: "/x/" + name) is None
    assert "xtensa" in mp32_firmware.missing_toolchain("esp8266", which=lambda name: None)


# -- the board catalog and the manifests ----------------------------------------------------

class _Options:
    def __init__(self, values):
        self.__dict__.update(values)

    def defaults(self, **values):
        for key, value in values.items():
            self.__dict__.setdefault(key, value)


def frozen_by(manifest):
    """The module names a manifest freezes, and the port manifests/packages it pulls in, run
    with a stand-in for MicroPython's manifest functions."""
    names, external = set(), []

    def run(path, **options):
        path = os.path.abspath(path)
        api = {"module": module, "package": package, "include": include,
               "require": lambda name, **kw: external.append("require " + name),
               "options": _Options(options)}
        previous = os.getcwd()
        os.chdir(os.path.dirname(path))
        try:
            with open(path) as f:
                exec(f.read(), api)
        finally:
            os.chdir(previous)

    def module(path, base_path="."):
        assert os.path.isfile(os.path.join(base_path, path)), path
        names.add(path[:-3])

    def package(name, files=None, base_path="."):
        for folder, _, filenames in os.walk(os.path.join(base_path, name)):
            rel = os.path.relpath(folder, base_path)
            names.update(os.path.join(rel, n)[:-3] for n in filenames if n.endswith(".py"))

    def include(path, **options):
        if path.startswith("$("):
            external.append("include " + path)
        else:
            run(path, **options)

    run(manifest)
    return names, external


def deployed_modules(board, tmp_path):
    tree = deploy.compile_tree(board, str(tmp_path / board))
    lib = os.path.join(tree, "lib")
    names = set()
    for folder, _, filenames in os.walk(lib):
        names.update(os.path.relpath(os.path.join(folder, n), lib)[:-4]
                     for n in filenames if n.endswith(".mpy"))
    return names


@pytest.mark.parametrize("board", sorted(CATALOG.BOARDS))
def test_each_boards_manifest_freezes_what_make_deploy_installs(board, tmp_path, monkeypatch):
    manifest = mp_env.board_manifest(board)
    monkeypatch.setenv("MP32_UNIX_BUILD", "1")
    unix, _ = frozen_by(manifest)
    umqtt = {"umqtt/__init__", "umqtt/simple"}
    assert unix == deployed_modules(board, tmp_path) | umqtt  # unix builds freeze umqtt always
    if CATALOG.BOARDS[board]["port"] == "unix":
        return
    monkeypatch.delenv("MP32_UNIX_BUILD")
    port, external = frozen_by(manifest)
    assert port == deployed_modules(board, tmp_path) - umqtt
    assert any(line.startswith("include $(") for line in external), external  # port's own
    if CATALOG.BOARDS[board]["port"] != "esp32":  # the ESP32 port's manifest has umqtt
        assert "require umqtt.simple" in external


def test_stock_manifest_holds_only_the_hardware_and_umqtt():
    names, external = frozen_by(mp_env.STOCK_MANIFEST)
    assert names == {"boards/__init__", "boards/sim_uart", "boards/sim_atm90e32",
                     "umqtt/__init__", "umqtt/simple"}
    assert not external


def test_the_board_list_lives_in_the_catalog():
    assert deploy.BOARDS is CATALOG.BOARDS
    on_a_port = [b for b, spec in CATALOG.BOARDS.items() if spec["port"] != "unix"]
    for board in on_a_port:
        spec = CATALOG.BOARDS[board]
        assert set(spec["modules"]) <= set(typecheck.PORT_BOARDS[spec["port"]]), board
    for board in CATALOG.BOARDS:
        assert os.path.isfile(mp_env.board_manifest(board)), board
        assert os.path.isfile(os.path.join(REPO, "boards", board + ".py")), board
    # lib/config/config_schema.py holds the names as text (it runs on the boards, which never
    # get the catalog); they must match.
    with open(os.path.join(REPO, "lib", "config", "config_schema.py")) as f:
        row = [line.split() for line in f if line.startswith("board ")][0]
    assert row[-1].split("|") == list(CATALOG.BOARDS)
