"""A private Mosquitto on a free loopback port, for `make sim` and the tests (CPython only).

    with Broker() as broker:            # anonymous
        ... broker.port ...
    with Broker(users={"meter": "pw"}) as broker:   # password required
        broker.restart()                # same port, retained messages kept (persistence on)

Mosquitto started as root drops to its own user unless told `user root`; we say so explicitly
and keep every file in a private 0700 folder, so it runs the same as root and as a normal user.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time


def _mosquitto_binary():
    for candidate in (shutil.which("mosquitto"), "/usr/sbin/mosquitto"):
        if candidate and os.path.exists(candidate):
            return candidate
    raise RuntimeError("mosquitto is not installed; run: sudo apt-get install -y mosquitto")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class Broker:
    def __init__(self, users=None, port=None, websockets_port=None, http_dir=None, log=False):
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.websockets_port = websockets_port
        self.http_dir = http_dir
        self.users = users or {}
        self.log = log
        self.dir = tempfile.mkdtemp(prefix="mosquitto-")
        self.proc = None
        self._write_config()

    def _write_config(self):
        lines = [
            "per_listener_settings false",
            "persistence true",
            "persistence_location %s/" % self.dir,
            "autosave_interval 1",
            "log_dest file %s/mosquitto.log" % self.dir if self.log else "log_dest none",
            "listener %d 127.0.0.1" % self.port,
        ]
        if os.geteuid() == 0:
            lines.insert(0, "user root")
        if self.websockets_port:
            lines += ["listener %d 127.0.0.1" % self.websockets_port, "protocol websockets"]
            if self.http_dir:
                lines.append("http_dir %s" % os.path.abspath(self.http_dir))
        if self.users:
            password_file = os.path.join(self.dir, "passwords")
            open(password_file, "w").close()
            for user, password in self.users.items():
                subprocess.run(["mosquitto_passwd", "-b", password_file, user, password],
                               check=True, capture_output=True)
            lines += ["allow_anonymous false", "password_file %s" % password_file]
        else:
            lines.append("allow_anonymous true")
        with open(os.path.join(self.dir, "mosquitto.conf"), "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self, timeout=10.0):
        self.proc = subprocess.Popen(
            [_mosquitto_binary(), "-c", os.path.join(self.dir, "mosquitto.conf")],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace").strip()
                raise RuntimeError("mosquitto exited at start: %s" % err)
            ports = [self.port] + ([self.websockets_port] if self.websockets_port else [])
            if all(_port_open(p) for p in ports):
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("mosquitto did not open port %d" % self.port)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self, down_seconds=0.0):
        self.stop()
        if down_seconds:
            time.sleep(down_seconds)
        self.start()

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()
