# portable
# Builders of HAN frames for tests: HDLC (IEC 62056-46 frame format type 3), M-Bus long frames
# with the DLMS transport layer, DSMR telegrams, DLMS APDUs and their glo-ciphering.
from crc16 import crc16_arc, crc16_x25


def hdlc(info, segmented=False, dest=b"\x41", src=b"\x08\x83", control=0x13, llc=True):
    """One HDLC frame carrying info (an LLC header E6 E7 00 in front when llc)."""
    if llc:
        info = b"\xe6\xe7\x00" + info
    header_len = 2 + len(dest) + len(src) + 1
    length = header_len + 2 + len(info) + 2
    body = bytearray()
    body.append(0xA0 | (0x08 if segmented else 0) | (length >> 8))
    body.append(length & 0xFF)
    body.extend(dest)
    body.extend(src)
    body.append(control)
    hcs = crc16_x25(body, 0, len(body))
    body.append(hcs & 0xFF)
    body.append(hcs >> 8)
    body.extend(info)
    fcs = crc16_x25(body, 0, len(body))
    body.append(fcs & 0xFF)
    body.append(fcs >> 8)
    return b"\x7e" + bytes(body) + b"\x7e"


def hdlc_segments(apdu, size):
    """apdu split over HDLC frames with the segmentation bit (LLC in the first one only)."""
    data = b"\xe6\xe7\x00" + apdu
    frames = []
    for i in range(0, len(data), size):
        last = i + size >= len(data)
        frames.append(hdlc(data[i : i + size], segmented=not last, llc=False))
    return b"".join(frames)


def mbus(apdu, size=240):
    """apdu in M-Bus long frames: CI = segment number, bit 4 on the last; STSAP/DTSAP 01 67."""
    frames = []
    chunks = [apdu[i : i + size] for i in range(0, len(apdu), size)] or [b""]
    for n, chunk in enumerate(chunks):
        ci = (n & 0x0F) | (0x10 if n == len(chunks) - 1 else 0)
        user = bytes((0x53, 0xFF, ci, 0x01, 0x67)) + chunk
        frames.append(bytes((0x68, len(user), len(user), 0x68)) + user +
                      bytes((sum(user) & 0xFF, 0x16)))
    return b"".join(frames)


def telegram(ident, lines, crc=True):
    """A DSMR telegram with CR LF line ends and its CRC16/ARC (or none)."""
    text = "/" + ident + "\r\n\r\n" + "".join(line + "\r\n" for line in lines) + "!"
    data = text.encode()
    if crc:
        data += ("%04X" % crc16_arc(data, 0, len(data))).encode()
    return data + b"\r\n"


def notification(body, invoke=b"\x40\x00\x00\x00", datetime=b"\x00"):
    """A data-notification APDU (0F) around an A-XDR body."""
    return b"\x0f" + invoke + datetime + body


def register(obis, value, scaler=None, unit=None):
    """{OBIS, value[, {scaler, unit}]} (value: A-XDR encoded bytes)."""
    if scaler is None:
        return b"\x02\x02\x09\x06" + obis + value
    return b"\x02\x03\x09\x06" + obis + value + bytes((2, 2, 0x0F, scaler & 0xFF, 0x16, unit))


def gbt_blocks(apdu, size):
    """apdu split into general block transfer APDUs (E0) of at most size data bytes."""
    blocks = []
    chunks = [apdu[i : i + size] for i in range(0, len(apdu), size)]
    for n, chunk in enumerate(chunks):
        control = 0x80 if n == len(chunks) - 1 else 0x00
        blocks.append(bytes((0xE0, control, 0, n + 1, 0, 0, len(chunk))) + chunk)
    return blocks


def glo_cipher(apdu, key, auth_key, system_title, counter, sc):
    """general-glo-ciphering (DB) of apdu with AES-GCM as a meter would send it."""
    from gcm import AesGcm

    fc = counter.to_bytes(4, "big")
    iv = system_title + fc
    gcm = AesGcm(key)
    data = bytearray(apdu)
    tag = b""
    if sc & 0x20:
        gcm.encrypt_in_place(iv, data, 0, len(data))
    if sc & 0x10:
        if sc & 0x20:
            tag = gcm.tag(iv, bytes((sc,)) + auth_key, data, 0, len(data))[:12]
        else:
            tag = gcm.tag(iv, bytes((sc,)) + auth_key + bytes(data), b"", 0, 0)[:12]
    content = bytes((sc,)) + fc + bytes(data) + tag
    n = len(content)
    length = bytes((n,)) if n < 0x80 else bytes((0x82, n >> 8, n & 0xFF))
    return b"\xdb\x08" + system_title + length + content
