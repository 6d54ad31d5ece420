"""Runs every portable test module (first line `# portable`) under MicroPython: the host's unix
port (64-bit, double floats) and the 32-bit builds configured like the ESP8266 and the ESP32
(float32; tools/mp_env.py), modules from source."""

import os
import subprocess

import pytest

import mp_env

HERE = os.path.dirname(os.path.abspath(__file__))
TARGETS = ("host", "esp8266", "esp32")


def portable_modules():
    names = []
    for filename in sorted(os.listdir(HERE)):
        if filename.startswith("test_") and filename.endswith(".py"):
            with open(os.path.join(HERE, filename)) as f:
                if f.readline().strip() == "# portable":
                    names.append(filename[:-3])
    return names


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("module", portable_modules())
def test_portable_module_passes_under_micropython(module, target):
    argv, env = mp_env.command(os.path.join(HERE, "mp_runner.py"), target=target,
                               modules="source", args=[module], extra_path=[HERE])
    result = subprocess.run(argv, env=env, cwd=mp_env.REPO, capture_output=True, text=True,
                            timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert " 0 failed" in output, output
