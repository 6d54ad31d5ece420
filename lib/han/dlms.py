# DLMS/COSEM pushes: data-notification APDUs (IEC 62056-5-3, tag 0x0F), general block
# transfer (tag 0xE0) reassembly across pushes and general-glo-ciphering (tag 0xDB).
#
# A decoded push is a table of items, reused for every push: each item has an OBIS code
# (an offset into the APDU, or a vendor-document code), the A-XDR type and value, and a scaler
# and unit when the frame or a vendor document gives them (unit 0: scale unknown).
# Body layouts handled (docs/han.md §9.1):
#   a) structures {OBIS, value[, {scaler, unit}]} (Aidon, Austrian and Polish lists),
#   b) a flat list OBIS, value, OBIS, value... after a list-version string (Kamstrup, Kaifa SE),
#   c) positional values without OBIS, mapped by the vendor document (Kaifa by list length, Netz
#      Burgenland L&G by its data types),
#   d) L&G push lists whose first element is the capture-object list {class, OBIS, attribute,
#      index}: element k of the push is the value of capture object k.
# Anything else is reported raw and flagged; nothing raises out of decode().
#
# Heap: on boards the module loads from .mpy into RAM, where every function, class and string
# constant costs heap. So steps used once are written inline in their caller, the decoder is
# itself the push table and the A-XDR cursor (axdr.py), and rejection reasons are numbers into
# one text constant.
from array import array

import axdr
import obis
from han_framer import reason_line
from axdr import ARRAY, ENUM, INT8, NUMBERS, OCTET_STRING, STRUCTURE, UINT16, UINT32
from dlms_codes import (BLOCKS_INCOMPLETE, BLOCKS_TOO_LARGE, CAPTURES_TOO_LONG, CAPTURE_MALFORMED,
                        DEEP, DONE, NESTED, NO_OBIS, REASONS, REJECTED, SHORT, TRUNCATED,
                        UNSUPPORTED_APDU)


