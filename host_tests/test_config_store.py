# portable
# The config store: a save killed at any point leaves the old or the new config (never the
# defaults, never a mix); missing, corrupt or invalid files fall back to config.bak, then to the
# defaults, and say so; partial and older files load.
import io
import json
import os

import config_schema as cs
import config_saved
import config_store
from config_store import BACKUP, CONFIG, TEMP, Files, Store


class Killed(Exception):
    """The power went off (raised by the fake filesystems below)."""


class MemFile(io.IOBase):  # IOBase: MicroPython's json.dump writes only to streams
    def __init__(self, fs, name, mode):
        self.fs = fs
        self.name = name
        self.mode = mode
        self.pos = 0
        self.done = False  # closed (IOBase may call close() again when it is collected)

    def write(self, data):
        data = data.encode() if isinstance(data, str) else bytes(data)
        if self.fs.step():
            # Killed mid-write: only part of the data reached the flash.
            self.fs.files[self.name] += data[: len(data) // 2]
            raise Killed()
        self.fs.files[self.name] += data
        return len(data)

    def read(self, n=-1):
        data = self.fs.files[self.name]
        end = len(data) if n < 0 else min(len(data), self.pos + n)
        chunk = data[self.pos:end]
        self.pos = end
        return chunk if "b" in self.mode else chunk.decode()

    def flush(self):
        if self.fs.step():
            raise Killed()

    def close(self):
        if self.done:
            return
        self.done = True
        if self.fs.step():
            raise Killed()


class MemFiles:
    """A flat in-memory filesystem. Once `budget` operations have run, the next one "kills the
    power": it raises Killed, and so does every operation after it (a dead board does nothing)."""

    def __init__(self, files=None):
        self.files = dict(files or {})
        self.budget = None
        self.dead = False
        self.ops = 0

    def step(self):
        if self.dead:
            return True
        self.ops += 1
        if self.budget is not None:
            if self.budget == 0:
                self.dead = True
                return True
            self.budget -= 1
        return False

    def reboot(self):
        return MemFiles(self.files)

    def open(self, name, mode):
        if "w" in mode:
            if self.step():
                raise Killed()
            self.files[name] = b""
        elif name not in self.files:
            raise OSError(2, "ENOENT")
        return MemFile(self, name, mode)

    def rename(self, old, new):
        if self.step():
            raise Killed()
        if old not in self.files:
            raise OSError(2, "ENOENT")
        self.files[new] = self.files.pop(old)  # atomic, like LittleFS

    def remove(self, name):
        if self.step():
            raise Killed()
        if name not in self.files:
            raise OSError(2, "ENOENT")
        del self.files[name]

    def sync(self, f):
        f.flush()

    def size(self, name):
        if name not in self.files:
            raise OSError(2, "ENOENT")
        return len(self.files[name])


def _config(**changes):
    result, config = cs.apply_change(cs.defaults(), json.dumps(changes).encode(), local=True)
    assert result["ok"], result
    return config


OLD = {"publish_interval_s": 20, "mqtt": {"host": "old.lan", "password": "old-pw"},
       "atm90e32": {"ct1": {"name": "Old"}}}
NEW = {"publish_interval_s": 30, "mqtt": {"host": "new.lan", "password": "new-pw"},
       "atm90e32": {"ct1": {"name": "New"}, "ct2": {"role": "solar"}}}


def _file(config):
    return json.dumps(config).encode()


def _kill_at_every_step(initial_files, old, new):
    """Saves `new` over a store holding `old`, killed after 0, 1, 2, ... filesystem operations,
    until a save completes. After each kill a fresh store must load `old` or `new`."""
    outcomes = []
    k = 0
    while True:
        fs = MemFiles(initial_files)
        store = Store(fs)
        loaded, _ = store.load()
        assert loaded == old
        fs.budget = k
        try:
            store.save(new)
            completed = True
        except Killed:
            completed = False
        after, notice = Store(fs.reboot()).load()
        assert after == old or after == new, (k, fs.files)
        outcomes.append("new" if after == new else "old")
        if completed:
            assert after == new and notice is None
            # And the save after that keeps working (the previous config becomes the backup).
            again = _config(publish_interval_s=99)
            store2 = Store(fs.reboot())
            store2.load()
            store2.save(again)
            assert Store(store2.files.reboot()).load()[0] == again
            break
        k += 1
        assert k < 10000
    # The test only means something if kills hit both before and after the switch.
    assert outcomes[0] == "old" and outcomes[-1] == "new", outcomes
    return outcomes


def test_kill_at_every_point_of_a_save():
    old, new = _config(**OLD), _config(**NEW)
    outcomes = _kill_at_every_step({CONFIG: _file(old)}, old, new)
    assert len(outcomes) > 4  # open, writes, flush, close, renames


def test_kill_at_every_point_with_an_older_backup():
    older, old, new = _config(publish_interval_s=5), _config(**OLD), _config(**NEW)
    _kill_at_every_step({CONFIG: _file(old), BACKUP: _file(older)}, old, new)


def test_kill_at_every_point_while_running_from_the_backup():
    # config.json is corrupt, so the config in force came from config.bak: the corrupt file
    # must never become the backup (a kill would then leave nothing good).
    old, new = _config(**OLD), _config(**NEW)
    _kill_at_every_step({CONFIG: b'{"publish_interval_s": 3', BACKUP: _file(old)}, old, new)
    _kill_at_every_step({BACKUP: _file(old), TEMP: b"{"}, old, new)


def test_kill_at_every_point_of_the_first_save():
    _kill_at_every_step({}, cs.defaults(), _config(**NEW))


def test_kill_at_every_point_after_a_partial_first_boot_file():
    site = {"mqtt": {"host": "site.lan"}, "wifi": {"ssid": "home"}}
    old = _config(**site)
    _kill_at_every_step({CONFIG: json.dumps(site).encode()}, old, _config(**NEW))


def test_two_kills_in_a_row():
    old, new, newer = _config(**OLD), _config(**NEW), _config(publish_interval_s=60)
    for k1 in range(12):
        fs = MemFiles({CONFIG: _file(old)})
        store = Store(fs)
        store.load()
        fs.budget = k1
        try:
            store.save(new)
        except Killed:
            pass
        fs = fs.reboot()
        store = Store(fs)
        first, _ = store.load()
        assert first in (old, new)
        for k2 in range(12):
            fs2 = fs.reboot()
            store2 = Store(fs2)
            store2.load()
            fs2.budget = k2
            try:
                store2.save(newer)
            except Killed:
                pass
            after, _ = Store(fs2.reboot()).load()
            assert after in (first, newer), (k1, k2)


def test_missing_files_fall_back_to_defaults_and_say_so():
    config, notice = Store(MemFiles()).load()
    assert config == cs.defaults()
    assert "no saved config" in notice


def test_corrupt_config_falls_back_to_the_backup():
    good = _config(**OLD)
    for bad in (b"", b"{", b"\xff\xfe", b"[1, 2]", b'"text"', b"null",
                b'{"mqtt": {"port": 0}}',  # valid JSON, invalid value
                b'{"publish_interval_s": "10"}',
                b" " * 9000):  # absurdly large
        config, notice = Store(MemFiles({CONFIG: bad, BACKUP: _file(good)})).load()
        assert config == good, bad
        assert CONFIG in notice and BACKUP in notice, notice


def test_both_corrupt_fall_back_to_defaults():
    config, notice = Store(MemFiles({CONFIG: b"{", BACKUP: b'{"mqtt": 5}'})).load()
    assert config == cs.defaults()
    assert CONFIG in notice and BACKUP in notice and "defaults" in notice
    config, notice = Store(MemFiles({BACKUP: b"garbage"})).load()
    assert config == cs.defaults() and "missing" in notice and "invalid JSON" in notice


def test_unknown_keys_from_older_versions_are_dropped_with_a_notice():
    stored = {"publish_interval_s": 15, "mqtt": {"host": "x.lan", "qos": 1}, "legacy": {"a": 1}}
    config, notice = Store(MemFiles({CONFIG: json.dumps(stored).encode()})).load()
    assert config["publish_interval_s"] == 15 and config["mqtt"]["host"] == "x.lan"
    assert cs.validate(config) is None
    assert "dropped unknown keys" in notice and "mqtt.qos" in notice and "legacy" in notice


def test_partial_first_boot_file_merges_over_defaults():
    site = {"wifi": {"ssid": "home", "password": "pw"}, "mqtt": {"host": "b.lan"},
            "security": {"secret": "ab" * 16}}  # deploy may set the secret
    config, notice = Store(MemFiles({CONFIG: json.dumps(site).encode()})).load()
    assert notice is None
    assert config["wifi"]["ssid"] == "home" and config["security"]["secret"] == "ab" * 16
    assert config["publish_interval_s"] == 10 and cs.validate(config) is None


def test_failed_write_leaves_the_files_as_they_were():
    class FullFiles(MemFiles):
        def open(self, name, mode):
            f = MemFiles.open(self, name, mode)
            if "w" in mode:
                def write(data):
                    raise OSError(28, "ENOSPC")

                f.write = write
            return f

    old = _config(**OLD)
    fs = FullFiles({CONFIG: _file(old)})
    store = Store(fs)
    store.load()
    try:
        store.save(_config(**NEW))
        raised = False
    except OSError as e:
        raised = e.args[0] == 28
    assert raised
    assert sorted(fs.files) == [CONFIG]  # the temp file is cleaned up
    assert Store(fs.reboot()).load() == (old, None)


def test_save_keeps_the_previous_good_config_as_backup():
    fs = MemFiles()
    store = Store(fs)
    store.load()
    first, second = _config(**OLD), _config(**NEW)
    store.save(first)
    store.save(second)
    assert json.loads(fs.files[CONFIG]) == second
    assert json.loads(fs.files[BACKUP]) == first
    assert TEMP not in fs.files
    # Losing config.json now brings back the previous config, and says so.
    del fs.files[CONFIG]
    config, notice = Store(fs.reboot()).load()
    assert config == first and "missing" in notice


def test_non_ascii_round_trip():
    config = _config(atm90e32={"ct1": {"name": "K\u00fcche \u2013 \u00e9t\u00e9"}})
    fs = MemFiles()
    store = Store(fs)
    store.load()
    store.save(config)
    assert Store(fs.reboot()).load() == (config, None)


# ---- the same on the real filesystem (CPython: a temp dir; MicroPython: one under /tmp) ------


def _tempdir():
    try:
        import tempfile

        return tempfile.mkdtemp()
    except ImportError:  # MicroPython
        path = "/tmp/config_store_test_%d" % (os.urandom(4)[0] * 256 + os.urandom(1)[0])
        os.mkdir(path)
        return path


def _rmtree(path):
    for name in os.listdir(path):
        os.remove(path + "/" + name)
    os.rmdir(path)


class KillingFiles(Files):
    """The real filesystem, killed after `budget` operations (open, write, flush, close,
    rename, remove); a killed write writes only its first half."""

    def __init__(self, directory, budget):
        Files.__init__(self, directory)
        self.budget = budget

    def _step(self):
        if self.budget == 0:
            raise Killed()
        self.budget -= 1

    def open(self, name, mode):
        if "w" not in mode:
            return Files.open(self, name, mode)
        self._step()
        return _KillingFile(self, Files.open(self, name, mode))

    def rename(self, old, new):
        self._step()
        Files.rename(self, old, new)

    def remove(self, name):
        self._step()
        Files.remove(self, name)

    def sync(self, f):
        f.flush()


class _KillingFile(io.IOBase):
    def __init__(self, files, f):
        self.files = files
        self.f = f
        self.done = False

    def write(self, data):
        try:
            self.files._step()
        except Killed:
            self.f.write(data[: len(data) // 2])
            self.f.close()  # what reached the disk stays; nothing more will
            raise
        return self.f.write(data)

    def flush(self):
        self.files._step()
        self.f.flush()

    def close(self):
        if self.done:
            return
        self.done = True
        try:
            self.files._step()
        finally:
            self.f.close()


def test_kill_at_every_point_on_the_real_filesystem():
    old, new = _config(**OLD), _config(**NEW)
    directory = _tempdir()
    try:
        seen = []
        k = 0
        while True:
            for name in os.listdir(directory):
                os.remove(directory + "/" + name)
            Store(Files(directory)).save(old)
            store = Store(KillingFiles(directory, k))
            assert store.load()[0] == old
            try:
                store.save(new)
                completed = True
            except Killed:
                completed = False
            after, _ = Store(Files(directory)).load()
            assert after == old or after == new, k
            seen.append(after == new)
            if completed:
                assert after == new
                break
            k += 1
        assert not seen[0] and seen[-1] and k > 4
    finally:
        _rmtree(directory)


def test_module_functions_use_the_current_directory():
    directory = _tempdir()
    here = os.getcwd()
    try:
        os.chdir(directory)
        config_store._store = None
        config, notice = config_store.load()
        assert config == cs.defaults() and "no saved config" in notice
        config_store.save(_config(**NEW))
        assert sorted(os.listdir(".")) == [CONFIG, config_saved.VALID]
        config_store._store = None
        assert config_store.load() == (_config(**NEW), None)
    finally:
        os.chdir(here)
        config_store._store = None
        _rmtree(directory)


def test_a_saved_config_is_read_at_boot_without_the_config_code_only_while_its_mark_holds():
    """config_saved.load(), startup's fast path: the config as config_store.save() wrote it,
    and None (the full path) whenever the file is not exactly that or something else needs
    the full path."""
    directory = _tempdir()
    here = os.getcwd()
    try:
        os.chdir(directory)
        config_store._store = None
        assert config_saved.load() is None  # nothing saved yet
        config = _config(**NEW)
        config_store.save(config)
        assert config_saved.load() == config
        # the source section the firmware does not run stays on flash
        whole = config_saved.load()
        ram = config_saved.in_ram(whole)
        other = "atm90e32" if config["source"] == "han" else "han"
        assert other not in ram and config["source"] in ram
        # a copy: the whole config, still published or saved by a change or a rollback, keeps
        # the section
        assert whole == config and other in whole
        for name in (config_saved.SITE, config_saved.TRIAL):  # they need the full path
            with open(name, "w") as f:
                f.write("{}")
            assert config_saved.load() is None, name
            os.remove(name)
        assert config_saved.load() == config
        with open(CONFIG, "rb") as f:
            data = f.read()
        changed = data.replace(b"new.lan", b"new.lam")  # same length, another CRC
        assert changed != data
        with open(CONFIG, "wb") as f:
            f.write(changed)
        assert config_saved.load() is None
        with open(CONFIG, "wb") as f:
            f.write(data[:-1])  # cut short
        assert config_saved.load() is None
        config_store.save(_config(**OLD))  # a new save, a new mark
        assert config_saved.load() == _config(**OLD)
        os.remove(config_saved.VALID)
        assert config_saved.load() is None
    finally:
        os.chdir(here)
        config_store._store = None
        _rmtree(directory)
