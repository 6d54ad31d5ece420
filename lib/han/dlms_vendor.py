# DLMS push lists that need a vendor document to be read (dlms.py loads this module for them):
# positional lists without OBIS codes (Kaifa KFM_001 by list length, Netz Burgenland L&G by its
# data types) and lists whose numbers carry no scaler (Kamstrup, Kaifa: the vendor's scale
# table, obis.*_SCALE). A function of the decoder (dlms.DlmsDecoder) it completes; its flags
# are dlms_codes.py's, its tags axdr.py's.
import axdr
import dlms_codes
import obis


def resolve(decoder, length):
    # length: items in the top-level list.
    n = decoder.count
    coded = 0
    refs = decoder.obis
    for i in range(n):
        if refs[i] != dlms_codes.NO_OBIS:
            coded += 1
    scales = None  # the vendor document's scale table (obis.*_SCALE)
    if n and not coded:
        # No OBIS code at all: only a vendor document can say what the positions mean.
        # Kaifa KFM_001 lists by length: list 1 (1 item: active power +), list 2 (9 items
        # 1-phase, 13 items 3-phase), list 3 (14 / 18: list 2 plus clock and the four
        # energy registers).
        if decoder.count == length and (length == 1 or length == 9 or length == 13 or
                                     length == 14 or length == 18) and \
                (decoder._starts_with(0, b"KFM") if length > 1 else
                 decoder.tag[0] == axdr.UINT32 or decoder.tag[0] == axdr.INT32):
            scales = obis.KAIFA_SCALE
        elif decoder.count == length and decoder.tag[0:length] == obis.BURGENLAND_TYPES:
            scales = obis.BURGENLAND_SCALE
        else:
            decoder.flags |= dlms_codes.UNKNOWN_LIST
            return
        one_phase = length == 9 or length == 14
        for i in range(length):
            if scales is obis.BURGENLAND_SCALE:
                code = obis.BURGENLAND_MAP[i]
            elif length == 1:
                code = 3  # 1-0:1.7.0
            elif one_phase and i >= 8:
                # 1-phase: voltage L1 (10) after the first 8, then clock and energy (13-17)
                code = 10 if i == 8 else i + 4
            else:
                code = i  # obis.CODES is in the order of Kaifa's 3-phase list 3
            if code != obis.NO_CODE:
                decoder.obis[i] = -2 - code
    else:
        for i in range(n):
            if decoder.obis[i] == dlms_codes.NO_OBIS:
                t = decoder.tag[i]
                if decoder.version < 0 and decoder.position[i] == 1 and (t == 9 or t == 10 or
                                                                   t == 12):
                    decoder.version = i  # Kamstrup's leading list version string
                else:
                    decoder.flags |= dlms_codes.UNKNOWN_ITEMS
        # The list version names the vendor: "Kamstrup_V0001", "KFM_001", "AIDON_V0001"
        # (Aidon sends its scalers: no table), either as the leading string or as the value
        # of x-x:0.2.129. Here every OBIS code is an offset into the APDU.
        mv = decoder.mv
        for i in range(n):
            ref = decoder.obis[i]
            if i == decoder.version or (ref >= 0 and mv[ref + 2] == 0 and mv[ref + 3] == 2 and
                                     mv[ref + 4] == 129):
                if decoder._starts_with(i, b"Kamstrup"):
                    scales = obis.KAMSTRUP_SCALE
                elif decoder._starts_with(i, b"KFM"):
                    scales = obis.KAIFA_SCALE
                break
    if not decoder._unscaled:
        return
    for i in range(n):
        ref = decoder.obis[i]
        if decoder.unit[i] or ref == dlms_codes.NO_OBIS or decoder.tag[i] not in axdr.NUMBERS:
            continue  # scaled already, no OBIS, or not a number (strings, enums, booleans)
        src = decoder.mv
        if ref < 0:
            src = obis.CODES
            ref = 6 * (-2 - ref)
        # Rows of the vendor's table: C, D, scaler + 128, unit, for codes C.D.0.
        k = 0
        end = len(scales) if scales is not None and src[ref + 4] == 0 else 0
        while k < end:
            if scales[k] == src[ref + 2] and scales[k + 1] == src[ref + 3]:
                decoder.scaler[i] = scales[k + 2] - 128
                decoder.unit[i] = scales[k + 3]
                break
            k += 4
        else:
            decoder.flags |= dlms_codes.UNSCALED
