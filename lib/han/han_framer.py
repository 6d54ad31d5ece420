# Streaming framer for the HAN/P1 port: finds pushes in a byte stream that arrives in arbitrary
# chunks, checks them and hands each complete push to a callback.
#
# Three framings are recognised per push (auto-detected by the start byte):
# - HDLC frame format type 3 (IEC 62056-46 / ISO/IEC 13239): 7E, format A<S><len:11>, dest and
#   source address (1, 2 or 4 bytes, last byte has bit 0 set), control, HCS, information, FCS, 7E.
#   Both checks are CRC-16/X.25. The length field (max 2047) drives the parse, so a 7E inside the
#   information field is harmless. The closing flag may be the next frame's opening flag.
#   Frames with the segmentation bit S set are concatenated until a frame with S clear.
# - M-Bus long frames (EN 13757-2): 68 L L 68 C A CI data CS 16, CS = sum of C..data mod 256.
#   CI 00..1F carries DLMS with the transport layer of IEC 62056-7-3 (bits 0-3: segment number,
#   bit 4: last segment) followed by the STSAP/DTSAP bytes; segments are concatenated.
# - ASCII telegrams (IEC 62056-21 mode D / DSMR): "/XXXn..." up to "!" + 4 hex CRC16/ARC + CRLF.
#   The 5th character may be '9' (Aidon "/ADN9"). Telegrams without CRC are passed on flagged.
#
# Memory is bounded: one receive buffer (default 2100 bytes, enough for a 2047-byte HDLC frame and
# its flags) and one reassembly buffer for segmented pushes; nothing grows with the input.
# Rejections never raise: they are counted and reported through `on_reject(reason)`.
# Heap: where modules load from .mpy files into RAM every function and string constant costs
# heap, so steps used once are written inline and the reasons are numbers into one text.
from micropython import const

from crc16 import crc16_arc, crc16_x25

KIND_HDLC = const(1)  # payload: the APDU carried by HDLC (LLC header removed)
KIND_MBUS = const(2)  # payload: the APDU carried by M-Bus long frames
KIND_ASCII = const(3)  # payload: the whole telegram from "/" to the line end after "!"

FLAG_NO_CRC = const(1)  # ASCII telegram sent without CRC

# Byte values; find() takes them as ints (a bytes constant each would be one more object in RAM).
_FLAG = const(0x7E)
_MBUS_START = const(0x68)
_MBUS_STOP = const(0x16)
_SLASH = const(0x2F)
_BANG = const(0x21)
_CR = const(0x0D)
_LF = const(0x0A)

_NEED_MORE = const(-1)
_SKIP = const(-2)  # not a frame start here: drop one byte, keep hunting
_BAD = const(-3)  # a frame start that failed a check: reason reported, drop one byte
_SKIPPING = const(9)  # _seg_kind while the remaining segments of a dropped push go by

# Rejection reasons by number (_reject): line n of _REASONS. The number also says which counter
# counts it: below _FRAME_ERRORS crc_errors, below _PUSHES_DROPPED frame_errors, then
# pushes_dropped (those drop the open segmented push, and are no reason without one).
_HCS = const(0)
_FCS = const(1)
_MBUS_CHECKSUM = const(2)
_TELEGRAM_CRC = const(3)
_FRAME_ERRORS = const(4)
_TOO_LARGE = const(4)
_INCOMPLETE = const(5)
_HDLC_LENGTH = const(6)
_HDLC_ADDRESS = const(7)
_HDLC_CLOSING_FLAG = const(8)
_MBUS_NO_DLMS = const(9)
_MBUS_SEQUENCE = const(10)
_TELEGRAM_BINARY = const(11)
_TELEGRAM_TOO_LONG = const(12)
_TELEGRAM_END_LINE = const(13)
_PUSHES_DROPPED = const(14)
_SEGMENTS_INCOMPLETE = const(14)
_SEGMENTS_TOO_LARGE = const(15)
_SEGMENTS_OUT_OF_SEQUENCE = const(16)
_SEGMENTS_NO_MEMORY = const(17)
def reason_line(reasons, number):
    """Line `number` of `reasons`: the decoders keep their rejection reasons as one text (one
    object in flash or heap instead of a tuple of strings) and slice a reason out only when a
    frame is rejected. Also used by dlms."""
    start = 0
    for _ in range(number):
        start = reasons.find("\n", start) + 1
    return reasons[start : reasons.find("\n", start)]


