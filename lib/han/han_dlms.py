# A decoded DLMS push into the firmware's Reading: the HAN source's mapping for binary meters,
# loaded with the DLMS decoder on the first binary frame (han_source.py). Values go through
# the source's put_number() and put_id(), the rules both framings share.
from dlms import datetime_text
from dlms_codes import NO_OBIS

import obis


def apply(source, push):
    """Every value of a decoded push (dlms.DlmsDecoder) into the source's reading."""
    codes = obis.CODES
    for i in range(push.count):
        ref = push.obis[i]
        if ref == NO_OBIS:
            continue
        src = push.mv
        if ref < 0:
            src = codes
            ref = 6 * (-2 - ref)
        tag = push.tag[i]
        if tag == 9 or tag == 10 or tag == 12 or tag == 25:
            _text(source, push, i, src[ref], src[ref + 1], src[ref + 2], src[ref + 3],
                  src[ref + 4])
        elif push.unit[i]:
            mant = push.num[i]
            exp = push.scaler[i]
            if tag == 23 or tag == 24:  # float32/float64: its decimal digits, as han_report
                from han_decimal import float_decimal

                number = float_decimal(push.mv, push.off[i], tag)
                if number is None:
                    continue  # NaN or infinite: no value
                mant, exp = number[0], number[1] + exp
            source.put_number(src[ref], src[ref + 2], src[ref + 3], src[ref + 4], mant, exp,
                         push.unit[i])
    if push.time_off >= 0 and source.reading.meter_time is None:
        source.reading.meter_time = datetime_text(push.mv, push.time_off)

def _text(source, push, i, a, b, c, d, e):
    mv = push.mv
    off = push.off[i]
    size = push.size[i]
    if a == 0 and c == 1 and d == 0 and e == 0 and size == 12:
        source.reading.meter_time = datetime_text(mv, off)
        return
    field = obis.id_field(a, b, c, d, e)
    if field and size:
        raw = bytes(mv[off : off + size])
        if raw == source.id_raw[field]:
            return  # the same id as in the last push: no new string
        source.id_raw[field] = raw
        for x in raw:
            if not 0x20 <= x <= 0x7E:
                text = "".join("%02x" % x for x in raw)  # binary id: as hex, as han_report
                break
        else:
            text = raw.decode()
        source.put_id(field, text)
