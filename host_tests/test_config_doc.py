"""CPython-only: the README settings table is the one tools/config_doc.py generates from the
schema, and every setting has its one-line help."""

import os
import subprocess
import sys

import config_doc
import config_schema as cs
import support

TOOL = os.path.join(support.REPO, "tools", "config_doc.py")


def test_every_setting_has_help_and_every_help_a_setting():
    texts = config_doc.help_texts()
    schema_keys = [fields[0] for fields in cs.rows()]
    assert list(texts) == schema_keys  # same keys, same order
    for key, text in texts.items():
        assert text and "|" not in text, key


def test_table_has_one_row_per_schema_row():
    table = config_doc.settings_table()
    lines = table.strip().split("\n")
    rows = list(cs.rows())
    assert len(lines) == 2 + len(rows)
    for line, fields in zip(lines[2:], rows):
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        assert len(cells) == 7, line
        assert cells[0] == "`%s`" % fields[0].replace("#", "<n>")
        assert (cells[4] == "yes") == ("s" in fields[3]), line
        assert (cells[5] == "yes") == ("r" in fields[3]), line
    assert "`mqtt.password` | string | `\"\"` | up to 64 chars | yes |" in table


def test_readme_settings_section_matches_the_schema():
    path = os.path.join(support.REPO, "README.md")
    if not os.path.exists(path):
        support.skip("README.md does not exist yet")
    with open(path, encoding="utf-8") as f:
        section = config_doc.section(f.read())
    if section is None:
        support.skip("README.md has no %s / %s markers yet" % (config_doc.START, config_doc.END))
    if not section.strip():
        support.skip("README.md settings section is empty: run "
                     "`python tools/config_doc.py --update README.md`")
    assert section == config_doc.settings_table(), (
        "README.md settings table is stale: run `python tools/config_doc.py --update README.md`")


def _run(*args):
    return subprocess.run([sys.executable, TOOL, *args], capture_output=True, text=True,
                          timeout=60)


def test_cli(tmp_path):
    result = _run()
    assert result.returncode == 0 and result.stdout == config_doc.settings_table()
    assert _run("--help").returncode == 0
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\n%s\n%s\nafter\n" % (config_doc.START, config_doc.END))
    result = _run("--check", str(readme))
    assert result.returncode == 1 and "out of date" in result.stderr
    assert _run("--update", str(readme)).returncode == 0
    text = readme.read_text()
    assert config_doc.section(text) == config_doc.settings_table()
    assert text.startswith("# x\n\n") and text.endswith("%s\nafter\n" % config_doc.END)
    assert _run("--check", str(readme)).returncode == 0
    readme.write_text("no markers\n")
    result = _run("--check", str(readme))
    assert result.returncode == 2 and "markers" in result.stderr
    assert "Traceback" not in result.stderr
    result = _run("--check", str(tmp_path / "missing.md"))
    assert result.returncode == 2 and "cannot read" in result.stderr
    assert _run("--bogus").returncode == 2
