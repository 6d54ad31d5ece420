# Minimal levelled logging to the console (the REPL UART on a board, stdout on the sim board).
# Callers pass format arguments separately, so a suppressed debug line builds no string.
# Never pass a secret: config values reach logs only through config_schema.redact().

DEBUG = 10
INFO = 20
WARNING = 30
ERROR = 40

level = INFO
_NAMES = {DEBUG: "D", INFO: "I", WARNING: "W", ERROR: "E"}


def log(lvl, fmt, *args):
    if lvl < level:
        return
    print(_NAMES.get(lvl, "?"), fmt % args if args else fmt)


def debug(fmt, *args):
    log(DEBUG, fmt, *args)


def info(fmt, *args):
    log(INFO, fmt, *args)


def warning(fmt, *args):
    log(WARNING, fmt, *args)


def error(fmt, *args):
    log(ERROR, fmt, *args)
