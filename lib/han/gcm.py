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
#
# The block cipher is MicroPython's cryptolib (C) where it exists: MicroPython never loads the
# pure-Python cipher of aes.py, which CPython and the tests (pure=True) use.

_R = 0xE1 << 120  # x^128 = x^7 + x^2 + x + 1, in GCM's reflected bit order


class AesGcm:
    def __init__(self, key, pure=False):
        ecb = None
        if not pure:
            try:
                from cryptolib import aes

                ecb = aes(bytes(key), 1)  # mode 1: ECB
            except ImportError:
                pass
        if ecb is None:
            from aes import Aes

            ecb = Aes(bytes(key))
        self._ecb = ecb
        self._ctr = bytearray(16)
        self._ks = bytearray(16)
        ecb.encrypt(bytes(16), self._ks)
        # _mul[n] = (nibble n read as 4 polynomial bits, leftmost = x^0) times H.
        # _red[n]: what the low nibble n contributes after a 4-bit shift with reduction; it is
        # built by the same rule from R (R, R*x, R*x^2, R*x^3 need no reduction themselves).
        tables = []
        for v in (int.from_bytes(self._ks, "big"), _R):
            basis = []
            for _ in range(4):
                basis.append(v)
                v = (v >> 1) ^ _R if v & 1 else v >> 1  # times x, with reduction
            table = [0] * 16
            for n in range(16):
                for b in range(4):
                    if n & (8 >> b):
                        table[n] ^= basis[b]
            tables.append(table)
        self._mul, self._red = tables

    def tag(self, iv, aad, data, start, end):
        """The full 16-byte GCM tag of ciphertext data[start:end] with additional data aad."""
        mul = self._mul
        red = self._red
        # GHASH over the AAD, the ciphertext (each zero-padded to whole blocks) and the block
        # of their bit lengths (SP 800-38D 7.1).
        lengths = ((len(aad) * 8) << 64 | (end - start) * 8).to_bytes(16, "big")
        y = 0
        for buf, i, stop in ((aad, 0, len(aad)), (data, start, end), (lengths, 0, 16)):
            while i < stop:
                j = i + 16 if i + 16 < stop else stop
                x = int.from_bytes(bytes(buf[i:j]), "big") << (8 * (16 - (j - i)))
                x ^= y
                # y = x * H: Horner over the 32 nibbles, least significant (last) first.
                y = 0
                for _ in range(16):
                    b = x & 0xFF
                    x >>= 8
                    y = (y >> 4) ^ red[y & 15] ^ mul[b & 15]
                    y = (y >> 4) ^ red[y & 15] ^ mul[b >> 4]
                i = j
        ctr = self._ctr
        ctr[0:12] = iv
        ctr[12] = ctr[13] = ctr[14] = 0  # J0: the counter part is 1
        ctr[15] = 1
        self._ecb.encrypt(ctr, self._ks)
        return (y ^ int.from_bytes(bytes(self._ks), "big")).to_bytes(16, "big")

    def verify(self, iv, aad, data, start, end, tag):
        """True if the (possibly truncated) tag matches; call before decrypt_in_place."""
        full = self.tag(iv, aad, data, start, end)
        diff = 0
        for i in range(len(tag)):
            diff |= full[i] ^ tag[i]
        return diff == 0 and len(tag) >= 4

    def decrypt_in_place(self, iv, data, start, end):
        """CTR-decrypt data[start:end] (a writable buffer) in place."""
        ctr = self._ctr
        ks = self._ks
        ctr[0:12] = iv
        n = 2  # counter J0 + 1
        i = start
        while i < end:
            ctr[12] = (n >> 24) & 255
            ctr[13] = (n >> 16) & 255
            ctr[14] = (n >> 8) & 255
            ctr[15] = n & 255
            self._ecb.encrypt(ctr, ks)
            # XOR byte by byte: no temporary objects (a 128-bit int would be a heap object).
            for t in range(16 if end - i > 16 else end - i):
                data[i + t] ^= ks[t]
            n += 1
            i += 16

    # Encryption is the same keystream; tests use it to build vectors.
    encrypt_in_place = decrypt_in_place
