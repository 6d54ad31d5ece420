# A DSMR/P1 telegram into the firmware's Reading: the HAN source's mapping for ASCII meters,
# loaded with the DSMR parser on the first telegram (han_source.py). Values go through the
# source's put_number() and put_id(), the rules both framings share.
import obis


def apply(source, parser, buf, start, end):
    """Every line of the telegram buf[start:end] into the source's reading."""
    parser.parse(buf, start, end, lambda p: _line(source, buf, p))


def _line(source, buf, p):
    if p.continuation:
        return
    o = p.obis
    if p.numeric and p.unit:
        source.put_number(o[0], o[2], o[3], o[4], p.mant, p.exp + p.unit_exp, p.unit)
        return
    if p.groups != 1:
        return
    if o[0] == 0 and o[2] == 1 and o[3] == 0 and o[4] == 0:
        source.reading.meter_time = _dsmr_time(buf, p.value_start, p.value_end)
        return
    field = obis.id_field(o[0], o[1], o[2], o[3], o[4])
    if field and p.value_end > p.value_start:
        source.put_id(field, _id_text(buf, p.value_start, p.value_end))


def _id_text(buf, a, b):
    # DSMR sends equipment ids as hex of ASCII ("4B38..." = "K8..."): decode when that is what
    # it is, else keep the text as sent.
    n = b - a
    text = "".join(chr(buf[k]) for k in range(a, b))
    if n < 2 or n & 1:
        return text
    out = []
    for k in range(0, n, 2):
        try:
            c = int(text[k : k + 2], 16)
        except ValueError:
            return text
        if not 0x20 <= c <= 0x7E:
            return text
        out.append(chr(c))
    return "".join(out)


def _dsmr_time(buf, a, b):
    # "YYMMDDhhmmssX" (X: W winter, S summer) -> ISO 8601 local time; None if not that shape.
    if b - a != 13:
        return None
    for k in range(a, a + 12):
        if not 0x30 <= buf[k] <= 0x39:
            return None
    t = "".join(chr(buf[k]) for k in range(a, a + 12))
    return "20%s-%s-%sT%s:%s:%s" % (t[0:2], t[2:4], t[4:6], t[6:8], t[8:10], t[10:12])
