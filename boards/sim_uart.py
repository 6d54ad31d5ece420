# A UART that replays a HAN capture at the line's real byte rate (the sim board's meter port).
#
# The capture is a file of pushes, each stored as a 2-byte big-endian length and the bytes the
# meter sent (tools/sim.py converts hex text, raw streams and the corpus into this). Between
# pushes the line is idle for `interval_ms`, as a real meter pauses between telegrams. A zero
# length is followed by a 2-byte pause in 10 ms units: the line stays silent that long.
# Like a real UART it has a bounded receive buffer: bytes that arrive while the firmware is not
# reading and the buffer is full are lost (counted in `overruns`).
# Reads go straight from the file into preallocated buffers: replaying allocates nothing.
from clock import ticks_diff, ticks_ms
from micropython import const

_MAX_PUSH = const(4096)


class ReplayUart:
    def __init__(self, path, baud=115200, bits_per_byte=10, interval_ms=2000, rxbuf=1024,
                 loop=True):
        self._file = open(path, "rb")
        self._baud = baud  # 0: as fast as the firmware reads (soak tests)
        self._bits_per_byte = bits_per_byte
        self._interval_ms = interval_ms
        self._rxbuf = rxbuf
        self._loop = loop
        self._push = bytearray(_MAX_PUSH)
        self._len_buf = bytearray(2)
        self._push_len = 0
        self._pause_ms = 0
        self._pos = 0  # bytes of the current push already on the line
        self._read_pos = 0  # bytes of the current push already handed to the firmware
        self._push_start_ms = ticks_ms()
        self.pushes_sent = 0
        self.overruns = 0
        self.finished = False
        self._next_push()

    def _next_push(self, start_ms=None):
        n = self._file.readinto(self._len_buf)
        if n != 2 and self._loop:
            self._file.seek(0)
            n = self._file.readinto(self._len_buf)
        if n != 2:
            self.finished = True
            self._push_len = 0
            return
        length = (self._len_buf[0] << 8) | self._len_buf[1]
        self._pause_ms = 0
        if length == 0:
            self._file.readinto(self._len_buf)
            self._pause_ms = ((self._len_buf[0] << 8) | self._len_buf[1]) * 10
        if length > _MAX_PUSH:
            raise ValueError("sim_uart: push of %d bytes exceeds %d" % (length, _MAX_PUSH))
        self._file.readinto(memoryview(self._push)[:length])
        self._push_len = length
        self._pos = self._read_pos = 0
        self._push_start_ms = ticks_ms() if start_ms is None else start_ms

    def _line_ms(self, nbytes):
        if self._baud == 0:
            return 0
        return nbytes * self._bits_per_byte * 1000 // self._baud

    def _arrived(self, now):
        """How many bytes of the current push have arrived on the line by `now`."""
        if self._baud == 0:
            return self._push_len
        elapsed = ticks_diff(now, self._push_start_ms)
        n = elapsed * self._baud // (self._bits_per_byte * 1000)
        return n if n < self._push_len else self._push_len

    def _advance(self, now):
        self._pos = self._arrived(now)
        if self._pos >= self._push_len:
            next_start = (self._push_start_ms + self._line_ms(self._push_len) + self._interval_ms
                          + self._pause_ms)
            fully_read = self._read_pos >= self._push_len
            # At full speed (baud 0) the next push waits for the firmware; on a real line it
            # does not, and whatever was not read by then is lost.
            if ticks_diff(now, next_start) >= 0 and (fully_read or self._baud):
                self.overruns += self._push_len - self._read_pos
                self.pushes_sent += 1
                self._next_push(next_start if self._baud else now)
                if self.finished:
                    return
                self._pos = self._arrived(now)
        # Bytes beyond the receive buffer that nobody read are lost, as on a real UART.
        if self._pos - self._read_pos > self._rxbuf:
            self.overruns += self._pos - self._read_pos - self._rxbuf
            self._read_pos = self._pos - self._rxbuf

    def any(self):
        if self.finished:
            return 0
        self._advance(ticks_ms())
        return self._pos - self._read_pos

    def readinto(self, buf, nbytes=None):
        if self.finished:
            return None
        self._advance(ticks_ms())
        n = self._pos - self._read_pos
        want = len(buf) if nbytes is None else nbytes
        if n > want:
            n = want
        if n <= 0:
            return None  # machine.UART.readinto returns None when nothing arrived (timeout)
        buf[:n] = memoryview(self._push)[self._read_pos:self._read_pos + n]
        self._read_pos += n
        return n
