#!/usr/bin/env python3
"""Print the README's settings table, generated from the config schema
(lib/config/config_schema.py).

The README holds the table between the lines `<!-- settings:start -->` and
`<!-- settings:end -->`; a test checks that it matches what this prints.

usage: config_doc.py              print the markdown table
       config_doc.py --check F    exit 1 if F's settings section differs from the table
       config_doc.py --update F   rewrite F's settings section with the table
"""

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import mp_env  # noqa: E402

mp_env.use_module_path()
import config_schema  # noqa: E402  (needs the path above)

START = "<!-- settings:start -->"
END = "<!-- settings:end -->"


def help_texts():
    """{schema key: one-line help}, from config_schema.settings_help's docstring."""
    texts = {}
    for line in (config_schema.settings_help.__doc__ or "").splitlines()[1:]:
        key, sep, text = line.strip().partition(": ")
        if sep:
            texts[key] = text
    return texts


def _limits(fields):
    kind, flags, spec = fields[1], fields[3], fields[4]
    if kind == "choice":
        return ", ".join(f"`{c}`" for c in spec.split("|"))
    if kind == "bool":
        return ""
    lo, hi = spec.split("..")
    if kind != "str":
        return f"{lo} to {hi}"
    if "x" in flags:
        if lo == hi:
            return f"empty or {lo} hex digits"
        if "k" in flags:
            return f"empty or {lo} or {hi} hex digits"
        return f"empty or {lo} to {hi} hex digits (an even count)"
    text = f"{lo} to {hi} chars" if lo != "0" else f"up to {hi} chars"
    if "i" in flags:
        text += " of `A-Z a-z 0-9 _ -`"
    if "t" in flags:
        text += "; no `+`, `#`, leading or trailing `/`"
    return text


def _default(fields):
    value = config_schema.default(fields)
    if fields[1] == "bool":
        return "true" if value else "false"
    if fields[1] == "str":
        return f'`"{value}"`'
    return f"`{value}`"


def settings_table():
    """The markdown table of every setting (key, type, default, range or choices, secret,
    restart, help), one row per SCHEMA row; the six CT channels share one row."""
    texts = help_texts()
    lines = [
        "| Setting | Type | Default | Range / choices | Secret | Restart | Help |",
        "|---|---|---|---|---|---|---|",
    ]
    for fields in config_schema.rows():
        key, flags = fields[0], fields[3]
        text = texts.get(key, "")
        if "#" in key:
            text += " (`<n>` = 1 to 6)"
        if "l" in flags:
            text += "; rolled back if the broker is then unreachable"
        if "d" in flags:
            text += "; set at deploy time (over MQTT it can only be cleared)"
        cells = (
            "`" + key.replace("#", "<n>") + "`",
            "string" if fields[1] == "str" else fields[1],
            _default(fields),
            _limits(fields),
            "yes" if "s" in flags else "",
            "yes" if "r" in flags else "",
            text,
        )
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def section(text):
    """The text between the markers (without the marker lines), or None if they are missing."""
    start = text.find(START)
    end = text.find(END)
    if start < 0 or end < start:
        return None
    start = text.find("\n", start)
    if start < 0 or start >= end:
        return ""
    return text[start + 1:end]


def with_section(text, table):
    start = text.index(START) + len(START)
    end = text.index(END)
    return text[:start] + "\n" + table + text[end:]


def main(argv=None):
    p = argparse.ArgumentParser(description="Print the README settings table from the schema.")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--check", metavar="FILE", help="exit 1 if FILE's settings section differs")
    group.add_argument("--update", metavar="FILE", help="rewrite FILE's settings section")
    args = p.parse_args(argv)
    table = settings_table()
    path = args.check or args.update
    if not path:
        sys.stdout.write(table)
        return 0
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        print(f"config_doc: cannot read {path}: {e.strerror}", file=sys.stderr)
        return 2
    current = section(text)
    if current is None:
        print(f"config_doc: {path} has no {START} ... {END} markers", file=sys.stderr)
        return 2
    if args.check:
        if current != table:
            print(f"config_doc: {path} settings table is out of date "
                  f"(run tools/config_doc.py --update {path})", file=sys.stderr)
            return 1
        return 0
    if current != table:
        with open(path, "w", encoding="utf-8") as f:
            f.write(with_section(text, table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
