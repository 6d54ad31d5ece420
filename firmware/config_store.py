# The config on flash, saved so that a reset at any moment leaves the old or the new config,
# never a mix and never the defaults by accident.
#
# Files, in the current directory ("/" on a board, the state directory on the sim board):
#   config.json  the config in force
#   config.bak   the config before the last save (the last good one)
#   config.tmp   a save in progress
#   config.ok    config.json's mark: it was validated when saved (config_saved.py, the boot's
#                fast path); removed before config.json changes, written after
# A save writes config.tmp and closes it, renames config.json to config.bak, then renames
# config.tmp to config.json, so at every moment config.json or config.bak holds a good config.
# os.rename is atomic on LittleFS (the default filesystem of the ESP8266, ESP32 and rp2 ports).
# FAT is not: MicroPython's rename there removes an existing target first, and FAT's own
# metadata updates are not power-fail safe, so boards should keep LittleFS. If config.json was
# not good at load time it is removed instead of becoming the backup, so config.bak stays good.
#
# load() reads config.json, else config.bak, else the defaults, and says which in its notice.
# A file may be partial (site settings written at deploy time, merged over the defaults) or
# from an older version (unknown keys are dropped, with a notice); a known key with a bad value
# makes the whole file unusable, so the next copy is tried.
import errno
import json
import os

import config_schema
import config_saved
import log
from micropython import const

CONFIG = config_saved.CONFIG
BACKUP = "config.bak"
TEMP = "config.tmp"
_MAX_FILE = const(8192)  # a config file is about 2 KB; anything far larger is not one


class Files:
    """The real filesystem, in `directory` ("" = the current directory). Tests swap in fakes."""

    def __init__(self, directory=""):
        self.prefix = directory + "/" if directory and directory[-1] != "/" else directory

    def open(self, name, mode):
        return open(self.prefix + name, mode)

    def rename(self, old, new):
        os.rename(self.prefix + old, self.prefix + new)

    def remove(self, name):
        os.remove(self.prefix + name)

    def size(self, name):
        return os.stat(self.prefix + name)[6]

    def sync(self, f):
        f.flush()
        if hasattr(os, "fsync"):  # CPython: push the data to the disk before the rename
            os.fsync(f.fileno())


def _missing(e):
    return e.args and e.args[0] == errno.ENOENT


class Store:
    def __init__(self, files=None):
        self.files = files if files is not None else Files()
        # Whether config.json holds a good config (so a save may keep it as the backup);
        # None until load() or a save found out.
        self.primary_good = None

    def read(self, name):
        """(config, dropped keys, None) from one file, or (None, [], why it is unusable)."""
        try:
            # The size first: MicroPython's read(n) allocates n bytes up front, and a file that
            # corruption made huge must not exhaust the heap at every boot.
            if self.files.size(name) > _MAX_FILE:
                return None, [], f"too large (over {_MAX_FILE} bytes)"
            f = self.files.open(name, "rb")
        except OSError as e:
            return None, [], "missing" if _missing(e) else f"unreadable ({e})"
        try:
            data = f.read()
        except OSError as e:
            return None, [], f"unreadable ({e})"
        finally:
            f.close()
        obj, error = config_schema.parse(data, None)
        if error:
            return None, [], error
        config, dropped, error = config_schema.load_dict(obj)
        if error:
            return None, [], "invalid: " + error
        return config, dropped, None

    def load(self):
        """(config, notice): notice is None when config.json was read as it is, else what
        happened (a fallback, dropped keys), for the firmware to publish."""
        config, dropped, error = self.read(CONFIG)
        self.primary_good = config is not None
        notes = []
        if config is None:
            config, dropped, backup_error = self.read(BACKUP)
            if config is not None:
                notes.append(f"{CONFIG} {error}: using {BACKUP} (the last good config)")
            else:
                config = config_schema.defaults()
                if error == "missing" and backup_error == "missing":
                    notes.append("no saved config: using the defaults")
                else:
                    notes.append(f"{CONFIG} {error}, {BACKUP} {backup_error}: using the defaults")
        if dropped:
            notes.append("dropped unknown keys: " + ", ".join(dropped))
        return config, "; ".join(notes) if notes else None

    def save(self, config):
        """Persist `config` (a valid config, as from load() or apply_change()).

        Raises OSError (flash full, I/O error) with the files as they were: config.json is
        only replaced by the final rename."""
        files = self.files
        # One string, one write: json.dump would write token by token (hundreds of small flash
        # writes). The firmware builds a string of this size anyway to publish the config.
        # CPython escapes non-ASCII, MicroPython writes it as UTF-8: both read back the same.
        data = json.dumps(config).encode()
        try:
            f = files.open(TEMP, "wb")
            try:
                f.write(data)
                files.sync(f)
            finally:
                f.close()
        except OSError:
            self._discard(TEMP)
            raise
        if self.primary_good is None:
            self.primary_good = self.read(CONFIG)[0] is not None
        try:
            if self.primary_good:
                files.rename(CONFIG, BACKUP)
            else:
                files.remove(CONFIG)  # not good: it must not replace a good backup
        except OSError as e:
            if not _missing(e):
                raise
        self._discard(config_saved.VALID)  # no moment with a mark for another file
        files.rename(TEMP, CONFIG)
        self.primary_good = True
        try:
            f = files.open(config_saved.VALID, "w")
            try:
                f.write(config_saved.mark(data))
            finally:
                f.close()
        except OSError as e:  # no mark: the next boot validates the config the long way
            log.warning("config: cannot mark the saved config: %s", e)

    def _discard(self, name):
        try:
            self.files.remove(name)
        except OSError as e:  # a failed cleanup must not hide the error being raised
            if not _missing(e):
                log.warning("config: cannot remove %s: %s", name, e)


_store = None


def _default():
    global _store
    if _store is None:
        _store = Store()
    return _store


def load():
    """(config, notice) from the current directory; see Store.load()."""
    return _default().load()


def save(config):
    """Persist `config` in the current directory; see Store.save()."""
    _default().save(config)
