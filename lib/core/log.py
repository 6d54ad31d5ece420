# Minimal levelled logging to the console (the REPL UART on a board, stdout on the sim board).
# Callers pass format arguments separately, so a suppressed debug line builds no string.
# Never pass a secret: config values reach logs only through config_schema.redact().
from micropython import const

_DEBUG = const(10)
_INFO = const(20)
_WARNING = const(30)
_ERROR = const(40)

level = _INFO  # lines below this level are not printed


def _log(lvl, tag, fmt, args):
    if lvl >= level:
        print(tag, fmt % args if args else fmt)


def debug(fmt, *args):
    _log(_DEBUG, "D", fmt, args)


def info(fmt, *args):
    _log(_INFO, "I", fmt, args)


def warning(fmt, *args):
    _log(_WARNING, "W", fmt, args)


def error(fmt, *args):
    _log(_ERROR, "E", fmt, args)
