# CRC-16 checks used on the HAN/P1 port.
#
# - CRC-16/X.25 (HDLC HCS and FCS, IEC 62056-46 / ISO/IEC 13239): polynomial 0x1021 reflected
#   (0x8408), init 0xFFFF, final xor 0xFFFF, transmitted least significant byte first.
# - CRC-16/ARC (DSMR P1 telegram, DSMR 5.0.2 P1 companion standard 6.2): polynomial 0x8005
#   reflected (0xA001), init 0, no final xor, sent as 4 hex digits after "!".
#
# Both use a 256-entry table held as two 256-byte `bytes` (low and high half), computed once at
# import. The loops allocate nothing per byte. On CPython, X.25 takes a C-speed path through
# binascii.crc_hqx (the same polynomial unreflected) on bit-reversed input; host tests check
# that both paths agree.
import sys


def _table(poly):
    lo = bytearray(256)
    hi = bytearray(256)
    for n in range(256):
        crc = n
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
        lo[n] = crc & 0xFF
        hi[n] = crc >> 8
    return bytes(lo), bytes(hi)


_X25_LO, _X25_HI = _table(0x8408)
_ARC_LO, _ARC_HI = _table(0xA001)


def crc16_x25_loop(buf, start, end):
    """CRC-16/X.25 of buf[start:end], portable loop."""
    lo = _X25_LO
    hi = _X25_HI
    crc = 0xFFFF
    for i in range(start, end):
        t = (crc ^ buf[i]) & 0xFF
        crc = (crc >> 8) ^ lo[t] ^ (hi[t] << 8)
    return crc ^ 0xFFFF


def crc16_arc(buf, start, end):
    """CRC-16/ARC of buf[start:end]."""
    lo = _ARC_LO
    hi = _ARC_HI
    crc = 0
    for i in range(start, end):
        t = (crc ^ buf[i]) & 0xFF
        crc = (crc >> 8) ^ lo[t] ^ (hi[t] << 8)
    return crc


crc16_x25 = crc16_x25_loop

if sys.implementation.name == "cpython":
    import binascii

    # A reflected CRC equals the bit-reversed unreflected CRC of bit-reversed input bytes.
    _REV8 = bytes(int("{:08b}".format(n)[::-1], 2) for n in range(256))

    def _crc16_x25_fast(buf, start, end):
        crc = binascii.crc_hqx(bytes(buf[start:end]).translate(_REV8), 0xFFFF)
        rev = (_REV8[crc & 0xFF] << 8) | _REV8[crc >> 8]
        return rev ^ 0xFFFF

    crc16_x25 = _crc16_x25_fast
