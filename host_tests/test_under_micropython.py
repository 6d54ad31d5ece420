"""Runs every portable test module (first line `# portable`) under the MicroPython unix port."""

import os
import subprocess

import pytest

import mp_env

HERE = os.path.dirname(os.path.abspath(__file__))


def portable_modules():
    names = []
    for filename in sorted(os.listdir(HERE)):
        if filename.startswith("test_") and filename.endswith(".py"):
            with open(os.path.join(HERE, filename)) as f:
                if f.readline().strip() == "# portable":
                    names.append(filename[:-3])
    return names


@pytest.mark.parametrize("module", portable_modules())
def test_portable_module_passes_under_micropython(module):
    result = subprocess.run(
        mp_env.micropython_command(os.path.join(HERE, "mp_runner.py"), args=[module]),
        env=mp_env.micropython_env(extra_path=[HERE]),
        cwd=mp_env.REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert " 0 failed" in output, output
