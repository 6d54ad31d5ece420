"""Command-line values shared by the host tools (sim.py, configure.py, record.py). CPython only.

Both raise ValueError with a one-line reason; each tool turns that into its usage error.
"""

import json


def parse_broker(text, default_port=None):
    """'[user:password@]host:port' (the port optional when default_port is given) ->
    (host, port, user, password)."""
    user = password = ""
    if "@" in text:
        credentials, text = text.rsplit("@", 1)
        if ":" not in credentials:
            raise ValueError("credentials must be user:password")
        user, password = credentials.split(":", 1)
    host, sep, port = text.rpartition(":")
    if not sep and default_port is not None:
        host, port = text, str(default_port)
    if not host:
        raise ValueError("expected [user:password@]host:port")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("port must be a number from 1 to 65535")
    return host.strip("[]"), int(port), user, password


def parse_assignments(pairs):
    """['a.b=1', 'c=x'] -> {"a": {"b": 1}, "c": "x"}: VALUE is JSON when it parses, else text."""
    tree = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key or key.startswith(".") or key.endswith(".") or ".." in key:
            raise ValueError("expected KEY=VALUE, got %r" % pair)
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        node = tree
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError("%s is set both as a value and as a group" % key)
        if isinstance(node.get(parts[-1]), dict):
            raise ValueError("%s is set both as a value and as a group" % key)
        node[parts[-1]] = value
    return tree
