# DLMS/COSEM pushes: data-notification APDUs (IEC 62056-5-3, tag 0x0F), general block
# transfer (tag 0xE0) reassembly across pushes and general-glo-ciphering (tag 0xDB).
#
# A decoded push is a table of items, reused for every push: each item has an OBIS code
# (an offset into the APDU, or a vendor-document code), the A-XDR type and value, and a scaler
# and unit when the frame or a vendor document gives them (unit 0: scale unknown).
# Body layouts handled (han_protocol.md 5.6):
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

from micropython import const

import axdr
import obis

DONE = const(1)
PENDING = const(0)  # a block transfer waits for more blocks
REJECTED = const(-1)

# push.flags bits, named by FLAG_NAMES.
_ENCRYPTED = const(1)
_AUTHENTICATED = const(2)  # GCM tag verified with the authentication key
_TAG_NOT_VERIFIED = const(4)  # the push has a tag but no authentication key is configured
_UNSCALED = const(8)  # numbers whose scale neither the frame nor a vendor document gives
_UNKNOWN_LIST = const(16)  # positional list of unknown layout: every value reported raw
_UNKNOWN_ITEMS = const(32)  # values without OBIS inside an OBIS-coded list, reported raw
_TRUNCATED = const(64)  # more values than the item table holds
_NESTED = const(128)  # nested structures, reported as hex
FLAG_NAMES = "encrypted authenticated tag_not_verified unscaled unknown_list unknown_items " \
    "truncated nested_values"

NO_OBIS = const(-1)

_ARRAY = const(1)
_STRUCTURE = const(2)
_INT32 = const(5)
_UINT32 = const(6)
_OCTET_STRING = const(9)
_INT8 = const(15)
_UINT16 = const(18)
_ENUM = const(22)
_NUMBERS = b"\x05\x06\x0d\x0f\x10\x11\x12\x14\x15\x17\x18"  # integer and float tags, no enum

# Rejection reasons by number (_report): line n of _REASONS. Reasons _BLOCKS_INCOMPLETE to
# _BLOCKS_TOO_LARGE also drop the open block transfer.
_SHORT = const(0)
_DEEP = const(1)
_UNSUPPORTED_APDU = const(2)
_BLOCKS_INCOMPLETE = const(3)
_BLOCKS_OUT_OF_SEQUENCE = const(4)
_BLOCKS_TOO_LARGE = const(5)
_TITLE_LENGTH = const(6)
_SECURITY_CONTROL = const(7)
_NO_KEY = const(8)
_KEY_LENGTH = const(9)
_TAG_MISMATCH = const(10)
_WRONG_KEY = const(11)
_CAPTURES_TOO_LONG = const(12)
_CAPTURE_MALFORMED = const(13)
_REASONS = (
    "APDU shorter than its contents\n"
    "APDU nesting too deep\n"
    "unsupported APDU type\n"
    "incomplete block transfer dropped\n"
    "block transfer out of sequence: dropped\n"
    "block transfer too large: dropped\n"
    "system title length not 8\n"
    "unsupported security control\n"
    "encrypted push, no key configured\n"
    "key length does not fit the security suite\n"
    "GCM tag mismatch (wrong keys or corrupt frame)\n"
    "decrypted push is no valid APDU (wrong key?)\n"
    "capture object list too long\n"
    "malformed capture object definition\n"
    "A-XDR length too long\n"  # 14-17: raised by axdr.py
    "value past the APDU end\n"
    "unsupported A-XDR type\n"
    "A-XDR nesting too deep\n"
)


