"""Debian's Chromium, headless, driven over the DevTools protocol through a pipe (CPython only).

`--remote-debugging-pipe` makes Chromium read protocol messages from its fd 3 and write them to
its fd 4, each a JSON object followed by a NUL byte: no websocket client and no port needed.

    with HeadlessChromium(profile_dir) as browser:
        page = browser.open("http://127.0.0.1:9001/")
        page.evaluate("document.title")
        page.screenshot("artifacts/page.png")
"""

import base64
import fcntl
import json
import os
import shutil
import subprocess
import threading
import time

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--remote-debugging-pipe")


def chromium_binary():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


class ProtocolError(Exception):
    pass


def _high_fd(fd):
    """A copy of fd numbered 10 or more (so it cannot collide with the child's 3 and 4)."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return high


class HeadlessChromium:
    def __init__(self, profile_dir, width=1280, height=1000):
        self.profile_dir = profile_dir
        self.size = (width, height)
        self.proc = None
        self.next_id = 0
        self.replies = {}
        self.events = []  # (sessionId, method, params) of every event, for diagnostics
        self.cond = threading.Condition()
        self.closed = False

    def start(self):
        binary = chromium_binary()
        if binary is None:
            raise RuntimeError("chromium is not installed")
        to_child_r, to_child_w = (_high_fd(fd) for fd in os.pipe())
        from_child_r, from_child_w = (_high_fd(fd) for fd in os.pipe())
        args = [binary, *FLAGS, "--user-data-dir=%s" % self.profile_dir,
                "--window-size=%d,%d" % self.size, "about:blank"]
        # bash moves our pipe ends to fds 3 and 4 (dash knows only fds 0-9; a preexec_fn is
        # unsafe in a process with threads).
        script = 'exec "$@" 3<&%d 4>&%d %d<&- %d>&-' % (to_child_r, from_child_w, to_child_r,
                                                         from_child_w)
        bash = shutil.which("bash") or "/bin/bash"
        self.proc = subprocess.Popen([bash, "-c", script, "chromium", *args],
                                     pass_fds=(to_child_r, from_child_w),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        os.close(to_child_r)
        os.close(from_child_w)
        self.writer = os.fdopen(to_child_w, "wb", buffering=0)
        self.reader = os.fdopen(from_child_r, "rb", buffering=0)
        threading.Thread(target=self._read_loop, daemon=True).start()
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        self.call("Target.setDiscoverTargets", discover=False)  # proves the pipe works
        return self

    def _drain_stderr(self):
        self.stderr_tail = []
        for line in self.proc.stderr:
            self.stderr_tail = (self.stderr_tail + [line.decode(errors="replace")])[-30:]

    def _read_loop(self):
        buffer = b""
        while True:
            chunk = self.reader.read(65536)
            if not chunk:
                break
            buffer += chunk
            while b"\0" in buffer:
                raw, buffer = buffer.split(b"\0", 1)
                message = json.loads(raw)
                with self.cond:
                    if "id" in message:
                        self.replies[message["id"]] = message
                    else:
                        self.events.append((message.get("sessionId"), message.get("method"),
                                            message.get("params")))
                    self.cond.notify_all()
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def call(self, method, session=None, timeout=20, **params):
        with self.cond:
            self.next_id += 1
            msg_id = self.next_id
        message = {"id": msg_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        self.writer.write(json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self.cond:
            while msg_id not in self.replies:
                remaining = deadline - time.monotonic()
                if self.closed or remaining <= 0:
                    raise ProtocolError("%s: no answer (browser %s); stderr: %s" % (
                        method, "exited" if self.closed else "silent",
                        "".join(getattr(self, "stderr_tail", []))))
                self.cond.wait(remaining)
            reply = self.replies.pop(msg_id)
        if "error" in reply:
            raise ProtocolError("%s: %s" % (method, reply["error"]))
        return reply.get("result", {})

    def open(self, url):
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        page = Page(self, session)
        self.call("Runtime.enable", session=session)
        self.call("Page.enable", session=session)
        self.call("Emulation.setDeviceMetricsOverride", session=session, width=self.size[0],
                  height=self.size[1], deviceScaleFactor=1, mobile=False)
        with self.cond:
            seen = len(self.events)
        reply = self.call("Page.navigate", session=session, url=url)
        if "errorText" in reply:
            raise ProtocolError("navigate to %s: %s" % (url, reply["errorText"]))
        self.wait_event(session, "Page.loadEventFired", after=seen)
        return page

    def wait_event(self, session, method, after=0, timeout=20):
        """The params of the first event `method` of `session` among events[after:]."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for s, m, params in self.events[after:]:
                    if s == session and m == method:
                        return params
                remaining = deadline - time.monotonic()
                if self.closed or remaining <= 0:
                    raise ProtocolError("no %s event" % method)
                self.cond.wait(remaining)

    def close(self):
        if self.proc is None:
            return
        try:
            if not self.closed:
                self.call("Browser.close", timeout=5)
        except (ProtocolError, OSError):
            pass  # already gone: killed below either way
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for stream in (self.writer, self.reader):
            try:
                stream.close()
            except OSError:
                pass
        self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()


class Page:
    def __init__(self, browser, session):
        self.browser = browser
        self.session = session

    def evaluate(self, expression):
        """The JSON value of a JavaScript expression in the page."""
        result = self.browser.call("Runtime.evaluate", session=self.session,
                                   expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise ProtocolError("evaluate %r: %s" % (expression, result["exceptionDetails"]))
        return result["result"].get("value")

    def wait_for(self, expression, timeout=20, step=0.1):
        """Poll until the expression is truthy; returns its last value."""
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(step)
        return value

    def screenshot(self, path):
        data = self.browser.call("Page.captureScreenshot", session=self.session,
                                 format="png", captureBeyondViewport=True)["data"]
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        return path

    def problems(self):
        """Uncaught exceptions and console errors the page reported."""
        found = []
        with self.browser.cond:
            events = list(self.browser.events)
        for session, method, params in events:
            if session != self.session:
                continue
            if method == "Runtime.exceptionThrown":
                found.append(params["exceptionDetails"].get("exception", {}).get(
                    "description", params["exceptionDetails"].get("text")))
            elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
                found.append(" ".join(str(a.get("value", a.get("description")))
                                      for a in params.get("args", [])))
        return found
