# DLMS/COSEM pushes: data-notification APDUs (IEC 62056-5-3, tag 0x0F), general block
# transfer (tag 0xE0) reassembly across pushes and general-glo-ciphering (tag 0xDB).
#
# A decoded push is a table of items (Push), reused for every push: each item has an OBIS code
# (an offset into the APDU, or a vendor-document code), the A-XDR type and value, and a scaler
# and unit when the frame or the vendor document gives them (unit 0 = scale unknown).
# Body layouts handled (han_protocol.md 5.6):
#   a) structures {OBIS, value[, {scaler, unit}]} (Aidon, Austrian and Polish lists),
#   b) a flat list OBIS, value, OBIS, value... after a list-version string (Kamstrup, Kaifa SE),
#   c) positional values without OBIS, mapped by the vendor document (Kaifa by list length, Netz
#      Burgenland L&G by its data types),
#   d) L&G push lists whose first element is the capture-object list {class, OBIS, attribute,
#      index}: element k of the push is the value of capture object k.
# Anything else is reported raw and flagged; nothing raises out of decode().
from micropython import const

import axdr
import obis
from axdr import Malformed, Reader

DONE = const(1)
PENDING = const(0)  # a block transfer is waiting for more blocks
REJECTED = const(-1)

# Push.flags
F_ENCRYPTED = const(1)
F_AUTHENTICATED = const(2)  # GCM tag verified with the authentication key
F_TAG_NOT_VERIFIED = const(4)  # the push carries a tag but no authentication key is set
F_UNSCALED = const(8)  # numbers whose scale neither the frame nor a vendor document gives
F_UNKNOWN_LIST = const(16)  # positional list of unknown layout: every value reported raw
F_UNKNOWN_ITEMS = const(32)  # values without OBIS inside an OBIS-coded list, reported raw
F_TRUNCATED = const(64)  # more values than the item table holds
F_NESTED = const(128)  # nested structures reported as hex
FLAG_NAMES = (
    "encrypted", "authenticated", "tag_not_verified", "unscaled", "unknown_list",
    "unknown_items", "truncated", "nested_values",
)  # fmt: skip

NO_OBIS = const(-1)

R_MALFORMED = "malformed A-XDR: APDU shorter than its contents"
R_APDU_TAG = "unsupported APDU (not data-notification, block transfer or glo-ciphering)"
R_NESTING = "APDU nesting too deep"
R_GBT_INCOMPLETE = "incomplete general block transfer dropped"
R_GBT_SEQUENCE = "general block transfer block out of sequence: transfer dropped"
R_GBT_OVERFLOW = "general block transfer larger than the reassembly buffer: dropped"
R_NO_KEY = "encrypted push but no encryption key configured"
R_KEY_LENGTH = "encryption key length does not match the security suite"
R_SECURITY = "unsupported security control byte"
R_TAG = "GCM authentication tag mismatch (wrong keys or corrupted frame)"
R_WRONG_KEY = "decrypted push is not a valid APDU (wrong encryption key?)"
R_CAPTURE = "malformed capture-object definition"


class Push:
    """The items of one decoded push (capacity fixed at construction)."""

    def __init__(self, capacity=96):
        self.capacity = capacity
        self.obis = [NO_OBIS] * capacity  # >= 0: offset in mv; <= -2: obis.CODES index -2 - ref
        self.tag = bytearray(capacity)
        self.num = [0] * capacity
        self.off = [0] * capacity
        self.size = [0] * capacity
        self.scaler = [0] * capacity
        self.unit = bytearray(capacity)
        self.position = [0] * capacity  # 1-based position in the top-level list
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
        """Byte k (0..5) of item i's OBIS code (item must have one)."""
        ref = self.obis[i]
        if ref >= 0:
            return self.mv[ref + k]
        return obis.CODES[6 * (-2 - ref) + k]

    def obis_text(self, i):
        ref = self.obis[i]
        if ref >= 0:
            return obis.obis_text(self.mv, ref)
        return obis.obis_text(obis.CODES, 6 * (-2 - ref))

    def starts_with(self, i, prefix):
        """True if string item i begins with the bytes prefix."""
        if not axdr.is_string(self.tag[i]) or self.size[i] < len(prefix):
            return False
        mv = self.mv
        off = self.off[i]
        for k in range(len(prefix)):
            if mv[off + k] != prefix[k]:
                return False
        return True


