# portable
# AES and AES-GCM built on an ECB block function: FIPS-197 and the GCM specification's test
# vectors (public), pure Python and MicroPython's cryptolib giving the same results.
from aes import Aes, new_ecb
from gcm import AesGcm

# (key, iv, plaintext, aad, ciphertext, tag): test cases 1-4 and 13-14 of McGrew & Viega,
# "The Galois/Counter Mode of Operation (GCM)", the vectors NIST SP 800-38D refers to.
_P = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72" \
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255"
_C = "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e" \
    "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985"
GCM_VECTORS = (
    ("00" * 16, "00" * 12, "", "", "", "58e2fccefa7e3061367f1d57a4e7455a"),
    ("00" * 16, "00" * 12, "00" * 16, "", "0388dace60b6a392f328c2b971b2fe78",
     "ab6e47d42cec13bdf53a67b21257bddf"),
    ("feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888", _P, "", _C,
     "4d5c2af327cd64a62cf35abd2ba6fab4"),
    ("feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888", _P[:120],
     "feedfacedeadbeeffeedfacedeadbeefabaddad2", _C[:120], "5bc94fbc3221a5db94fae95ae7121a47"),
    ("00" * 32, "00" * 12, "", "", "", "530f8afbc74536b9a963b4f1c4cb738b"),
    ("00" * 32, "00" * 12, "00" * 16, "", "cea7403d4d606b6e074ec5d3baf39d18",
     "d0d1c8a799996bf0265b98b5d48ab919"),
)


def _h(text):
    return bytes.fromhex(text)


def _ciphers():
    """The pure cipher, plus cryptolib where it exists (MicroPython)."""
    yield True
    try:
        import cryptolib  # noqa: F401
    except ImportError:
        return
    yield False


def test_aes_fips197_appendix_c():
    plain = _h("00112233445566778899aabbccddeeff")
    for key, want in ((bytes(range(16)), "69c4e0d86a7b0430d8cdb78070b4c55a"),
                      (bytes(range(24)), "dda97ca4864cdfe06eaf70a0ec0d7191"),
                      (bytes(range(32)), "8ea2b7ca516745bfeafc49904b496089")):
        out = bytearray(16)
        Aes(key).encrypt(plain, out)
        assert out == _h(want), key
        if len(key) != 24:  # cryptolib does AES-128 and AES-256
            new_ecb(key).encrypt(plain, out)
            assert out == _h(want), key


def test_gcm_vectors_encrypt_decrypt_and_tag():
    for pure in _ciphers():
        for key, iv, plain, aad, cipher, tag in GCM_VECTORS:
            gcm = AesGcm(_h(key), pure)
            data = bytearray(_h(plain))
            gcm.encrypt_in_place(_h(iv), data, 0, len(data))
            assert data == _h(cipher), (pure, key)
            assert gcm.tag(_h(iv), _h(aad), data, 0, len(data)) == _h(tag), (pure, key)
            assert gcm.verify(_h(iv), _h(aad), data, 0, len(data), _h(tag)[:12])
            gcm.decrypt_in_place(_h(iv), data, 0, len(data))
            assert data == _h(plain)


def test_gcm_rejects_a_changed_tag_ciphertext_or_aad():
    key, iv, plain, aad, cipher, tag = GCM_VECTORS[3]
    gcm = AesGcm(_h(key))
    data = bytearray(_h(cipher))
    bad_tag = bytearray(_h(tag)[:12])
    bad_tag[11] ^= 1
    assert not gcm.verify(_h(iv), _h(aad), data, 0, len(data), bad_tag)
    data[5] ^= 0x40
    assert not gcm.verify(_h(iv), _h(aad), data, 0, len(data), _h(tag)[:12])
    data[5] ^= 0x40
    assert not gcm.verify(_h(iv), _h(aad)[:-1], data, 0, len(data), _h(tag)[:12])


def test_decrypt_in_place_within_a_larger_buffer():
    key, iv, plain, aad, cipher, tag = GCM_VECTORS[2]
    buf = bytearray(b"head" + _h(cipher) + b"tail")
    AesGcm(_h(key)).decrypt_in_place(_h(iv), memoryview(buf), 4, 4 + len(_h(cipher)))
    assert buf == b"head" + _h(plain) + b"tail"


def test_pure_and_builtin_cipher_agree_on_random_blocks():
    import os

    ciphers = list(_ciphers())
    if len(ciphers) < 2:
        return  # CPython: only the pure cipher exists, covered by the vectors above
    for n in range(20):
        key = os.urandom(16 if n % 2 else 32)
        block = os.urandom(16)
        a = bytearray(16)
        b = bytearray(16)
        Aes(key).encrypt(block, a)
        new_ecb(key).encrypt(block, b)
        assert a == b
