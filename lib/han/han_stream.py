# Bytes in, decoded pushes out as JSON lines: the framer, the DLMS decoder and the DSMR parser
# put together for tools/han_decode.py and the tests (the firmware's HanSource wires the same
# parts to a Reading instead).
import han_framer
import han_report
from dlms import DlmsDecoder
from dlms_codes import DONE
from dsmr import DsmrParser
from han_meter import HanMeter


class HanStreamDecoder:
    """feed() bytes of any framing; on_result(json_line) per decoded push and
    on_reject(reason) per rejected frame, dropped push or run of skipped bytes.

    With out (a text stream: write(str)), each push is written to it as one line, piece by
    piece, instead: no line string is built (tools/han_decode.py on a small heap)."""

    def __init__(self, on_result, on_reject=None, meter=None, out=None):
        self.meter = meter or HanMeter()
        self._on_result = on_result
        self._out = out
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
            if self._out is None:
                self._on_result(han_report.dlms_json(self.dlms.push, self.meter))
            else:
                han_report.write_dlms(self.dlms.push, self.meter, self._out.write)
                self._out.write("\n")

    def _on_push(self, kind, buf, start, end, flags):
        self._report_garbage()
        if kind == han_framer.KIND_ASCII:
            no_crc = flags & han_framer.FLAG_NO_CRC
            if self._out is None:
                self._on_result(han_report.dsmr_json(self._dsmr, buf, start, end, no_crc))
            else:
                han_report.write_dsmr(self._dsmr, buf, start, end, no_crc, self._out.write)
                self._out.write("\n")
        else:
            self._decode(buf, start, end)
