# A UART that replays a HAN capture at the line's real byte rate (the sim board's meter port).
#
# The capture is a file of pushes, each stored as a 2-byte big-endian length and the bytes the
# meter sent (tools/sim.py converts hex text, raw streams and the corpus into this). Between
# pushes the line is idle for `interval_ms`, as a real meter pauses between telegrams. A zero
# length is followed by a 2-byte pause in 10 ms units: the line stays silent that long.
# Like a real UART it has a bounded receive buffer of `rxbuf` bytes, and that buffer is all it
# holds in the heap (the ESP8266 port allocates its UART ring buffer in the MicroPython heap, so a
# board pays the same). With ring_in_heap=False, as on the ESP32, whose port leaves that buffer
# to ESP-IDF's UART driver outside the MicroPython heap, the unread bytes are read from the
# capture file itself, with the same bound and the same losses. Bytes stay in the capture file
# until they arrive on the line, and bytes that arrive while the firmware is not reading and
# the buffer is full are lost (counted in `overruns`). Replaying allocates nothing after
# construction.
from clock import ticks_diff, ticks_ms


class ReplayUart:
    def __init__(self, path, baud=115200, bits_per_byte=10, interval_ms=2000, rxbuf=1024,
                 loop=True, ring_in_heap=True):
        self._file = open(path, "rb")
        self._baud = baud  # 0: as fast as the firmware reads (soak tests)
        self._bits_per_byte = bits_per_byte
        self._interval_ms = interval_ms
        self._rxbuf = rxbuf
        self._loop = loop
        # byte i of the push is at i % rxbuf; None: the unread bytes are read from the file
        self._ring_mv = memoryview(bytearray(rxbuf)) if ring_in_heap else None
        self._len_buf = bytearray(2)
        self._data_at = 0  # file offset of the current push's first byte
        self._push_len = 0
        self._pause_ms = 0
        self._pos = 0  # bytes of the current push already on the line (and in the ring)
        self._read_pos = 0  # bytes of the current push already handed to the firmware
        self._push_start_ms = ticks_ms()
        self.pushes_sent = 0
        self.overruns = 0
        self.finished = False
        self._next_push()

    def _next_push(self, start_ms=None):
        f = self._file
        f.seek(self._data_at + self._push_len)
        n = f.readinto(self._len_buf)
        if n != 2 and self._loop:
            f.seek(0)
            n = f.readinto(self._len_buf)
        if n != 2:
            self.finished = True
            self._push_len = 0
            return
        length = (self._len_buf[0] << 8) | self._len_buf[1]
        self._pause_ms = 0
        if length == 0:
            f.readinto(self._len_buf)
            self._pause_ms = ((self._len_buf[0] << 8) | self._len_buf[1]) * 10
        self._data_at = f.tell()
        self._push_len = length
        self._pos = self._read_pos = 0
        self._push_start_ms = ticks_ms() if start_ms is None else start_ms

    def _line_ms(self, nbytes):
        if self._baud == 0:
            return 0
        return nbytes * self._bits_per_byte * 1000 // self._baud

    def _arrived(self, now):
        """How many bytes of the current push have arrived on the line by `now`."""
        if self._baud == 0:  # as fast as there is room in the receive buffer
            n = self._read_pos + self._rxbuf
        else:
            n = ticks_diff(now, self._push_start_ms) * self._baud // (self._bits_per_byte * 1000)
        return n if n < self._push_len else self._push_len

    def _receive(self, upto):
        """Bytes [self._pos, upto) of the push arrive: into the ring, the oldest unread ones
        overwritten (lost) when it is full."""
        start = self._pos
        if upto - start > self._rxbuf:
            start = upto - self._rxbuf
        f = self._file
        f.seek(self._data_at + start)
        size = self._rxbuf
        while start < upto and self._ring_mv is not None:
            at = start % size
            end = at + (upto - start)
            if end > size:
                end = size
            f.readinto(self._ring_mv[at:end])
            start += end - at
        self._pos = upto
        if self._pos - self._read_pos > size:
            self.overruns += self._pos - self._read_pos - size
            self._read_pos = self._pos - size

    def _advance(self, now):
        arrived = self._arrived(now)
        if arrived > self._pos:
            self._receive(arrived)
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
                arrived = self._arrived(now)
                if arrived > self._pos:
                    self._receive(arrived)

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
        if self._ring_mv is None:  # the unread bytes, still where the capture file has them
            self._file.seek(self._data_at + self._read_pos)
            self._file.readinto(memoryview(buf)[:n])
            self._read_pos += n
            return n
        size = self._rxbuf
        done = 0
        while done < n:
            at = (self._read_pos + done) % size
            end = at + (n - done)
            if end > size:
                end = size
            buf[done:done + end - at] = self._ring_mv[at:end]
            done += end - at
        self._read_pos += n
        return n
