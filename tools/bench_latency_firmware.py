# The firmware on the sim board with a timestamping HAN replay, for tools/bench.py's
# frame-end-to-MQTT latency (runs under the MicroPython unix port, started by tools/bench.py
# with the sim board's environment, like firmware/main.py).
#
# It replaces boards.sim_uart.ReplayUart with a subclass that prints one line per push:
#   bench-push-end <push number> <line end, ns> <last byte read, ns>
# - line end: when the last byte of the push finished arriving on the emulated line (push start
#   + its bytes at the line rate), in the replay's ticks_ms (so +-1 ms), told as wall time;
# - last byte read: when the firmware's readinto() took the push's last byte.
# Both on time.time_ns(), the clock the subscriber in tools/bench.py stamps arrivals with. The
# line is printed after both stamps were taken, so printing it is part of the measured latency.
# Everything else is the unchanged firmware, unless BENCH_TCP_NODELAY=1: then the MQTT socket
# gets TCP_NODELAY, to show what Nagle's algorithm costs (umqtt.simple writes one PUBLISH in
# several small writes; the later ones wait for the broker's delayed ACK). An experiment only.
import os
import sys
import time

if sys.path and sys.path[0].endswith("tools"):
    sys.path.pop(0)  # this script's folder: its host tools must not shadow firmware modules

import boards.sim_uart as sim_uart
from clock import ticks_diff, ticks_ms


class StampedReplayUart(sim_uart.ReplayUart):
    def __init__(self, *args, **kwargs):
        self._stamped = -1  # push number whose line end is known
        self._reported = -1  # push number already printed
        self._line_end_ns = 0
        super().__init__(*args, **kwargs)

    def _advance(self, now):
        super()._advance(now)
        if self.finished or self._pos < self._push_len or self._stamped == self.pushes_sent:
            return
        line_end_ms = self._push_start_ms + self._line_ms(self._push_len)
        self._line_end_ns = time.time_ns() - ticks_diff(ticks_ms(), line_end_ms) * 1000000
        self._stamped = self.pushes_sent

    def readinto(self, buf, nbytes=None):
        n = super().readinto(buf, nbytes)
        if n and self._read_pos >= self._push_len and self._reported != self.pushes_sent:
            read_ns = time.time_ns()
            self._reported = self.pushes_sent
            print("bench-push-end %d %d %d" % (self.pushes_sent, self._line_end_ns, read_ns))
        return n


sim_uart.ReplayUart = StampedReplayUart  # boards/sim.py imports it when it builds the UART


def _nodelay_sockets():
    # The link's connect (mqtt_connect.SocketFactory) sets TCP_NODELAY on every socket it
    # makes; mqtt_connect is loaded only to connect, so there is nothing to patch for good.
    import mqtt_connect

    if not hasattr(mqtt_connect, "SocketFactory"):
        print("bench-nodelay unavailable: mqtt_connect has no SocketFactory")
        return
    print("bench-nodelay on")


if os.getenv("BENCH_TCP_NODELAY") == "1":
    _nodelay_sockets()

import app  # noqa: E402  (after the replacement above)

app.main()
