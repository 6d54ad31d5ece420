# The firmware's HAN/P1 meter source: UART bytes -> framer -> DLMS or DSMR decoding -> Reading.
#
# poll() reads whatever the UART holds (a bounded number of reads), feeds the framer and returns
# True when a new push refreshed the reading. A push updates the values it carries and leaves the
# others as they were: meters send short lists often and long ones rarely (list 1 every 2.5 s with
# power only, list 3 hourly with the energy registers), so a reading always holds the latest
# value of everything the meter has sent. A different meter id clears the reading.
# The grid (reading.py): the meter's channels L1..L3 are its phases (reading.grid); the net power
# is import minus export (docs/han.md §8.2), and a total the meter sends per phase only is the
# phases' sum (_end).
# Only values whose scale is known (a unit from the frame, a vendor document or the telegram)
# reach the reading; energy registers become integer Wh/varh after han.*_multiplier.
# All buffers are allocated once; a push allocates only the ints, floats and the few strings
# (meter id and time) it sets. The decoder of each framing (dlms for binary HDLC/M-Bus frames,
# dsmr for ASCII telegrams) is imported and built on the first frame of its kind: a meter
# speaks one of the two, and the other's code and buffers would only take heap.
from micropython import const

from clock import ticks_diff, ticks_ms
from han_framer import KIND_ASCII, HanFramer
from han_meter import HanMeter, to_number
from obis import UNIT_COUNT, UNIT_VARH, UNIT_WH

_READS_PER_POLL = const(8)
_IDLE_FLUSH_MS = const(1000)  # a line quiet this long ends any half-received frame
_RX_SIZE = const(256)
_ONE_PHASE = ("L1",)
_THREE_PHASES = ("L1", "L2", "L3")
_GRID_TOTALS = ("power", "import_wh", "export_wh")  # what _end sums over the phases if need be