class DlmsDecoder:
    """decode(buf, start, end) one APDU into self.push. Counters: decoded, rejected, blocks,
    blocks_dropped, no_key, auth_failures; last_reason.

    self.push, the decoded push, is the decoder itself (one object and one class less in RAM):
    its items are i < count, with arrays indexed by item (capacity fixed at construction) and
    obis_text(i)."""

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

    def obis_text(self, i):
        """'A-B:C.D.E' of item i's OBIS code (group F is 255 in pushes and not shown)."""
        ref = self.obis[i]
        src = self.mv
        if ref < 0:
            src = obis.CODES
            ref = 6 * (-2 - ref)
        return "%d-%d:%d.%d.%d" % (src[ref], src[ref + 1], src[ref + 2], src[ref + 3],
                                   src[ref + 4])

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
            return self._reject(_SHORT)

    def end_of_input(self):
        if self._block_next:
            self._report(_BLOCKS_INCOMPLETE)

    def _report(self, reason):
        if _BLOCKS_INCOMPLETE <= reason <= _BLOCKS_TOO_LARGE:
            self._block_next = self._block_len = 0
            self.blocks_dropped += 1
        start = 0
        for _ in range(reason):
            start = _REASONS.find("\n", start) + 1
        reason = _REASONS[start : _REASONS.find("\n", start)]
        self.last_reason = reason
        if self._on_reject:
            self._on_reject(reason)

    def _reject(self, reason):
        self.rejected += 1
        self._report(reason)
        return REJECTED

    def _apdu(self, mv, depth):
        if depth > 3:
            raise ValueError(_DEEP)
        tag = mv[0]
        if tag == 0xE0:
            return self._block(mv, depth)
        if self._block_next and not self._in_blocks:
            self._report(_BLOCKS_INCOMPLETE)
        if tag == 0xDB:
            return self._ciphered(mv, depth)
        if tag != 0x0F:
            return self._reject(_UNSUPPORTED_APDU)

        # data-notification: 0F, long-invoke-id-and-priority (4), date-time (A-XDR OCTET
        # STRING), body (Data).
        p = 5
        b = mv[p]
        if b == _OCTET_STRING and mv[p + 1] == 12:
            time_off = p + 2  # Kaifa sends it as a Data octet-string (09 0C ...)
            p += 14
        elif b == 12:
            time_off = p + 1
            p += 13
        else:
            time_off = -1
            p += 1 + b
        if p >= len(mv):
            raise ValueError(_SHORT)
        self._clear_push(mv)
        self.time_off = time_off
        self.flags = self._security
        self.has_title = self._title
        self.apdu = mv
        self.pos = p
        self._unscaled = 0  # numbers stored without a scale so far
        n = 1  # length of the top-level list: a lone value is read as a list of one
        t = mv[p]
        if t == _STRUCTURE or t == _ARRAY:
            axdr.element(self)
            n = self.value
        captures = -1  # objects in the capture-object list; -1: the push has none
        p = self.pos
        # Capture-object definitions {class-id, logical name, attribute, data index}:
        # 02 04 12 cc cc 09 06 <6 bytes> 0F aa 12 ii ii, 18 bytes each (push setup, attr. 3).
        if n and mv[p] == _ARRAY and mv[p + 2] == _STRUCTURE and mv[p + 3] == 4 and \
                mv[p + 4] == _UINT16 and mv[p + 7] == _OCTET_STRING and mv[p + 8] == 6:
            axdr.element(self)
            captures = self.value
            if captures > len(self._cap_attr):
                raise ValueError(_CAPTURES_TOO_LONG)
            for k in range(captures):
                p = self.pos
                if mv[p] != _STRUCTURE or mv[p + 1] != 4 or mv[p + 2] != _UINT16 or \
                        mv[p + 5] != _OCTET_STRING or mv[p + 6] != 6 or mv[p + 13] != _INT8 or \
                        mv[p + 15] != _UINT16:
                    raise ValueError(_CAPTURE_MALFORMED)
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
                    if t == _OCTET_STRING and mv[p + 1] == 6 and k + 1 < n and \
                            mv[p + 2] <= 15 and mv[p + 7] == 0xFF:
                        pending = p + 2
                        self.pos = p + 8
                        continue
                    # {OBIS, value} or {OBIS, value, {scaler, unit}} (class 3: value *
                    # 10^scaler unit).
                    if t == _STRUCTURE and (mv[p + 1] == 2 or mv[p + 1] == 3) and \
                            mv[p + 2] == _OCTET_STRING and mv[p + 3] == 6:
                        self.pos = p + 10
                        i = self._value(p + 4, 0)
                        if mv[p + 1] == 3:
                            q = self.pos
                            if mv[q] == _STRUCTURE and mv[q + 1] == 2 and mv[q + 2] == _INT8 \
                                    and mv[q + 4] == _ENUM:
                                self.pos = q + 6
                                if i >= 0:
                                    s = mv[q + 3]
                                    self.scaler[i] = s - 256 if s > 127 else s
                                    self.unit[i] = mv[q + 5] or obis.UNIT_COUNT
                                    if self.tag[i] in _NUMBERS:
                                        self._unscaled -= 1
                            else:
                                axdr.skip(self)
                        continue
                self._value(pending, k + 1)
                pending = NO_OBIS
        self._resolve(n)
        self.decoded += 1
        return DONE

    # -- general block transfer (Green Book: GBT APDU) ------------------------------------------

    def _block(self, mv, depth):
        # E0, block-control (bit 7: last block), block-number (2), block-number-ack (2),
        # block-data (octet string).
        if self._in_blocks:
            raise ValueError(_DEEP)
        self.apdu = mv
        self.pos = 6
        n = axdr.length(self)
        p = self.pos
        if p + n > len(mv):
            raise ValueError(_SHORT)
        number = (mv[2] << 8) | mv[3]
        self.blocks += 1
        k = self._block_len
        if number == 1:
            if self._block_next:
                self._report(_BLOCKS_INCOMPLETE)
            k = 0
        elif number != self._block_next:
            return self._reject(_BLOCKS_OUT_OF_SEQUENCE)
        if k + n > self._blocks_size:
            return self._reject(_BLOCKS_TOO_LARGE)
        if self._blocks is None:
            self._blocks = bytearray(self._blocks_size)
        blocks = memoryview(self._blocks)
        blocks[k : k + n] = mv[p : p + n]
        self._block_len = k + n
        if not mv[1] & 0x80:
            self._block_next = number + 1
            return PENDING
        self._block_next = 0
        self._in_blocks = True
        return self._apdu(blocks[0 : k + n], depth + 1)

    # -- general-glo-ciphering (Green Book: security suites 0-2, AES-GCM) ----------------------

    def _ciphered(self, mv, depth):
        # DB, system title (8), length, security control, invocation counter (4), ciphertext,
        # and a 12-byte tag when the control byte has the authentication bit (0x10).
        if mv[1] != 8:
            raise ValueError(_TITLE_LENGTH)
        if len(mv) < 11:  # a shorter slice would shrink the reused title buffer
            raise ValueError(_SHORT)
        title = self.system_title
        title[0:8] = mv[2:10]
        self._title = True
        self.apdu = mv
        self.pos = 10
        n = axdr.length(self)
        p = self.pos
        if p + n > len(mv) or n < 5:
            raise ValueError(_SHORT)
        sc = mv[p]
        if sc & 0x80 or sc & 0x0F > 2 or not sc & 0x30:
            return self._reject(_SECURITY_CONTROL)
        start = p + 5
        end = p + n
        auth = sc & 0x10
        if auth:
            end -= 12
            if end < start:
                raise ValueError(_SHORT)
        if self._key is None:
            self.no_key += 1
            return self._reject(_NO_KEY)
        if len(self._key) != (32 if sc & 0x0F == 2 else 16):
            return self._reject(_KEY_LENGTH)
        iv = self._iv  # system title || invocation counter
        iv[0:8] = title
        iv[8:12] = mv[p + 1 : p + 5]
        if self._gcm is None:
            from gcm import AesGcm

            self._gcm = AesGcm(self._key)
        gcm = self._gcm
        if auth:
            if self._auth_key:
                # Authenticated data: SC || AK, plus the plaintext when it is not encrypted.
                aad = bytes((sc,)) + self._auth_key
                tag = mv[end : end + 12]
                if sc & 0x20:
                    ok = gcm.verify(iv, aad, mv, start, end, tag)
                else:
                    ok = gcm.verify(iv, aad + bytes(mv[start:end]), mv, end, end, tag)
                if not ok:
                    self.auth_failures += 1
                    return self._reject(_TAG_MISMATCH)
                self._security |= _AUTHENTICATED
            else:
                self._security |= _TAG_NOT_VERIFIED
        if sc & 0x20:
            gcm.decrypt_in_place(iv, mv, start, end)
            self._security |= _ENCRYPTED
        inner = mv[start:end]
        if self._security & _AUTHENTICATED:
            return self._apdu(inner, depth + 1)
        # Without a verified tag a wrong key shows only as plaintext that does not parse.
        if end > start and (inner[0] == 0x0F or inner[0] == 0xE0):
            try:
                return self._apdu(inner, depth + 1)
            except (ValueError, IndexError):
                self._clear_push(None)  # half-filled by garbage: nothing of it is reported
        return self._reject(_WRONG_KEY)

    # -- items --------------------------------------------------------------------------------

    def _value(self, ref, position):
        """Store the element at self.pos as an item; return its index (-1: null or no room)."""
        p = self.pos
        mv = self.apdu
        tag = mv[p]
        if tag == _UINT32 or tag == _UINT16:
            # The common case inline (no call): unsigned 32 and 16 bit values.
            if tag == _UINT32:
                self.value = (mv[p + 1] << 24) | (mv[p + 2] << 16) | (mv[p + 3] << 8) | mv[p + 4]
                self.pos = p + 5
                self.value_size = 4
            else:
                self.value = (mv[p + 1] << 8) | mv[p + 2]
                self.pos = p + 3
                self.value_size = 2
            self.value_start = p + 1
            self._unscaled += 1
        elif axdr.element(self) == _STRUCTURE or tag == _ARRAY:
            self.pos = p
            axdr.skip(self)
            self.value_start = p
            self.value_size = self.pos - p
            self.flags |= _NESTED
        elif tag == 0:
            return -1  # null-data placeholder (1-phase Kamstrup lists)
        elif tag in _NUMBERS:
            self._unscaled += 1
        i = self.count
        if i >= self.capacity:
            self.flags |= _TRUNCATED
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
        n = self.count
        coded = 0
        refs = self.obis
        for i in range(n):
            if refs[i] != NO_OBIS:
                coded += 1
        if coded == n and not self._unscaled:
            return  # every value has its OBIS code and its scale: nothing to resolve
        scales = None  # the vendor document's scale table (obis.*_SCALE)
        if n and not coded:
            # No OBIS code at all: only a vendor document can say what the positions mean.
            # Kaifa KFM_001 lists by length: list 1 (1 item: active power +), list 2 (9 items
            # 1-phase, 13 items 3-phase), list 3 (14 / 18: list 2 plus clock and the four
            # energy registers).
            if self.count == length and (length == 1 or length == 9 or length == 13 or
                                         length == 14 or length == 18) and \
                    (self._starts_with(0, b"KFM") if length > 1 else
                     self.tag[0] == _UINT32 or self.tag[0] == _INT32):
                scales = obis.KAIFA_SCALE
            elif self.count == length and self.tag[0:length] == obis.BURGENLAND_TYPES:
                scales = obis.BURGENLAND_SCALE
            else:
                self.flags |= _UNKNOWN_LIST
                return
            one_phase = length == 9 or length == 14
            for i in range(length):
                if scales is obis.BURGENLAND_SCALE:
                    code = obis.BURGENLAND_MAP[i]
                elif length == 1:
                    code = 3  # 1-0:1.7.0
                elif one_phase and i >= 8:
                    # 1-phase: voltage L1 (10) after the first 8, then clock and energy (13-17)
                    code = 10 if i == 8 else i + 4
                else:
                    code = i  # obis.CODES is in the order of Kaifa's 3-phase list 3
                if code != obis.NO_CODE:
                    self.obis[i] = -2 - code
        else:
            for i in range(n):
                if self.obis[i] == NO_OBIS:
                    t = self.tag[i]
                    if self.version < 0 and self.position[i] == 1 and (t == 9 or t == 10 or
                                                                       t == 12):
                        self.version = i  # Kamstrup's leading list version string
                    else:
                        self.flags |= _UNKNOWN_ITEMS
            # The list version names the vendor: "Kamstrup_V0001", "KFM_001", "AIDON_V0001"
            # (Aidon sends its scalers: no table), either as the leading string or as the value
            # of x-x:0.2.129. Here every OBIS code is an offset into the APDU.
            mv = self.mv
            for i in range(n):
                ref = self.obis[i]
                if i == self.version or (ref >= 0 and mv[ref + 2] == 0 and mv[ref + 3] == 2 and
                                         mv[ref + 4] == 129):
                    if self._starts_with(i, b"Kamstrup"):
                        scales = obis.KAMSTRUP_SCALE
                    elif self._starts_with(i, b"KFM"):
                        scales = obis.KAIFA_SCALE
                    break
        if not self._unscaled:
            return
        for i in range(n):
            ref = self.obis[i]
            if self.unit[i] or ref == NO_OBIS or self.tag[i] not in _NUMBERS:
                continue  # scaled already, no OBIS, or not a number (strings, enums, booleans)
            src = self.mv
            if ref < 0:
                src = obis.CODES
                ref = 6 * (-2 - ref)
            # Rows of the vendor's table: C, D, scaler + 128, unit, for codes C.D.0.
            k = 0
            end = len(scales) if scales is not None and src[ref + 4] == 0 else 0
            while k < end:
                if scales[k] == src[ref + 2] and scales[k + 1] == src[ref + 3]:
                    self.scaler[i] = scales[k + 2] - 128
                    self.unit[i] = scales[k + 3]
                    break
                k += 4
            else:
                self.flags |= _UNSCALED


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
