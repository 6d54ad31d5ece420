# The parts of DLMS push decoding that only some meters need, loaded by dlms.py on the first
# APDU that needs them: general block transfer (tag 0xE0, Green Book: GBT, e.g. L&G E450 in
# Switzerland) and general-glo-ciphering (tag 0xDB, Green Book security suites 0-2, AES-GCM:
# Austrian, Polish, Luxembourg and Danish Kamstrup meters). Functions of the decoder
# (dlms.DlmsDecoder) they work on; its reason numbers and flags are dlms_codes.py's.
import axdr
import dlms_codes


def block(decoder, mv, depth):
    # E0, block-control (bit 7: last block), block-number (2), block-number-ack (2),
    # block-data (octet string).
    if decoder._in_blocks:
        raise ValueError(dlms_codes.DEEP)
    decoder.apdu = mv
    decoder.pos = 6
    n = axdr.length(decoder)
    p = decoder.pos
    if p + n > len(mv):
        raise ValueError(dlms_codes.SHORT)
    number = (mv[2] << 8) | mv[3]
    decoder.blocks += 1
    k = decoder._block_len
    if number == 1:
        if decoder._block_next:
            decoder._report(dlms_codes.BLOCKS_INCOMPLETE)
        k = 0
    elif number != decoder._block_next:
        return decoder._reject(dlms_codes.BLOCKS_OUT_OF_SEQUENCE)
    if k + n > decoder._blocks_size:
        return decoder._reject(dlms_codes.BLOCKS_TOO_LARGE)
    if decoder._blocks is None:
        # Allocated once, with the first block: after a collection, so that it finds its room
        # in one piece; without that room the transfer is dropped, not the firmware.
        import gc

        gc.collect()
        try:
            decoder._blocks = bytearray(decoder._blocks_size)
        except MemoryError:
            decoder._block_next = decoder._block_len = 0
            decoder.blocks_dropped += 1
            return decoder._reject(dlms_codes.BLOCKS_NO_MEMORY)
    blocks = memoryview(decoder._blocks)
    blocks[k : k + n] = mv[p : p + n]
    decoder._block_len = k + n
    if not mv[1] & 0x80:
        decoder._block_next = number + 1
        return dlms_codes.PENDING
    decoder._block_next = 0
    decoder._in_blocks = True
    return decoder._apdu(blocks[0 : k + n], depth + 1)

def ciphered(decoder, mv, depth):
    # DB, system title (8), length, security control, invocation counter (4), ciphertext,
    # and a 12-byte tag when the control byte has the authentication bit (0x10).
    if mv[1] != 8:
        raise ValueError(dlms_codes.TITLE_LENGTH)
    if len(mv) < 11:  # a shorter slice would shrink the reused title buffer
        raise ValueError(dlms_codes.SHORT)
    title = decoder.system_title
    title[0:8] = mv[2:10]
    decoder._title = True
    decoder.apdu = mv
    decoder.pos = 10
    n = axdr.length(decoder)
    p = decoder.pos
    if p + n > len(mv) or n < 5:
        raise ValueError(dlms_codes.SHORT)
    sc = mv[p]
    if sc & 0x80 or sc & 0x0F > 2 or not sc & 0x30:
        return decoder._reject(dlms_codes.SECURITY_CONTROL)
    start = p + 5
    end = p + n
    auth = sc & 0x10
    if auth:
        end -= 12
        if end < start:
            raise ValueError(dlms_codes.SHORT)
    if decoder._key is None:
        decoder.no_key += 1
        return decoder._reject(dlms_codes.NO_KEY)
    if len(decoder._key) != (32 if sc & 0x0F == 2 else 16):
        return decoder._reject(dlms_codes.KEY_LENGTH)
    iv = decoder._iv  # system title || invocation counter
    iv[0:8] = title
    iv[8:12] = mv[p + 1 : p + 5]
    if decoder._gcm is None:
        from gcm import AesGcm

        decoder._gcm = AesGcm(decoder._key)
    gcm = decoder._gcm
    if auth:
        if decoder._auth_key:
            # Authenticated data: SC || AK, plus the plaintext when it is not encrypted.
            aad = bytes((sc,)) + decoder._auth_key
            tag = mv[end : end + 12]
            if sc & 0x20:
                ok = gcm.verify(iv, aad, mv, start, end, tag)
            else:
                ok = gcm.verify(iv, aad + bytes(mv[start:end]), mv, end, end, tag)
            if not ok:
                decoder.auth_failures += 1
                return decoder._reject(dlms_codes.TAG_MISMATCH)
            decoder._security |= dlms_codes.AUTHENTICATED
        else:
            decoder._security |= dlms_codes.TAG_NOT_VERIFIED
    if sc & 0x20:
        gcm.decrypt_in_place(iv, mv, start, end)
        decoder._security |= dlms_codes.ENCRYPTED
    inner = mv[start:end]
    if decoder._security & dlms_codes.AUTHENTICATED:
        return decoder._apdu(inner, depth + 1)
    # Without a verified tag a wrong key shows only as plaintext that does not parse.
    if end > start and (inner[0] == 0x0F or inner[0] == 0xE0):
        try:
            return decoder._apdu(inner, depth + 1)
        except (ValueError, IndexError):
            decoder._clear_push(None)  # half-filled by garbage: nothing of it is reported
    return decoder._reject(dlms_codes.WRONG_KEY)