class DlmsStats:
    def __init__(self):
        self.decoded = 0
        self.rejected = 0
        self.blocks = 0
        self.blocks_dropped = 0
        self.no_key = 0
        self.auth_failures = 0
        self.last_reason = None


class DlmsDecoder:
    def __init__(self, key=None, auth_key=None, on_reject=None, capacity=96, block_size=1024):
        self.push = Push(capacity)
        self.stats = DlmsStats()
        self._key = key or None
        self._auth_key = auth_key or None
        self._gcm = None
        self._on_reject = on_reject
        self._reader = Reader(None)
        self._blocks = bytearray(block_size)
        self._blocks_mv = memoryview(self._blocks)
        self._block_len = 0
        self._block_next = 0  # next expected block number; 0 = no transfer open
        self._in_blocks = False
        self._security = 0
        self._title = False
        self._list_len = 0
        self._cap_count = 0
        self._cap_class = [0] * capacity
        self._cap_obis = [0] * capacity
        self._cap_attr = bytearray(capacity)
        self._iv = bytearray(12)

    def decode(self, buf, start, end):
        """Decode one APDU buf[start:end]: DONE (self.push filled), PENDING or REJECTED."""
        self._security = 0
        self._title = False
        self._in_blocks = False
        try:
            return self._apdu(memoryview(buf)[start:end], 0)
        except Malformed as e:
            return self._reject(e.args[0])
        except IndexError:
            return self._reject(R_MALFORMED)

    def end_of_input(self):
        if self._block_next:
            self._drop_blocks(R_GBT_INCOMPLETE)

    def _reject(self, reason):
        self.stats.rejected += 1
        self.stats.last_reason = reason
        if self._on_reject:
            self._on_reject(reason)
        return REJECTED

    def _apdu(self, mv, depth):
        if depth > 3:
            raise Malformed(R_NESTING)
        tag = mv[0]
        if tag == 0xE0:
            return self._block(mv, depth)
        if self._block_next and not self._in_blocks:
            self._drop_blocks(R_GBT_INCOMPLETE)
        if tag == 0x0F:
            return self._notification(mv)
        if tag == 0xDB:
            return self._ciphered(mv, depth)
        return self._reject(R_APDU_TAG)

    # -- general block transfer (Green Book 9.4.6.13) ------------------------------------------

    def _drop_blocks(self, reason):
        self._block_next = 0
        self._block_len = 0
        self.stats.blocks_dropped += 1
        self.stats.last_reason = reason
        if self._on_reject:
            self._on_reject(reason)

    def _block(self, mv, depth):
        # E0, block-control (bit 7: last block), block-number, block-number-ack, block-data.
        if self._in_blocks:
            raise Malformed(R_NESTING)
        last = mv[1] & 0x80
        number = (mv[2] << 8) | mv[3]
        r = self._reader
        r.mv = mv
        r.pos = 6
        n = r.length()
        p = r.pos
        if p + n > len(mv):
            raise Malformed(R_MALFORMED)
        self.stats.blocks += 1
        if number == 1:
            if self._block_next:
                self._drop_blocks(R_GBT_INCOMPLETE)
            self._block_len = 0
        elif number != self._block_next:
            self._block_next = 0
            self._block_len = 0
            self.stats.blocks_dropped += 1
            return self._reject(R_GBT_SEQUENCE)
        k = self._block_len
        if k + n > len(self._blocks):
            self._block_next = 0
            self._block_len = 0
            self.stats.blocks_dropped += 1
            return self._reject(R_GBT_OVERFLOW)
        self._blocks_mv[k : k + n] = mv[p : p + n]
        self._block_len = k + n
        if not last:
            self._block_next = number + 1
            return PENDING
        self._block_next = 0
        self._in_blocks = True
        return self._apdu(self._blocks_mv[0 : k + n], depth + 1)

    # -- general-glo-ciphering (Green Book 9.2.7, security suites 0-2) ------------------------

    def _ciphered(self, mv, depth):
        # DB, system title (length 8), length, security control, invocation counter (4),
        # ciphertext, then a 12-byte tag when the control byte has the authentication bit.
        if mv[1] != 8:
            raise Malformed(R_MALFORMED)
        title = self.push.system_title
        for k in range(8):
            title[k] = mv[2 + k]
        self._title = True
        r = self._reader
        r.mv = mv
        r.pos = 10
        n = r.length()
        p = r.pos
        if p + n > len(mv) or n < 5:
            raise Malformed(R_MALFORMED)
        sc = mv[p]
        if sc & 0x80 or sc & 0x0F > 2 or not sc & 0x30:
            return self._reject(R_SECURITY)  # compression, unknown suite, or no protection
        start = p + 5
        end = p + n
        auth = sc & 0x10
        if auth:
            end -= 12
            if end < start:
                raise Malformed(R_MALFORMED)
        if self._key is None:
            self.stats.no_key += 1
            return self._reject(R_NO_KEY)
        if len(self._key) != (32 if sc & 0x0F == 2 else 16):
            return self._reject(R_KEY_LENGTH)
        iv = self._iv
        iv[0:8] = title
        iv[8:12] = mv[p + 1 : p + 5]
        if self._gcm is None:
            from gcm import AesGcm

            self._gcm = AesGcm(self._key)
        gcm = self._gcm
        if auth:
            if self._auth_key:
                # Additional authenticated data: SC || AK, plus the plaintext when it is not
                # encrypted (Green Book 9.2.7.4, table "authenticated encryption").
                aad = bytes((sc,)) + self._auth_key
                if sc & 0x20:
                    ok = gcm.verify(iv, aad, mv, start, end, mv[end : end + 12])
                else:
                    ok = gcm.verify(iv, aad + bytes(mv[start:end]), mv, end, end,
                                    mv[end : end + 12])
                if not ok:
                    self.stats.auth_failures += 1
                    return self._reject(R_TAG)
                self._security |= F_AUTHENTICATED
            else:
                self._security |= F_TAG_NOT_VERIFIED
        if sc & 0x20:
            gcm.decrypt_in_place(iv, mv, start, end)
            self._security |= F_ENCRYPTED
        inner = mv[start:end]
        if not self._security & F_AUTHENTICATED:
            # Without a verified tag, a wrong key shows only as plaintext that does not parse.
            if end <= start or inner[0] not in (0x0F, 0xE0):
                return self._reject(R_WRONG_KEY)
            try:
                return self._apdu(inner, depth + 1)
            except (Malformed, IndexError):
                return self._reject(R_WRONG_KEY)
        return self._apdu(inner, depth + 1)

    # -- data-notification (Green Book 9.3.x, IEC 62056-5-3 DATA-NOTIFICATION) ---------------

    def _notification(self, mv):
        # 0F, long-invoke-id-and-priority (4), date-time (A-XDR OCTET STRING), notification-body.
        p = 5
        b = mv[p]
        if b == axdr.OCTET_STRING and mv[p + 1] == 12:
            time_off = p + 2  # Kaifa sends the date-time as a Data octet-string (09 0C ...)
            p += 14
        elif b == 12:
            time_off = p + 1
            p += 13
        else:
            time_off = -1
            p += 1 + b
        if p >= len(mv):
            raise Malformed(R_MALFORMED)
        push = self.push
        push.clear(mv)
        push.time_off = time_off
        push.flags = self._security
        push.has_title = self._title
        r = self._reader
        r.mv = mv
        r.pos = p
        self._body(r)
        self._resolve()
        self.stats.decoded += 1
        return DONE

    def _body(self, r):
        mv = r.mv
        t = mv[r.pos]
        if t != axdr.STRUCTURE and t != axdr.ARRAY:
            self._list_len = 1
            self._value(r, NO_OBIS, 1)
            return
        r.element()
        n = r.num
        self._list_len = n
        self._cap_count = 0
        if n == 0:
            return
        if mv[r.pos] == axdr.ARRAY and self._capture_list(r):
            for k in range(1, n):
                self._captured_value(r, k)
            return
        pending = NO_OBIS
        for k in range(n):
            p = r.pos
            t = mv[p]
            if pending == NO_OBIS:
                if t == axdr.OCTET_STRING and mv[p + 1] == 6 and k + 1 < n and \
                        obis.looks_like_obis(mv, p + 2):
                    pending = p + 2  # flat layout: the value follows as the next element
                    r.pos = p + 8
                    continue
                if t == axdr.STRUCTURE and (mv[p + 1] == 2 or mv[p + 1] == 3) and \
                        mv[p + 2] == axdr.OCTET_STRING and mv[p + 3] == 6:
                    self._register(r)
                    continue
            self._value(r, pending, k + 1)
            pending = NO_OBIS

    def _register(self, r):
        # {OBIS, value} or {OBIS, value, {scaler, unit}} (class 3 register: value * 10^scaler).
        mv = r.mv
        m = mv[r.pos + 1]
        ref = r.pos + 4
        r.pos += 10
        i = self._value(r, ref, 0)
        if m == 3:
            p = r.pos
            if mv[p] == axdr.STRUCTURE and mv[p + 1] == 2 and mv[p + 2] == axdr.INT8 and \
                    mv[p + 4] == axdr.ENUM:
                r.pos = p + 6
                if i >= 0:
                    s = mv[p + 3]
                    self.push.scaler[i] = s - 256 if s > 127 else s
                    self.push.unit[i] = mv[p + 5] or obis.UNIT_COUNT
            else:
                r.skip()

    def _value(self, r, ref, position):
        """Store the element at r.pos as an item; return its index (-1 if null or no room)."""
        p = r.pos
        tag = r.element()
        push = self.push
        if tag == axdr.STRUCTURE or tag == axdr.ARRAY:
            r.pos = p
            r.skip()
            r.off = p
            r.size = r.pos - p
            push.flags |= F_NESTED
        elif tag == axdr.NULL:
            return -1  # placeholder (1-phase Kamstrup sends null-data for missing phases)
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
        # 02 04 12 cc cc 09 06 <6> 0F aa 12 ii ii, 18 bytes each (class 40 push setup, attr 3).
        mv = r.mv
        p = r.pos
        if mv[p + 2] != axdr.STRUCTURE or mv[p + 3] != 4 or mv[p + 4] != axdr.UINT16 or \
                mv[p + 7] != axdr.OCTET_STRING or mv[p + 8] != 6:
            return False
        r.element()
        n = r.num
        if n > len(self._cap_attr):
            raise Malformed(R_CAPTURE)
        for k in range(n):
            p = r.pos
            if mv[p] != axdr.STRUCTURE or mv[p + 1] != 4 or mv[p + 2] != axdr.UINT16 or \
                    mv[p + 5] != axdr.OCTET_STRING or mv[p + 6] != 6 or \
                    mv[p + 13] != axdr.INT8 or mv[p + 15] != axdr.UINT16:
                raise Malformed(R_CAPTURE)
            self._cap_class[k] = (mv[p + 3] << 8) | mv[p + 4]
            self._cap_obis[k] = p + 7
            self._cap_attr[k] = mv[p + 14]
            r.pos = p + 18
        self._cap_count = n
        return True

    def _captured_value(self, r, k):
        if k >= self._cap_count:
            self._value(r, NO_OBIS, k + 1)
            return
        # Logical names (attribute 1) and the push setup object itself carry no measurement.
        if self._cap_attr[k] == 1 or self._cap_class[k] == 40:
            r.skip()
            return
        self._value(r, self._cap_obis[k], k + 1)

    # -- layout, vendor and scale ----------------------------------------------------------

    def _resolve(self):
        push = self.push
        n = push.count
        coded = 0
        for i in range(n):
            if push.obis[i] != NO_OBIS:
                coded += 1
        if n and not coded:
            if not self._positional():
                push.flags |= F_UNKNOWN_LIST
                return
        else:
            for i in range(n):
                if push.obis[i] == NO_OBIS:
                    if push.version < 0 and push.position[i] == 1 and axdr.is_string(push.tag[i]):
                        push.version = i  # Kamstrup's leading list version string
                    else:
                        push.flags |= F_UNKNOWN_ITEMS
            self._vendor_from_version()
        for i in range(n):
            if push.unit[i] or push.obis[i] == NO_OBIS:
                continue
            tag = push.tag[i]
            if not axdr.is_integer(tag) and tag != axdr.FLOAT32 and tag != axdr.FLOAT64:
                continue
            scale = obis.vendor_scale(push.vendor, push.code(i, 2), push.code(i, 3),
                                      push.code(i, 4))
            if scale is None:
                push.flags |= F_UNSCALED
            else:
                push.scaler[i] = scale[0]
                push.unit[i] = scale[1]

    def _vendor_from_version(self):
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
                                  push.tag[0] == axdr.UINT32 or push.tag[0] == axdr.INT32):
            push.vendor = obis.VENDOR_KAIFA
        elif n == len(obis.BURGENLAND_TYPES) and push.tag[0:n] == obis.BURGENLAND_TYPES:
            push.vendor = obis.VENDOR_LG_BURGENLAND
            codes = obis.BURGENLAND_MAP
        else:
            return False
        for i in range(n):
            if codes[i] != obis.NO_CODE:
                push.obis[i] = -2 - codes[i]
        return True