_REASONS = (
    "HDLC HCS mismatch\n"
    "HDLC FCS mismatch\n"
    "M-Bus checksum or stop byte mismatch\n"
    "telegram CRC mismatch\n"
    "frame larger than the buffer\n"
    "incomplete frame at end of input\n"
    "HDLC length field does not fit the header\n"
    "HDLC address field malformed\n"
    "HDLC frame without closing flag at its length\n"
    "M-Bus frame without DLMS (CI not 00..1F)\n"
    "M-Bus segment out of sequence: push dropped\n"
    "telegram interrupted by binary data\n"
    "telegram longer than the buffer\n"
    "telegram end line malformed\n"
    "incomplete segmented push dropped\n"
    "segmented push too large: dropped\n"
    "M-Bus segment out of sequence: push dropped\n"
    "no memory to join a segmented push: dropped\n"
)


class HanFramer:
    """feed() bytes; on_push(kind, buf, start, end, flags) is called for every complete push.

    The payload is buf[start:end] (a bytearray owned by the framer): valid only during the call.
    Counters (also as framer.stats.<name>): bytes_in; bytes_discarded (outside every accepted
    frame, flags not counted); frames_ok; crc_errors (HCS, FCS, M-Bus checksum, telegram CRC);
    frame_errors (length, flag, address, end line); pushes_ok; pushes_dropped (incomplete
    segmented pushes); no_crc (telegrams passed on without CRC); last_reason.
    """

    def __init__(self, on_push, on_reject=None, buffer_size=2100, reassembly_size=1024):
        self._on_push = on_push
        self._on_reject = on_reject
        self._buf = bytearray(buffer_size)
        self._mv = memoryview(self._buf)
        self._start = 0
        self._end = 0
        # Segmented pushes (HDLC S bit, M-Bus CI sequence) are joined here; allocated with the
        # first segment: most meters never segment, and a D1 mini keeps that 1 KB.
        self._seg = None
        self._seg_size = reassembly_size
        self._seg_len = 0
        self._seg_kind = 0  # KIND_HDLC / KIND_MBUS while a segmented push is open
        self._mbus_next = 0  # next expected M-Bus segment number
        self._eof = False
        self.bytes_in = self.bytes_discarded = self.frames_ok = self.crc_errors = 0
        self.frame_errors = self.pushes_ok = self.pushes_dropped = self.no_crc = 0
        self.last_reason = None
        self.stats = self

    # -- input ------------------------------------------------------------------------------

    def feed(self, data, n=-1):
        """Feed the first n bytes of data (all of it if n < 0); any length, any chunking."""
        if n < 0:
            n = len(data)
        self.bytes_in += n
        size = len(self._buf)
        pos = 0
        while pos < n:
            start = self._start
            if start and (start >= self._end - start or size - self._end < n - pos):
                # Move the unconsumed tail to the front. Slice assignment is not memmove on
                # every port, so an overlapping move goes through a copy (rare: a long
                # candidate still waiting when the buffer fills).
                k = self._end - start
                mv = self._mv
                if k:
                    mv[0:k] = mv[start : start + k] if start >= k else bytes(mv[start : start + k])
                self._start = 0
                self._end = k
            room = size - self._end
            if room == 0:
                # A candidate filled the whole buffer without completing: it cannot be a frame.
                self._reject(_TOO_LARGE)
                if self._buf[self._start] != _FLAG:  # drop its first byte (a flag is no garbage)
                    self.bytes_discarded += 1
                self._start += 1
                continue
            k = n - pos if n - pos < room else room
            if pos == 0 and k == len(data):
                self._mv[self._end : self._end + k] = data
            else:
                self._mv[self._end : self._end + k] = data[pos : pos + k]
            self._end += k
            pos += k
            self._scan()

    def pending(self):
        """True while received bytes wait for the rest of a frame."""
        return self._end > self._start

    def flush(self):
        """The line went quiet: a frame still waiting for bytes is incomplete. Reject it and
        look for frames in what follows it (a truncated frame may hide a whole one)."""
        self._eof = True
        self._scan()
        self._eof = False
        self.bytes_discarded += self._end - self._start
        self._start = self._end = 0

    def end_of_input(self):
        """No more bytes will come (end of a file): report whatever is left unfinished."""
        self.flush()
        if self._seg_kind == _SKIPPING:
            self._seg_kind = 0
        self._reject(_SEGMENTS_INCOMPLETE)

    # -- scanning -----------------------------------------------------------------------------

    def _scan(self):
        buf = self._buf
        while self._start < self._end:
            s = self._start
            b = buf[s]
            if b == _FLAG:
                r = self._hdlc(s)
            elif b == _MBUS_START:
                r = self._mbus(s)
            elif b == _SLASH:
                r = self._ascii(s)
            else:
                # Hunt: the next possible start byte; everything before it is garbage.
                e = self._end
                nxt = buf.find(_FLAG, s, e)
                if nxt < 0:
                    nxt = e
                c = buf.find(_MBUS_START, s, nxt)
                if c >= 0:
                    nxt = c
                c = buf.find(_SLASH, s, nxt)
                if c >= 0:
                    nxt = c
                self.bytes_discarded += nxt - s
                self._start = nxt
                continue
            if r == _NEED_MORE:
                if not self._eof:
                    return
                k = s
                while k < self._end and buf[k] == _FLAG:
                    k += 1
                if k == self._end:
                    self._start = k  # only flags left
                    return
                self._reject(_INCOMPLETE)
                r = _BAD
            if r < 0:
                # Drop one byte and hunt on (a flag is not garbage).
                if b != _FLAG:
                    self.bytes_discarded += 1
                self._start = s + 1
            else:
                self._start = r

    def _reject(self, reason):
        if reason < _FRAME_ERRORS:
            self.crc_errors += 1
        elif reason < _PUSHES_DROPPED:
            self.frame_errors += 1
        else:
            if not self._seg_kind or self._seg_kind == _SKIPPING:
                return  # no segmented push open
            self._seg_kind = 0
            self._seg_len = 0
            self.pushes_dropped += 1
        reason = reason_line(_REASONS, reason)
        self.last_reason = reason
        if self._on_reject:
            self._on_reject(reason)

    # -- HDLC -------------------------------------------------------------------------------

    def _hdlc(self, s):
        buf = self._buf
        e = self._end
        if e - s < 3:
            return _NEED_MORE
        f = buf[s + 1]
        if f == _FLAG:
            return s + 1  # shared or fill flag
        if f & 0xF0 != 0xA0:
            return _SKIP  # a closing flag followed by something else
        length = ((f & 0x07) << 8) | buf[s + 2]
        if length < 7:
            self._reject(_HDLC_LENGTH)
            return _BAD
        last = s + length  # index of the FCS high byte
        # Address fields: 1, 2 or 4 bytes each, the last byte marked by bit 0 (IEC 62056-46 6.4.2).
        i = s + 3
        for _ in range(2):
            j = i
            while True:
                if j - i > 3 or j >= last:
                    self._reject(_HDLC_ADDRESS)
                    return _BAD
                if j >= e:
                    return _NEED_MORE
                if buf[j] & 1:
                    break
                j += 1
            if j - i == 2:
                self._reject(_HDLC_ADDRESS)
                return _BAD
            i = j + 1
        control = i
        hcs = control + 1
        has_info = hcs + 2 < last - 1
        if not has_info and hcs != last - 1:
            self._reject(_HDLC_LENGTH)
            return _BAD
        if has_info:
            if hcs + 2 > e:
                return _NEED_MORE
            if crc16_x25(buf, s + 1, hcs) != buf[hcs] | (buf[hcs + 1] << 8):
                self._reject(_HCS)
                return _BAD
        if last + 2 > e:
            return _NEED_MORE
        if buf[last + 1] != _FLAG:
            self._reject(_HDLC_CLOSING_FLAG)
            return _BAD
        if crc16_x25(buf, s + 1, last - 1) != buf[last - 1] | (buf[last] << 8):
            self._reject(_FCS)
            return _BAD
        self.frames_ok += 1
        end = last + 1  # keep the closing flag: it may open the next frame
        if not has_info:
            return end
        # The information field buf[a:b].
        a = hcs + 2
        b = last - 1
        segmented = f & 0x08
        llc = b - a >= 3 and buf[a] == 0xE6 and buf[a + 1] in (0xE6, 0xE7) and buf[a + 2] == 0
        if llc:
            a += 3  # LLC: destination LSAP E6, source LSAP E7 (response), quality 00
            if self._seg_kind == _SKIPPING:
                self._seg_kind = 0
        kind = self._seg_kind
        if kind == _SKIPPING:
            # The rest of a push already dropped: wait for its last segment.
            if not segmented:
                self._seg_kind = 0
            return end
        if kind and (kind != KIND_HDLC or llc):
            # A new push starts (LLC header) while the last one never got its final segment.
            self._reject(_SEGMENTS_INCOMPLETE)
            kind = 0
        if not segmented and not kind:
            self.pushes_ok += 1
            self._on_push(KIND_HDLC, buf, a, b, 0)
            return end
        if self._seg_len + b - a > self._seg_size:
            self._seg_kind = KIND_HDLC
            self._reject(_SEGMENTS_TOO_LARGE)
            if segmented:
                self._seg_kind = _SKIPPING
            return end
        self._append(buf, a, b, KIND_HDLC, not segmented)
        return end

    # -- segments ---------------------------------------------------------------------------

    def _append(self, buf, a, b, kind, final):
        # Add buf[a:b] to the open push of this kind; hand the push on after its final segment.
        # A byte loop, not a slice copy: slices allocate on MicroPython, and segments are few.
        seg = self._seg
        if seg is None:
            # Allocated once, with the first segment a meter sends: after a collection, so that
            # it finds its room in one piece; without that room the push is dropped, not the
            # firmware.
            import gc

            gc.collect()
            try:
                seg = self._seg = bytearray(self._seg_size)
            except MemoryError:
                self._seg_kind = kind
                self._reject(_SEGMENTS_NO_MEMORY)
                self._seg_kind = 0 if final else _SKIPPING
                return
        k = self._seg_len - a
        for i in range(a, b):
            seg[k + i] = buf[i]
        self._seg_len += b - a
        self._seg_kind = kind
        if final:
            n = self._seg_len
            self._seg_len = 0
            self._seg_kind = 0
            self.pushes_ok += 1
            self._on_push(kind, seg, 0, n, 0)


    # -- M-Bus ------------------------------------------------------------------------------

    def _mbus(self, s):
        buf = self._buf
        e = self._end
        if e - s < 4:
            return _NEED_MORE
        n = buf[s + 1]
        if buf[s + 2] != n or buf[s + 3] != _MBUS_START or n < 3:
            return _SKIP
        end = s + n + 6
        if end > e:
            return _NEED_MORE
        total = 0
        for i in range(s + 4, s + 4 + n):
            total += buf[i]
        if total & 0xFF != buf[s + 4 + n] or buf[s + 5 + n] != _MBUS_STOP:
            self._reject(_MBUS_CHECKSUM)
            return _BAD
        self.frames_ok += 1
        ci = buf[s + 6]
        if ci > 0x1F or n < 5:
            self._reject(_MBUS_NO_DLMS)
            return end
        a = s + 9  # after C, A, CI and the STSAP/DTSAP pair
        b = s + 4 + n
        number = ci & 0x0F
        final = ci & 0x10
        if number == 0:
            if self._seg_kind:
                self._reject(_SEGMENTS_INCOMPLETE)
                self._seg_kind = 0
            if final:
                self.pushes_ok += 1
                self._on_push(KIND_MBUS, buf, a, b, 0)
                return end
        elif self._seg_kind != KIND_MBUS or number != self._mbus_next:
            if self._seg_kind and self._seg_kind != _SKIPPING:
                self._reject(_SEGMENTS_OUT_OF_SEQUENCE)
            elif self._seg_kind != _SKIPPING:
                self._reject(_MBUS_SEQUENCE)
            self._seg_kind = 0 if final else _SKIPPING
            return end
        if self._seg_len + b - a > self._seg_size:
            self._seg_kind = KIND_MBUS
            self._reject(_SEGMENTS_TOO_LARGE)
            self._seg_kind = 0 if final else _SKIPPING
            return end
        self._mbus_next = (number + 1) & 0x0F
        self._append(buf, a, b, KIND_MBUS, final)
        return end

    # -- ASCII ------------------------------------------------------------------------------

    def _ascii(self, s):
        buf = self._buf
        e = self._end
        if e - s < 5:
            return _NEED_MORE
        # Identification "/XXXn": three manufacturer letters, then the baud character.
        for i in range(s + 1, s + 4):
            c = buf[i] | 0x20
            if c < 0x61 or c > 0x7A:
                return _SKIP
        c = buf[s + 4]
        if not (0x30 <= c <= 0x39 or 0x41 <= c <= 0x5A or 0x61 <= c <= 0x7A):
            return _SKIP
        bang = buf.find(_BANG, s, e)
        flag = buf.find(_FLAG, s, bang if bang >= 0 else e)
        if flag >= 0:
            self._reject(_TELEGRAM_BINARY)
            return _BAD
        if bang < 0:
            if e - s >= len(buf):
                self._reject(_TELEGRAM_TOO_LONG)
                return _BAD
            return _NEED_MORE
        # "!" then either CR LF (no CRC) or 4 hex digits then CR LF (LF alone accepted).
        k = bang + 1
        crc = 0
        digits = 0
        while True:
            if k >= e:
                return _NEED_MORE
            c = buf[k]
            if c == _CR or c == _LF:
                break
            if digits == 4:
                self._reject(_TELEGRAM_END_LINE)
                return _BAD
            if 0x30 <= c <= 0x39:
                c -= 0x30
            elif 0x41 <= (c & 0xDF) <= 0x46:
                c = (c & 0xDF) - 0x37
            else:
                self._reject(_TELEGRAM_END_LINE)
                return _BAD
            crc = (crc << 4) | c
            digits += 1
            k += 1
        if digits not in (0, 4):
            self._reject(_TELEGRAM_END_LINE)
            return _BAD
        if buf[k] == _CR:
            if k + 1 >= e:
                return _NEED_MORE
            if buf[k + 1] == _LF:
                k += 1
        end = k + 1
        flags = 0
        if digits:
            if crc16_arc(buf, s, bang + 1) != crc:
                # The telegram's extent is certain: drop all of it, not just the "/".
                self._reject(_TELEGRAM_CRC)
                self.bytes_discarded += end - s
                return end
        else:
            flags = FLAG_NO_CRC
            self.no_crc += 1
        self.frames_ok += 1
        self.pushes_ok += 1
        self._on_push(KIND_ASCII, buf, s, end, flags)
        return end
