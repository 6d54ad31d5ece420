# DLMS/COSEM pushes: data-notification APDUs (IEC 62056-5-3, tag 0x0F), general block
# transfer (tag 0xE0) reassembly across pushes and general-glo-ciphering (tag 0xDB).
#
# A decoded push is a table of items (Push), reused for every push: each item has an OBIS code
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
from array import array

from micropython import const

import obis
from axdr import Malformed, Reader

DONE = const(1)
PENDING = const(0)  # a block transfer waits for more blocks
REJECTED = const(-1)

# Push.flags bits, named by FLAG_NAMES.
F_ENCRYPTED = const(1)
F_AUTHENTICATED = const(2)  # GCM tag verified with the authentication key
F_TAG_NOT_VERIFIED = const(4)  # the push has a tag but no authentication key is configured
F_UNSCALED = const(8)  # numbers whose scale neither the frame nor a vendor document gives
F_UNKNOWN_LIST = const(16)  # positional list of unknown layout: every value reported raw
F_UNKNOWN_ITEMS = const(32)  # values without OBIS inside an OBIS-coded list, reported raw
F_TRUNCATED = const(64)  # more values than the item table holds
F_NESTED = const(128)  # nested structures, reported as hex
FLAG_NAMES = "encrypted authenticated tag_not_verified unscaled unknown_list unknown_items " \
    "truncated nested_values"

NO_OBIS = const(-1)

_ARRAY = const(1)
_STRUCTURE = const(2)
_UINT32 = const(6)
_OCTET_STRING = const(9)
_INT8 = const(15)
_UINT16 = const(18)
_ENUM = const(22)
_NUMBERS = b"\x05\x06\x0d\x0f\x10\x11\x12\x14\x15\x17\x18"  # integer and float tags, no enum


class Push:
    """The items of one decoded push (capacity fixed at construction)."""

    def __init__(self, capacity):
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
        self.clear(None)

    def clear(self, mv):
        self.mv = mv  # the APDU the offsets refer to (valid until the next push)
        self.count = 0
        self.flags = 0
        self.vendor = obis.VENDOR_NONE
        self.time_off = -1  # notification date-time (12 bytes) in mv
        self.version = -1  # item holding the list version string
        self.has_title = False

    def code(self, i, k):
        """Byte k (0..5) of item i's OBIS code (the item must have one)."""
        ref = self.obis[i]
        return self.mv[ref + k] if ref >= 0 else obis.CODES[6 * (-2 - ref) + k]

    def obis_text(self, i):
        ref = self.obis[i]
        if ref >= 0:
            return obis.obis_text(self.mv, ref)
        return obis.obis_text(obis.CODES, 6 * (-2 - ref))

    def starts_with(self, i, prefix):
        """True if string item i begins with the bytes prefix."""
        if self.tag[i] not in (9, 10, 12) or self.size[i] < len(prefix):
            return False
        off = self.off[i]
        for k in range(len(prefix)):
            if self.mv[off + k] != prefix[k]:
                return False
        return True


