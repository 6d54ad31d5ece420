# AES block encryption (ECB, one 16-byte block at a time): the only primitive GCM needs.
#
# new_ecb(key) returns an object with encrypt(in16, out16), the call signature of MicroPython's
# cryptolib.aes(key, 1). On MicroPython that built-in (C, in every ESP8266/ESP32 build) is used;
# elsewhere (CPython) the pure-Python FIPS-197 cipher below. Keys of 16, 24 or 32 bytes.
# gcm.py takes cryptolib itself, so on MicroPython this module is not loaded at all (tests
# import it to compare the two ciphers).
#
# The pure cipher uses the usual four 256-entry round tables (SubBytes, ShiftRows and MixColumns
# folded together), computed at first use from the GF(2^8) arithmetic of FIPS-197 sections 4-5,
# not typed in. They hold 32-bit ints, cheap on CPython but not on a 32-bit MicroPython port,
# which is why MicroPython takes cryptolib.

_tables = None


def _build_tables():
    # exp/log tables of GF(2^8) with generator 3 (FIPS-197 4.2).
    exp = bytearray(256)
    log = bytearray(256)
    x = 1
    for i in range(255):
        exp[i] = x
        log[x] = i
        x ^= (x << 1) ^ (0x1B if x & 0x80 else 0)
        x &= 0xFF
    sbox = bytearray(256)
    for a in range(256):
        inv = exp[(255 - log[a]) % 255] if a else 0
        s = inv
        for _ in range(4):  # affine transform (FIPS-197 5.1.1)
            inv = ((inv << 1) | (inv >> 7)) & 0xFF
            s ^= inv
        sbox[a] = s ^ 0x63
    t0 = []
    for a in range(256):
        s = sbox[a]
        s2 = ((s << 1) ^ (0x1B if s & 0x80 else 0)) & 0xFF
        t0.append((s2 << 24) | (s << 16) | (s << 8) | (s2 ^ s))
    t1 = [((w >> 8) | (w << 24)) & 0xFFFFFFFF for w in t0]
    t2 = [((w >> 8) | (w << 24)) & 0xFFFFFFFF for w in t1]
    t3 = [((w >> 8) | (w << 24)) & 0xFFFFFFFF for w in t2]
    return bytes(sbox), t0, t1, t2, t3


class Aes:
    """Pure-Python AES encryption of single blocks."""

    def __init__(self, key):
        global _tables
        if len(key) not in (16, 24, 32):
            raise ValueError("AES key must be 16, 24 or 32 bytes")
        if _tables is None:
            _tables = _build_tables()
        sbox = _tables[0]
        nk = len(key) // 4
        self._rounds = nk + 6
        w = [int.from_bytes(key[4 * i : 4 * i + 4], "big") for i in range(nk)]
        rcon = 1
        for i in range(nk, 4 * (self._rounds + 1)):  # key expansion (FIPS-197 5.2)
            t = w[i - 1]
            if i % nk == 0:
                t = ((t << 8) | (t >> 24)) & 0xFFFFFFFF
                t = (sbox[t >> 24] << 24) | (sbox[(t >> 16) & 255] << 16) | \
                    (sbox[(t >> 8) & 255] << 8) | sbox[t & 255]
                t ^= rcon << 24
                rcon = ((rcon << 1) ^ (0x1B if rcon & 0x80 else 0)) & 0xFF
            elif nk > 6 and i % nk == 4:
                t = (sbox[t >> 24] << 24) | (sbox[(t >> 16) & 255] << 16) | \
                    (sbox[(t >> 8) & 255] << 8) | sbox[t & 255]
            w.append(w[i - nk] ^ t)
        self._w = w

    def encrypt(self, block, out):
        sbox, t0, t1, t2, t3 = _tables
        w = self._w
        s0 = int.from_bytes(block[0:4], "big") ^ w[0]
        s1 = int.from_bytes(block[4:8], "big") ^ w[1]
        s2 = int.from_bytes(block[8:12], "big") ^ w[2]
        s3 = int.from_bytes(block[12:16], "big") ^ w[3]
        k = 4
        for _ in range(self._rounds - 1):
            a0 = t0[s0 >> 24] ^ t1[(s1 >> 16) & 255] ^ t2[(s2 >> 8) & 255] ^ t3[s3 & 255]
            a1 = t0[s1 >> 24] ^ t1[(s2 >> 16) & 255] ^ t2[(s3 >> 8) & 255] ^ t3[s0 & 255]
            a2 = t0[s2 >> 24] ^ t1[(s3 >> 16) & 255] ^ t2[(s0 >> 8) & 255] ^ t3[s1 & 255]
            a3 = t0[s3 >> 24] ^ t1[(s0 >> 16) & 255] ^ t2[(s1 >> 8) & 255] ^ t3[s2 & 255]
            s0, s1, s2, s3 = a0 ^ w[k], a1 ^ w[k + 1], a2 ^ w[k + 2], a3 ^ w[k + 3]
            k += 4
        # Last round: SubBytes, ShiftRows, AddRoundKey (no MixColumns).
        j = 0
        for a, b, c, d in ((s0, s1, s2, s3), (s1, s2, s3, s0), (s2, s3, s0, s1), (s3, s0, s1, s2)):
            x = w[k] ^ ((sbox[a >> 24] << 24) | (sbox[(b >> 16) & 255] << 16) |
                        (sbox[(c >> 8) & 255] << 8) | sbox[d & 255])
            out[j] = x >> 24
            out[j + 1] = (x >> 16) & 255
            out[j + 2] = (x >> 8) & 255
            out[j + 3] = x & 255
            j += 4
            k += 1
        return out


def new_ecb(key, pure=False):
    """An AES-ECB block cipher object with encrypt(in16, out16)."""
    if not pure:
        try:
            import cryptolib
        except ImportError:
            pass
        else:
            return cryptolib.aes(bytes(key), 1)
    return Aes(bytes(key))
