# CPython stand-in for MicroPython's built-in `micropython` module.
# On MicroPython the built-in module always wins over a file of the same name, so this file is
# only ever imported by CPython (host tests, host tools). It is never deployed to a board.


def const(value):
    return value
