# AES-GCM decryption and tag verification (NIST SP 800-38D) built on an AES-ECB block function,
# because MicroPython's cryptolib offers ECB but no GCM (and CTR only in some builds).
#
# - Counter mode: J0 = IV || 00000001 for a 96-bit IV; the payload is XORed with E(K, J0 + 1),
#   E(K, J0 + 2), ... (SP 800-38D 7.2). DLMS uses IV = system title || invocation counter
#   (DLMS Green Book, security suite 0/1/2).
# - GHASH multiplies in GF(2^128) with the 4-bit table method (16 multiples of H, and a 16-entry
#   reduction table for the four bits shifted out per step), so each 16-byte block costs 32
#   table steps on Python ints instead of 128 bit steps.
# Decryption happens in place, so no buffer the size of the message is allocated.
from aes import new_ecb

_R = 0xE1 << 120  # x^128 = x^7 + x^2 + x + 1, in GCM's reflected bit order


def _times_x(v):
    # Multiply by x (one right shift in GCM bit order) with reduction.
    return (v >> 1) ^ _R if v & 1 else v >> 1


class AesGcm:
    def __init__(self, key, pure=False):
        self._ecb = new_ecb(key, pure)
        self._ctr = bytearray(16)
        self._ks = bytearray(16)
        self._ecb.encrypt(bytes(16), self._ks)
        h = int.from_bytes(self._ks, "big")
        # _mul[n] = (nibble n read as 4 polynomial bits, leftmost = x^0) times H.
        hx = [h]
        for _ in range(3):
            hx.append(_times_x(hx[-1]))
        self._mul = [0] * 16
        for n in range(16):
            v = 0
            for b in range(4):
                if n & (8 >> b):
                    v ^= hx[b]
            self._mul[n] = v
        # _red[n]: what the low nibble n contributes after a 4-bit shift with reduction.
        self._red = [0] * 16
        for n in range(16):
            v = n
            for _ in range(4):
                v = _times_x(v)
            self._red[n] = v

    def _gmul(self, x):
        # x * H: Horner over the 32 nibbles, least significant (last in the block) first.
        mul = self._mul
        red = self._red
        z = 0
        for _ in range(16):
            b = x & 0xFF
            x >>= 8
            z = (z >> 4) ^ red[z & 15] ^ mul[b & 15]
            z = (z >> 4) ^ red[z & 15] ^ mul[b >> 4]
        return z

    def _ghash(self, y, data, start, end):
        i = start
        while i < end:
            j = i + 16 if i + 16 < end else end
            x = int.from_bytes(bytes(data[i:j]), "big")
            if j - i < 16:
                x <<= 8 * (16 - (j - i))
            y = self._gmul(y ^ x)
            i = j
        return y

    def _counter(self, iv, n):
        ctr = self._ctr
        if n < 3:
            ctr[0:12] = iv  # J0 and the first counter block; later blocks only count up
        ctr[12] = (n >> 24) & 255
        ctr[13] = (n >> 16) & 255
        ctr[14] = (n >> 8) & 255
        ctr[15] = n & 255
        self._ecb.encrypt(ctr, self._ks)
        return self._ks

    def tag(self, iv, aad, data, start, end):
        """The full 16-byte GCM tag of ciphertext data[start:end] with additional data aad."""
        y = self._ghash(0, aad, 0, len(aad))
        y = self._ghash(y, data, start, end)
        y = self._gmul(y ^ (((len(aad) * 8) << 64) | ((end - start) * 8)))
        e0 = int.from_bytes(bytes(self._counter(iv, 1)), "big")
        return (y ^ e0).to_bytes(16, "big")

    def verify(self, iv, aad, data, start, end, tag):
        """True if the (possibly truncated) tag matches; call before decrypt_in_place."""
        full = self.tag(iv, aad, data, start, end)
        diff = 0
        for i in range(len(tag)):
            diff |= full[i] ^ tag[i]
        return diff == 0 and len(tag) >= 4

    def decrypt_in_place(self, iv, data, start, end):
        """CTR-decrypt data[start:end] (a writable buffer) in place."""
        n = 2
        i = start
        while i < end:
            ks = self._counter(iv, n)
            # XOR byte by byte: no temporary objects (a 128-bit int would be a heap object).
            for t in range(16 if end - i > 16 else end - i):
                data[i + t] ^= ks[t]
            n += 1
            i += 16

    # Encryption is the same keystream; tests use it to build vectors.
    encrypt_in_place = decrypt_in_place