class DlmsDecoder:
    """decode(buf, start, end) one APDU into self.push. Counters: decoded, rejected, blocks,
    blocks_dropped, no_key, auth_failures; last_reason.

    self.push, the decoded push, is the decoder itself (one object and one class less in RAM):
    its items are i < count, with arrays indexed by item (capacity fixed at construction);
    han_report.obis_text(push, i) spells an item's code."""

    def __init__(self, key=None, auth_key=None, on_reject=None, capacity=64, block_size=1024):
        self.push = self
        self.capacity = capacity
        self.num = [0] * capacity  # integer value
        self.obis = array("h", bytes(2 * capacity))  # >= 0: offset in mv; <= -2: CODES index
        self.off = array("h", bytes(2 * capacity))  # value offset in mv
        self.size = array("h", bytes(2 * capacity))  # value length
        self.position = array("h", bytes(2 * capacity))  # 1-based place in the top-level list
        self.scaler = array("b", bytes(capacity))
        self.tag = bytearray(capacity)
        self.unit = bytearray(capacity)
        self.system_title = bytearray(8)
        self._clear_push(None)
        self.decoded = self.rejected = self.blocks = self.blocks_dropped = 0
        self.no_key = self.auth_failures = 0
        self.last_reason = None
        self._key = key or None
        self._auth_key = auth_key or None
        self._gcm = None
        self._on_reject = on_reject
        # The A-XDR cursor (axdr.py): the APDU being read (the push's mv once it is a
        # data-notification), the read position and the last element read.
        self.apdu = None
        self.pos = self.value = self.value_start = self.value_size = 0
        # General block transfer joins blocks here; allocated with the first block (few meters
        # use GBT, and a D1 mini keeps that 1 KB).
        self._blocks = None
        self._blocks_size = block_size
        self._block_len = 0
        self._block_next = 0  # next expected block number; 0: no transfer open
        self._in_blocks = False
        self._security = 0
        self._title = False
        self._unscaled = 0
        self._cap = array("h", bytes(4 * capacity))  # class, OBIS offset per capture object
        self._cap_attr = bytearray(capacity)
        self._iv = bytearray(12)

    # -- the push -------------------------------------------------------------------------------

    def _clear_push(self, mv):
        self.mv = mv  # the APDU the offsets refer to (valid until the next push)
        self.count = 0
        self.flags = 0
        self.time_off = -1  # notification date-time (12 bytes) in mv
        self.version = -1  # item holding the list version string
        self.has_title = False

    # -- decoding -------------------------------------------------------------------------------

    def decode(self, buf, start, end):
        """DONE (self.push filled), PENDING (block transfer open) or REJECTED."""
        self._security = 0
        self._title = False
        self._in_blocks = False
        try:
            return self._apdu(memoryview(buf)[start:end], 0)
        except ValueError as e:  # malformed: the reason's number
            return self._reject(e.args[0])
        except IndexError:
            return self._reject(SHORT)

    def end_of_input(self):
        if self._block_next:
            self._report(BLOCKS_INCOMPLETE)

    def _report(self, reason):
        if BLOCKS_INCOMPLETE <= reason <= BLOCKS_TOO_LARGE:
            self._block_next = self._block_len = 0
            self.blocks_dropped += 1
        reason = reason_line(REASONS, reason)
        self.last_reason = reason
        if self._on_reject:
            self._on_reject(reason)

    def _reject(self, reason):
        self.rejected += 1
        self._report(reason)
        return REJECTED

    def _apdu(self, mv, depth):
        if depth > 3:
            raise ValueError(DEEP)
        tag = mv[0]
        if tag == 0xE0 or tag == 0xDB:
            import dlms_secure  # block transfer and ciphering: only the meters that use them

            if tag == 0xE0:
                return dlms_secure.block(self, mv, depth)
        if self._block_next and not self._in_blocks:
            self._report(BLOCKS_INCOMPLETE)
        if tag == 0xDB:
            return dlms_secure.ciphered(self, mv, depth)
        if tag != 0x0F:
            return self._reject(UNSUPPORTED_APDU)

        # data-notification: 0F, long-invoke-id-and-priority (4), date-time (A-XDR OCTET
        # STRING), body (Data).
        p = 5
        b = mv[p]
        if b == OCTET_STRING and mv[p + 1] == 12:
            time_off = p + 2  # Kaifa sends it as a Data octet-string (09 0C ...)
            p += 14
        elif b == 12:
            time_off = p + 1
            p += 13
        else:
            time_off = -1
            p += 1 + b
        if p >= len(mv):
            raise ValueError(SHORT)
        self._clear_push(mv)
        self.time_off = time_off
        self.flags = self._security
        self.has_title = self._title
        self.apdu = mv
        self.pos = p
        self._unscaled = 0  # numbers stored without a scale so far
        n = 1  # length of the top-level list: a lone value is read as a list of one
        t = mv[p]
        if t == STRUCTURE or t == ARRAY:
            axdr.element(self)
            n = self.value
        captures = -1  # objects in the capture-object list; -1: the push has none
        p = self.pos
        # Capture-object definitions {class-id, logical name, attribute, data index}:
        # 02 04 12 cc cc 09 06 <6 bytes> 0F aa 12 ii ii, 18 bytes each (push setup, attr. 3).
        if n and mv[p] == ARRAY and mv[p + 2] == STRUCTURE and mv[p + 3] == 4 and \
                mv[p + 4] == UINT16 and mv[p + 7] == OCTET_STRING and mv[p + 8] == 6:
            axdr.element(self)
            captures = self.value
            if captures > len(self._cap_attr):
                raise ValueError(CAPTURES_TOO_LONG)
            for k in range(captures):
                p = self.pos
                if mv[p] != STRUCTURE or mv[p + 1] != 4 or mv[p + 2] != UINT16 or \
                        mv[p + 5] != OCTET_STRING or mv[p + 6] != 6 or mv[p + 13] != INT8 or \
                        mv[p + 15] != UINT16:
                    raise ValueError(CAPTURE_MALFORMED)
                self._cap[2 * k] = (mv[p + 3] << 8) | mv[p + 4]
                self._cap[2 * k + 1] = p + 7
                self._cap_attr[k] = mv[p + 14]
                self.pos = p + 18
            for k in range(1, n):
                if k >= captures:
                    self._value(NO_OBIS, k + 1)
                elif self._cap_attr[k] == 1 or self._cap[2 * k] == 40:
                    axdr.skip(self)  # logical names and the push setup object: no measurement
                else:
                    self._value(self._cap[2 * k + 1], k + 1)
        else:
            pending = NO_OBIS
            for k in range(n):
                p = self.pos
                t = mv[p]
                if pending == NO_OBIS:
                    # Flat layout: a 6-byte octet-string that looks like an OBIS code (A is a
                    # medium 0..15, F is 255), then its value as the next element.
                    if t == OCTET_STRING and mv[p + 1] == 6 and k + 1 < n and \
                            mv[p + 2] <= 15 and mv[p + 7] == 0xFF:
                        pending = p + 2
                        self.pos = p + 8
                        continue
                    # {OBIS, value} or {OBIS, value, {scaler, unit}} (class 3: value *
                    # 10^scaler unit).
                    if t == STRUCTURE and (mv[p + 1] == 2 or mv[p + 1] == 3) and \
                            mv[p + 2] == OCTET_STRING and mv[p + 3] == 6:
                        self.pos = p + 10
                        i = self._value(p + 4, 0)
                        if mv[p + 1] == 3:
                            q = self.pos
                            if mv[q] == STRUCTURE and mv[q + 1] == 2 and mv[q + 2] == INT8 \
                                    and mv[q + 4] == ENUM:
                                self.pos = q + 6
                                if i >= 0:
                                    s = mv[q + 3]
                                    self.scaler[i] = s - 256 if s > 127 else s
                                    self.unit[i] = mv[q + 5] or obis.UNIT_COUNT
                                    if self.tag[i] in NUMBERS:
                                        self._unscaled -= 1
                            else:
                                axdr.skip(self)
                        continue
                self._value(pending, k + 1)
                pending = NO_OBIS
        self._resolve(n)
        self.decoded += 1
        return DONE

    # -- items --------------------------------------------------------------------------------

    def _value(self, ref, position):
        """Store the element at self.pos as an item; return its index (-1: null or no room)."""
        p = self.pos
        mv = self.apdu
        tag = mv[p]
        if tag == UINT32 or tag == UINT16:
            # The common case inline (no call): unsigned 32 and 16 bit values.
            if tag == UINT32:
                self.value = (mv[p + 1] << 24) | (mv[p + 2] << 16) | (mv[p + 3] << 8) | mv[p + 4]
                self.pos = p + 5
                self.value_size = 4
            else:
                self.value = (mv[p + 1] << 8) | mv[p + 2]
                self.pos = p + 3
                self.value_size = 2
            self.value_start = p + 1
            self._unscaled += 1
        elif axdr.element(self) == STRUCTURE or tag == ARRAY:
            self.pos = p
            axdr.skip(self)
            self.value_start = p
            self.value_size = self.pos - p
            self.flags |= NESTED
        elif tag == 0:
            return -1  # null-data placeholder (1-phase Kamstrup lists)
        elif tag in NUMBERS:
            self._unscaled += 1
        i = self.count
        if i >= self.capacity:
            self.flags |= TRUNCATED
            return -1
        self.obis[i] = ref
        self.tag[i] = tag
        self.num[i] = self.value
        self.off[i] = self.value_start
        self.size[i] = self.value_size
        self.scaler[i] = 0
        self.unit[i] = 0
        self.position[i] = position
        self.count = i + 1
        return i

    def _starts_with(self, i, prefix):
        """True if item i is a string that begins with the bytes prefix."""
        t = self.tag[i]
        if (t != 9 and t != 10 and t != 12) or self.size[i] < len(prefix):
            return False
        off = self.off[i]
        for k in range(len(prefix)):
            if self.mv[off + k] != prefix[k]:
                return False
        return True

    # -- layout, vendor and scale ----------------------------------------------------------

    def _resolve(self, length):
        # length: items in the top-level list.
        refs = self.obis
        for i in range(self.count):
            if refs[i] == NO_OBIS:
                break
        else:
            if not self._unscaled:
                return  # every value has its OBIS code and its scale: nothing to resolve
        import dlms_vendor  # lists that need a vendor document (Kaifa, Kamstrup, Burgenland)

        dlms_vendor.resolve(self, length)


def datetime_text(mv, off):
    """ISO 8601 local time of a 12-byte COSEM date-time (Blue Book, date-time), or None.

    Fields: year (2), month, day, weekday, hour, minute, second, hundredths, deviation (2),
    clock status. Unspecified seconds (0xFF) count as 0; other unspecified fields give None.
    """
    year = (mv[off] << 8) | mv[off + 1]
    second = mv[off + 7]
    if second == 0xFF:
        second = 0
    if year == 0xFFFF or not 1 <= mv[off + 2] <= 12 or not 1 <= mv[off + 3] <= 31 or \
            mv[off + 5] > 23 or mv[off + 6] > 59 or second > 59:
        return None
    return "%04d-%02d-%02dT%02d:%02d:%02d" % (year, mv[off + 2], mv[off + 3], mv[off + 5],
                                              mv[off + 6], second)