class HanSource:
    def __init__(self, uart, han_settings, reading):
        self._uart = uart
        self.reading = reading
        self.last_error = None
        self.meter = HanMeter(han_settings)  # validated by the config schema
        self._scaled = self.meter.multipliers != [(1, 0)] * 5  # any multiplier not 1
        self._rx = bytearray(_RX_SIZE)
        self._rx_mv = memoryview(self._rx)
        self._framer = HanFramer(self._on_push, self._on_reject)
        self._dlms = None  # dlms.DlmsDecoder, from the first binary frame on
        self._dsmr = None  # dsmr.DsmrParser, from the first ASCII telegram on
        self._fresh = False
        self._last_push_ms = None
        self._last_rx_ms = self._started_ms = ticks_ms()
        self._phases = 0
        self.pushes = 0  # pushes that refreshed the reading
        self.format = None  # "dlms" or "dsmr", from the last push
        # Per push: import/export parts of the signed powers, total and per phase (index
        # 4 * phase + 0 P+, 1 P-, 2 Q+, 3 Q-), and tariff sums for telegrams that send
        # 1.8.1/1.8.2 but no 1.8.0 (DSMR NL/BE).
        self._parts = [None] * 16
        self._tariff_in = self._tariff_out = 0
        self._totals = 0  # bit 0: 1.8.0 seen, bit 1: 2.8.0 seen
        self._meter_changed = False
        self._summed = 0  # bit k: reading.<_GRID_TOTALS[k]> is the phases' sum, not the meter's
        self.id_raw = [None, None, None]  # bytes of the last meter id and model seen
        self._diag = {}

    def apply_settings(self, han_settings):
        """Meter settings changed over MQTT (multipliers, keys; validated by the config schema):
        in effect from the next push."""
        meter = HanMeter(han_settings)
        if meter.key != self.meter.key or meter.auth_key != self.meter.auth_key:
            self._dlms = None  # rebuilt with the new keys on the next binary frame
        self.meter = meter
        self._scaled = meter.multipliers != [(1, 0)] * 5

    # -- polling ----------------------------------------------------------------------------

    def poll(self):
        """Read what the UART has; True if a new push refreshed the reading."""
        self._fresh = False
        uart = self._uart
        framer = self._framer
        got = False
        for _ in range(_READS_PER_POLL):
            if not uart.any():
                break
            n = uart.readinto(self._rx)
            if not n:
                break
            got = True
            framer.feed(self._rx_mv, n)
        now = ticks_ms()
        if got:
            self._last_rx_ms = now
        elif framer.pending() and ticks_diff(now, self._last_rx_ms) >= _IDLE_FLUSH_MS:
            # A frame cut short (lost bytes, unplugged cable) is rejected now rather than when
            # the next push's bytes fail its checks.
            framer.flush()
        return self._fresh

    def diagnostics(self):
        """Counters for the firmware's diag topic (the same dict, updated in place)."""
        f = self._framer
        dlms = self._dlms
        d = self._diag
        d["format"] = self.format
        d["pushes"] = self.pushes
        d["frames_ok"] = f.frames_ok
        d["crc_errors"] = f.crc_errors
        d["frame_errors"] = f.frame_errors
        d["bytes_discarded"] = f.bytes_discarded
        d["pushes_dropped"] = f.pushes_dropped + (dlms.blocks_dropped if dlms else 0)
        d["rejected"] = dlms.rejected if dlms else 0
        d["last_error"] = self.last_error
        d["since_push_s"] = None if self._last_push_ms is None else \
            ticks_diff(ticks_ms(), self._last_push_ms) // 1000
        return d

    def condition(self, quiet_ms=30000):
        """The meter line in one word, for the firmware to report when it changes: "ok" (a
        push within quiet_ms), "starting" (none yet, still within quiet_ms of start), "silent"
        (no bytes at all for quiet_ms: cable, data-request pin, meter port off) or
        "no_valid_data" (bytes arrive but no push decodes: wrong baud/parity, inverted signal,
        noise, wrong key)."""
        now = ticks_ms()
        last = self._last_push_ms
        if last is not None and ticks_diff(now, last) < quiet_ms:
            return "ok"
        if last is None and ticks_diff(now, self._started_ms) < quiet_ms:
            return "starting"
        if ticks_diff(now, self._last_rx_ms) >= quiet_ms:
            return "silent"
        return "no_valid_data"

    def _on_reject(self, reason):
        self.last_error = reason

    # -- one push ---------------------------------------------------------------------------

    def _begin(self):
        parts = self._parts
        for k in range(16):
            parts[k] = None
        self._tariff_in = self._tariff_out = 0
        self._totals = 0
        self._meter_changed = False
        self._values = 0  # values this push put into the reading
        r = self.reading
        r.meter_time = None
        summed = self._summed
        for name in _GRID_TOTALS:
            if summed & 1:  # worked out again from this push's values (_end)
                setattr(r, name, None)
            summed >>= 1

    def _end(self, kind):
        r = self.reading
        parts = self._parts
        for phase in range(4):
            k = 4 * phase
            # Signed power = import - export (IEC 62056-6-1: C 1/2 and 3/4 are the directions).
            if parts[k] is not None or parts[k + 1] is not None:
                target = r if phase == 0 else r.channels[phase - 1]
                target.power = (parts[k] or 0) - (parts[k + 1] or 0)
            if parts[k + 2] is not None or parts[k + 3] is not None:
                target = r if phase == 0 else r.channels[phase - 1]
                target.reactive_power = (parts[k + 2] or 0) - (parts[k + 3] or 0)
        if self._tariff_in and not self._totals & 1:
            r.import_wh = self._tariff_in
        if self._tariff_out and not self._totals & 2:
            r.export_wh = self._tariff_out
        # A total the meter does not send (a list with 21.7.0, 41.7.0, 61.7.0 but no 1.7.0 and
        # 2.7.0; docs/han.md §8.2) is the sum over the phases, when each has the value.
        summed = 0
        bit = 1
        for name in _GRID_TOTALS:
            if r.grid and getattr(r, name) is None:
                total = 0
                for channel in r.grid:
                    value = getattr(channel, name)
                    if value is None:
                        break
                    total += value
                else:
                    setattr(r, name, total)
                    summed |= bit
            bit <<= 1
        self._summed = summed
        self.format = kind
        self._last_push_ms = ticks_ms()
        if self._values:
            # A push the reading learnt nothing from (an unknown list, raw values only) is
            # counted and timed but publishes nothing.
            self.pushes += 1
            self._fresh = True

    def _on_push(self, kind, buf, start, end, flags):
        # The decoder and the mapping of each framing are loaded with its first push: a meter
        # speaks one of the two.
        if kind == KIND_ASCII:
            import han_dsmr

            if self._dsmr is None:
                from dsmr import DsmrParser

                self._dsmr = DsmrParser()
        else:
            import dlms
            import han_dlms
            from dlms_codes import DONE

            if self._dlms is None:
                self._dlms = dlms.DlmsDecoder(self.meter.key, self.meter.auth_key,
                                              self._on_reject)
            if self._dlms.decode(buf, start, end) != DONE:
                return
        # A new meter id clears the reading; the push is then applied again from the start so
        # that values before the id in this same push are kept.
        for _ in range(2):
            self._begin()
            if kind == KIND_ASCII:
                han_dsmr.apply(self, self._dsmr, buf, start, end)
            else:
                han_dlms.apply(self, self._dlms.push)
            if not self._meter_changed:
                break
            self.reading.clear()
            self._phases = 0
            self.id_raw[1] = self.id_raw[2] = None
        self._end("dsmr" if kind == KIND_ASCII else "dlms")

    def put_id(self, field, text):
        self._values += 1
        r = self.reading
        if field == 1:
            if r.meter_id is not None and r.meter_id != text:
                self._meter_changed = True  # another meter: nothing of the old one's stays
            r.meter_id = text
        else:
            r.meter_model = text

    def put_number(self, a, c, d, e, mant, exp, unit):
        """One scaled number of OBIS A-x:C.D.E into the reading."""
        if a != 1 and a != 255:
            return  # not electricity (gas, water, abstract)
        self._values += 1
        if self._scaled:
            mant, exp = self.meter.scale(unit, mant, exp)
        r = self.reading
        if d == 8:
            # Energy registers: integer Wh / varh, rounded from the exact decimal.
            if unit != UNIT_WH and unit != UNIT_VARH:
                return
            v = mant * 10**exp if exp >= 0 else (mant + 10**-exp // 2) // 10**-exp
            if e == 0 and c <= 4:
                if c == 1:
                    r.import_wh = v
                    self._totals |= 1
                elif c == 2:
                    r.export_wh = v
                    self._totals |= 2
                elif c == 3:
                    r.reactive_import_varh = v
                else:
                    r.reactive_export_varh = v
            elif c == 1 and 1 <= e <= 9:
                self._tariff_in += v
            elif c == 2 and 1 <= e <= 9:
                self._tariff_out += v
            elif e == 0 and 21 <= c <= 62 and c % 20 in (1, 2):
                ch = self._channel(c)
                if c % 20 == 1:
                    ch.import_wh = v
                else:
                    ch.export_wh = v
            return
        if d != 7 or e != 0:
            return
        v = mant if exp == 0 else to_number(mant, exp)
        if c <= 4:
            self._parts[c - 1] = v
            if c == 1:
                r.import_power = v
            elif c == 2:
                r.export_power = v
        elif c == 14:
            r.frequency = v
        elif 21 <= c <= 73:
            # C = 20 * phase + q: q 1..4 powers as for the totals, 11 current, 12 voltage,
            # 13 power factor (IEC 62056-6-1 value group C).
            q = c % 20
            if 1 <= q <= 4:
                self._channel(c)
                self._parts[4 * ((c - 1) // 20) + q - 1] = v
            elif q == 11:
                self._channel(c).current = v
            elif q == 12:
                self._channel(c).voltage = v
            elif q == 13 and unit == UNIT_COUNT:
                self._channel(c).power_factor = v

    def _channel(self, c):
        phase = (c - 1) // 20  # 1..3
        r = self.reading
        if phase > self._phases:
            # The phase count shows in the first push with phase values; growing from one to
            # three channels keeps the L1 object and what it holds already.
            l1 = r.channels[0] if self._phases else None
            self._phases = 3 if phase > 1 else 1
            r.set_channels(_THREE_PHASES if phase > 1 else _ONE_PHASE)
            if l1 is not None:
                r.channels[0] = l1
            r.grid = r.channels  # a HAN meter's phases are the grid's
        return r.channels[phase - 1]
