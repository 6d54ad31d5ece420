# Bytes in, decoded pushes out as JSON lines: the framer, the DLMS decoder and the DSMR parser
# put together for tools/han_decode.py and the tests (the firmware's HanSource wires the same
# parts to a Reading instead).
import han_framer
import han_report
from dlms import DONE, DlmsDecoder
from dsmr import DsmrParser
from han_meter import HanMeter


class HanStreamDecoder:
    """feed() bytes of any framing; on_result(json_line) per decoded push and
    on_reject(reason) per rejected frame, dropped push or run of skipped bytes."""

    def __init__(self, on_result, on_reject=None, meter=None):
        self.meter = meter or HanMeter()
        self._on_result = on_result
        self._on_reject = on_reject
        self._discarded = 0  # framer.bytes_discarded already reported
        self._dsmr = DsmrParser()
        self.framer = han_framer.HanFramer(self._on_push, on_reject)
        self.dlms = DlmsDecoder(self.meter.key, self.meter.auth_key, on_reject)

    def feed(self, data, n=-1):
        self.framer.feed(data, n)

    def end_of_input(self):
        self.framer.end_of_input()
        self.dlms.end_of_input()
        self._report_garbage()

    def decode_apdu(self, buf, start=0, end=-1):
        """Decode one bare APDU (as logged by other readers); an LLC header is skipped."""
        if end < 0:
            end = len(buf)
        if end - start >= 3 and buf[start] == 0xE6 and buf[start + 2] == 0:
            start += 3
        self._decode(buf, start, end)

    def _report_garbage(self):
        n = self.framer.bytes_discarded - self._discarded
        if n and self._on_reject:
            self._on_reject("skipped %d bytes outside any valid frame" % n)
        self._discarded += n

    def _decode(self, buf, start, end):
        if start < end and self.dlms.decode(buf, start, end) == DONE:
            self._on_result(han_report.dlms_json(self.dlms.push, self.meter))

    def _on_push(self, kind, buf, start, end, flags):
        self._report_garbage()
        if kind == han_framer.KIND_ASCII:
            no_crc = flags & han_framer.FLAG_NO_CRC
            self._on_result(han_report.dsmr_json(self._dsmr, buf, start, end, no_crc))
        else:
            self._decode(buf, start, end)
