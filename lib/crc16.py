# CRC-16 checks used on the HAN/P1 port.
#
# - CRC-16/X.25 (HDLC HCS and FCS, IEC 62056-46 / ISO/IEC 13239): polynomial 0x1021 reflected
#   (0x8408), init 0xFFFF, final xor 0xFFFF, transmitted least significant byte first.
# - CRC-16/ARC (DSMR P1 telegram, DSMR 5.0.2 P1 companion standard 6.2): polynomial 0x8005
#   reflected (0xA001), init 0, no final xor, sent as 4 hex digits after "!".
#
# Both are table driven four bits at a time: a 16-entry table per polynomial (entry n: the
# nibble n shifted out through four steps of the reflected polynomial; host_tests recompute
# them) instead of 256-entry tables, which would cost 1 KB of heap where modules load from .mpy
# files into RAM (ESP8266), for two table steps per byte instead of one. The loops allocate
# nothing per byte. On CPython, X.25 takes a C-speed path through binascii.crc_hqx (the same
# polynomial unreflected) on bit-reversed input; host tests check that both paths agree.
import sys

_X25_NIBBLES = (0x0000, 0x1081, 0x2102, 0x3183, 0x4204, 0x5285, 0x6306, 0x7387,
                0x8408, 0x9489, 0xA50A, 0xB58B, 0xC60C, 0xD68D, 0xE70E, 0xF78F)
_ARC_NIBBLES = (0x0000, 0xCC01, 0xD801, 0x1400, 0xF001, 0x3C00, 0x2800, 0xE401,
                0xA001, 0x6C00, 0x7800, 0xB401, 0x5000, 0x9C01, 0x8801, 0x4400)


def crc16_x25_loop(buf, start, end):
    """CRC-16/X.25 of buf[start:end], portable loop."""
    table = _X25_NIBBLES
    crc = 0xFFFF
    for i in range(start, end):
        crc ^= buf[i]  # reflected: the low nibble goes first
        crc = (crc >> 4) ^ table[crc & 15]
        crc = (crc >> 4) ^ table[crc & 15]
    return crc ^ 0xFFFF


def crc16_arc(buf, start, end):
    """CRC-16/ARC of buf[start:end]."""
    table = _ARC_NIBBLES
    crc = 0
    for i in range(start, end):
        crc ^= buf[i]
        crc = (crc >> 4) ^ table[crc & 15]
        crc = (crc >> 4) ^ table[crc & 15]
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
