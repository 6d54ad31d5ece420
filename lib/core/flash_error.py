# A flash write's OSError in words, for logs and MQTT answers: the one place the firmware and its
# libraries turn an errno into what a user can act on. Imported only when a write failed
# (app._RARE_MODULES).


def describe(error):
    """"flash full" (ENOSPC), "read-only" (EROFS), else the errno's name ("EIO"): MicroPython's
    str() of an OSError is the bare number ("28")."""
    code = error.args[0] if error.args else None
    if code == 28:
        return "flash full"
    if code == 30:
        return "read-only"
    import errno

    return errno.errorcode.get(code) or str(error)