class DlmsDecoder:
    """decode(buf, start, end) one APDU into self.push. Counters: decoded, rejected, blocks,
    blocks_dropped, no_key, auth_failures; last_reason."""

    def __init__(self, key=None, auth_key=None, on_reject=None, capacity=64, block_size=1024):
        self.push = Push(capacity)
        self.decoded = self.rejected = self.blocks = self.blocks_dropped = 0
        self.no_key = self.auth_failures = 0
        self.last_reason = None
        self._key = key or None
        self._auth_key = auth_key or None
        self._gcm = None
        self._on_reject = on_reject
        self._r = Reader()
        self._blocks = bytearray(block_size)
        self._block_len = 0
        self._block_next = 0  # next expected block number; 0: no transfer open
        self._in_blocks = False
        self._security = 0
        self._title = False
        self._list_len = 0
        self._unscaled = 0
        self._cap_count = 0
        self._cap = array("h", bytes(4 * capacity))  # class, OBIS offset per capture object
        self._cap_attr = bytearray(capacity)
        self._iv = bytearray(12)

    def decode(self, buf, start, end):
        """DONE (self.push filled), PENDING (block transfer open) or REJECTED."""
        self._security = 0
        self._title = False
        self._in_blocks = False
        try:
            return self._apdu(memoryview(buf)[start:end], 0)
        except Malformed as e:
            return self._reject(e.args[0])
        except IndexError:
            return self._reject("APDU shorter than its contents")

    def end_of_input(self):
        if self._block_next:
            self._drop_blocks()

    def _report(self, reason):
        self.last_reason = reason
        if self._on_reject:
            self._on_reject(reason)

    def _reject(self, reason):
        self.rejected += 1
        self._report(reason)
        return REJECTED

    def _apdu(self, mv, depth):
        if depth > 3:
            raise Malformed("APDU nesting too deep")
        tag = mv[0]
        if tag == 0xE0:
            return self._block(mv, depth)
        if self._block_next and not self._in_blocks:
            self._drop_blocks()
        if tag == 0x0F:
            return self._notification(mv)
        if tag == 0xDB:
            return self._ciphered(mv, depth)
        return self._reject("unsupported APDU type")

    # -- general block transfer (Green Book: GBT APDU) ------------------------------------------

    def _drop_blocks(self):
        self._block_next = self._block_len = 0
        self.blocks_dropped += 1
        self._report("incomplete block transfer dropped")

    def _block(self, mv, depth):
        # E0, block-control (bit 7: last block), block-number (2), block-number-ack (2),
        # block-data (octet string).
        if self._in_blocks:
            raise Malformed("APDU nesting too deep")
        r = self._r
        r.mv = mv
        r.pos = 6
        n = r.length()
        p = r.pos
        if p + n > len(mv):
            raise Malformed("APDU shorter than its contents")
        number = (mv[2] << 8) | mv[3]
        self.blocks += 1
        k = self._block_len
        if number == 1:
            if self._block_next:
                self._drop_blocks()
            k = 0
        elif number != self._block_next:
            self._block_next = self._block_len = 0
            self.blocks_dropped += 1
            return self._reject("block transfer out of sequence: dropped")
        if k + n > len(self._blocks):
            self._block_next = self._block_len = 0
            self.blocks_dropped += 1
            return self._reject("block transfer too large: dropped")
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
            raise Malformed("system title length not 8")
        title = self.push.system_title
        title[0:8] = mv[2:10]
        self._title = True
        r = self._r
        r.mv = mv
        r.pos = 10
        n = r.length()
        p = r.pos
        if p + n > len(mv) or n < 5:
            raise Malformed("APDU shorter than its contents")
        sc = mv[p]
        if sc & 0x80 or sc & 0x0F > 2 or not sc & 0x30:
            return self._reject("unsupported security control")
        start = p + 5
        end = p + n
        auth = sc & 0x10
        if auth:
            end -= 12
            if end < start:
                raise Malformed("APDU shorter than its contents")
        if self._key is None:
            self.no_key += 1
            return self._reject("encrypted push, no key configured")
        if len(self._key) != (32 if sc & 0x0F == 2 else 16):
            return self._reject("key length does not fit the security suite")
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
                    return self._reject("GCM tag mismatch (wrong keys or corrupt frame)")
                self._security |= F_AUTHENTICATED
            else:
                self._security |= F_TAG_NOT_VERIFIED
        if sc & 0x20:
            gcm.decrypt_in_place(iv, mv, start, end)
            self._security |= F_ENCRYPTED
        inner = mv[start:end]
        if self._security & F_AUTHENTICATED:
            return self._apdu(inner, depth + 1)
        # Without a verified tag a wrong key shows only as plaintext that does not parse.
        if end > start and (inner[0] == 0x0F or inner[0] == 0xE0):
            try:
                return self._apdu(inner, depth + 1)
            except (Malformed, IndexError):
                self.push.clear(None)  # half-filled by garbage: nothing of it is reported
        return self._reject("decrypted push is no valid APDU (wrong key?)")

    # -- data-notification ----------------------------------------------------------------------

    def _notification(self, mv):
        # 0F, long-invoke-id-and-priority (4), date-time (A-XDR OCTET STRING), body (Data).
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
            raise Malformed("APDU shorter than its contents")
        push = self.push
        push.clear(mv)
        push.time_off = time_off
        push.flags = self._security
        push.has_title = self._title
        r = self._r
        r.mv = mv
        r.pos = p
        self._unscaled = 0  # numbers stored without a scale so far
        self._body(r)
        self._resolve()
        self.decoded += 1
        return DONE

    def _body(self, r):
        mv = r.mv
        t = mv[r.pos]
        self._cap_count = 0
        if t != _STRUCTURE and t != _ARRAY:
            self._list_len = 1
            self._value(r, NO_OBIS, 1)
            return
        r.element()
        n = r.num
        self._list_len = n
        if n and mv[r.pos] == _ARRAY and self._capture_list(r):
            for k in range(1, n):
                if k < self._cap_count and (self._cap_attr[k] == 1 or self._cap[2 * k] == 40):
                    r.skip()  # logical names and the push setup object: no measurement
                else:
                    self._value(r, self._cap[2 * k + 1] if k < self._cap_count else NO_OBIS, k + 1)
            return
        pending = NO_OBIS
        for k in range(n):
            p = r.pos
            t = mv[p]
            if pending == NO_OBIS:
                if t == _OCTET_STRING and mv[p + 1] == 6 and k + 1 < n and \
                        obis.looks_like_obis(mv, p + 2):
                    pending = p + 2  # flat layout: the value is the next element
                    r.pos = p + 8
                    continue
                if t == _STRUCTURE and (mv[p + 1] == 2 or mv[p + 1] == 3) and \
                        mv[p + 2] == _OCTET_STRING and mv[p + 3] == 6:
                    self._register(r)
                    continue
            self._value(r, pending, k + 1)
            pending = NO_OBIS

    def _register(self, r):
        # {OBIS, value} or {OBIS, value, {scaler, unit}} (class 3: value * 10^scaler unit).
        mv = r.mv
        m = mv[r.pos + 1]
        ref = r.pos + 4
        r.pos += 10
        i = self._value(r, ref, 0)
        if m == 3:
            p = r.pos
            if mv[p] == _STRUCTURE and mv[p + 1] == 2 and mv[p + 2] == _INT8 and \
                    mv[p + 4] == _ENUM:
                r.pos = p + 6
                if i >= 0:
                    s = mv[p + 3]
                    self.push.scaler[i] = s - 256 if s > 127 else s
                    self.push.unit[i] = mv[p + 5] or obis.UNIT_COUNT
                    if self.push.tag[i] in _NUMBERS:
                        self._unscaled -= 1
            else:
                r.skip()

    def _value(self, r, ref, position):
        """Store the element at r.pos as an item; return its index (-1: null or no room)."""
        p = r.pos
        push = self.push
        mv = r.mv
        tag = mv[p]
        if tag == _UINT32 or tag == _UINT16:
            # The common case inline (no call): unsigned 32 and 16 bit values.
            if tag == _UINT32:
                r.num = (mv[p + 1] << 24) | (mv[p + 2] << 16) | (mv[p + 3] << 8) | mv[p + 4]
                r.pos = p + 5
                r.size = 4
            else:
                r.num = (mv[p + 1] << 8) | mv[p + 2]
                r.pos = p + 3
                r.size = 2
            r.off = p + 1
            self._unscaled += 1
        elif r.element() == _STRUCTURE or tag == _ARRAY:
            r.pos = p
            r.skip()
            r.off = p
            r.size = r.pos - p
            push.flags |= F_NESTED
        elif tag == 0:
            return -1  # null-data placeholder (1-phase Kamstrup lists)
        elif tag in _NUMBERS:
            self._unscaled += 1
        i = push.count
        if i >= push.capacity:
            push.flags |= F_TRUNCATED
            return -1
        push.obis[i] = ref
        push.tag[i] = tag
        push.num[i] = r.num
        push.off[i] = r.off
        push.size[i] = r.size
        push.scaler[i] = 0
        push.unit[i] = 0
        push.position[i] = position
        push.count = i + 1
        return i

    def _capture_list(self, r):
        # Array of capture-object definitions {class-id, logical name, attribute, data index}:
        # 02 04 12 cc cc 09 06 <6 bytes> 0F aa 12 ii ii, 18 bytes each (push setup, attribute 3).
        mv = r.mv
        p = r.pos
        if mv[p + 2] != _STRUCTURE or mv[p + 3] != 4 or mv[p + 4] != _UINT16 or \
                mv[p + 7] != _OCTET_STRING or mv[p + 8] != 6:
            return False
        r.element()
        n = r.num
        if n > len(self._cap_attr):
            raise Malformed("capture object list too long")
        for k in range(n):
            p = r.pos
            if mv[p] != _STRUCTURE or mv[p + 1] != 4 or mv[p + 2] != _UINT16 or \
                    mv[p + 5] != _OCTET_STRING or mv[p + 6] != 6 or mv[p + 13] != _INT8 or \
                    mv[p + 15] != _UINT16:
                raise Malformed("malformed capture object definition")
            self._cap[2 * k] = (mv[p + 3] << 8) | mv[p + 4]
            self._cap[2 * k + 1] = p + 7
            self._cap_attr[k] = mv[p + 14]
            r.pos = p + 18
        self._cap_count = n
        return True

    # -- layout, vendor and scale ----------------------------------------------------------

    def _resolve(self):
        push = self.push
        n = push.count
        coded = 0
        refs = push.obis
        for i in range(n):
            if refs[i] != NO_OBIS:
                coded += 1
        if coded == n and not self._unscaled:
            return  # every value has its OBIS code and its scale: nothing to resolve
        if n and not coded:
            if not self._positional():
                push.flags |= F_UNKNOWN_LIST
                return
        else:
            for i in range(n):
                if push.obis[i] == NO_OBIS:
                    if push.version < 0 and push.position[i] == 1 and push.tag[i] in (9, 10, 12):
                        push.version = i  # Kamstrup's leading list version string
                    else:
                        push.flags |= F_UNKNOWN_ITEMS
            self._vendor_from_version()
        if not self._unscaled:
            return
        for i in range(n):
            if push.unit[i] or push.obis[i] == NO_OBIS or push.tag[i] not in _NUMBERS:
                continue  # scaled already, no OBIS, or not a number (strings, enums, booleans)
            ref = push.obis[i]
            if ref >= 0:
                mv = push.mv
            else:
                mv = obis.CODES
                ref = 6 * (-2 - ref)
            scale = obis.vendor_scale(push.vendor, mv[ref + 2], mv[ref + 3], mv[ref + 4])
            if scale is None:
                push.flags |= F_UNSCALED
            else:
                push.scaler[i] = scale >> 8
                push.unit[i] = scale & 0xFF

    def _vendor_from_version(self):
        # The list version names the vendor: "Kamstrup_V0001", "KFM_001", "AIDON_V0001", either
        # as the leading string or as the value of x-x:0.2.129.
        push = self.push
        for i in range(push.count):
            if i == push.version or (push.obis[i] != NO_OBIS and push.code(i, 2) == 0 and
                                     push.code(i, 3) == 2 and push.code(i, 4) == 129):
                if push.starts_with(i, b"Kamstrup"):
                    push.vendor = obis.VENDOR_KAMSTRUP
                elif push.starts_with(i, b"KFM"):
                    push.vendor = obis.VENDOR_KAIFA
                elif push.starts_with(i, b"AIDON"):
                    push.vendor = obis.VENDOR_AIDON
                return

    def _positional(self):
        # Lists without any OBIS code: only a vendor document can say what the positions mean.
        push = self.push
        n = self._list_len
        if push.count != n:
            return False
        codes = obis.kaifa_map(n)
        if codes is not None and (push.starts_with(0, b"KFM") if n > 1 else
                                  push.tag[0] == _UINT32 or push.tag[0] == 5):
            push.vendor = obis.VENDOR_KAIFA
        elif push.tag[0:n] == obis.BURGENLAND_TYPES:
            push.vendor = obis.VENDOR_BURGENLAND
            codes = obis.BURGENLAND_MAP
        else:
            return False
        for i in range(n):
            if codes[i] != obis.NO_CODE:
                push.obis[i] = -2 - codes[i]
        return True


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
