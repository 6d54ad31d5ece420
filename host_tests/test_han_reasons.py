"""CPython only: rejection reasons are numbers into one text per module (han_framer, dlms;
axdr raises dlms's numbers); each number names its own text and picks its counter. The names
are const() and exist as module attributes only on CPython (on MicroPython the lookup is
covered by the corpus and DLMS tests, which check reason texts)."""

import axdr
import dlms
import dlms_codes
import han_framer

FRAMER = {
    "_HCS": ("HDLC HCS mismatch", "crc_errors"),
    "_FCS": ("HDLC FCS mismatch", "crc_errors"),
    "_MBUS_CHECKSUM": ("M-Bus checksum or stop byte mismatch", "crc_errors"),
    "_TELEGRAM_CRC": ("telegram CRC mismatch", "crc_errors"),
    "_TOO_LARGE": ("frame larger than the buffer", "frame_errors"),
    "_INCOMPLETE": ("incomplete frame at end of input", "frame_errors"),
    "_HDLC_LENGTH": ("HDLC length field does not fit the header", "frame_errors"),
    "_HDLC_ADDRESS": ("HDLC address field malformed", "frame_errors"),
    "_HDLC_CLOSING_FLAG": ("HDLC frame without closing flag at its length", "frame_errors"),
    "_MBUS_NO_DLMS": ("M-Bus frame without DLMS (CI not 00..1F)", "frame_errors"),
    "_MBUS_SEQUENCE": ("M-Bus segment out of sequence: push dropped", "frame_errors"),
    "_TELEGRAM_BINARY": ("telegram interrupted by binary data", "frame_errors"),
    "_TELEGRAM_TOO_LONG": ("telegram longer than the buffer", "frame_errors"),
    "_TELEGRAM_END_LINE": ("telegram end line malformed", "frame_errors"),
    "_SEGMENTS_INCOMPLETE": ("incomplete segmented push dropped", "pushes_dropped"),
    "_SEGMENTS_TOO_LARGE": ("segmented push too large: dropped", "pushes_dropped"),
    "_SEGMENTS_OUT_OF_SEQUENCE": ("M-Bus segment out of sequence: push dropped",
                                  "pushes_dropped"),
    "_SEGMENTS_NO_MEMORY": ("no memory to join a segmented push: dropped", "pushes_dropped"),
}

DLMS = {
    "SHORT": "APDU shorter than its contents",
    "DEEP": "APDU nesting too deep",
    "UNSUPPORTED_APDU": "unsupported APDU type",
    "BLOCKS_INCOMPLETE": "incomplete block transfer dropped",
    "BLOCKS_OUT_OF_SEQUENCE": "block transfer out of sequence: dropped",
    "BLOCKS_TOO_LARGE": "block transfer too large: dropped",
    "TITLE_LENGTH": "system title length not 8",
    "SECURITY_CONTROL": "unsupported security control",
    "NO_KEY": "encrypted push, no key configured",
    "KEY_LENGTH": "key length does not fit the security suite",
    "TAG_MISMATCH": "GCM tag mismatch (wrong keys or corrupt frame)",
    "WRONG_KEY": "decrypted push is no valid APDU (wrong key?)",
    "CAPTURES_TOO_LONG": "capture object list too long",
    "CAPTURE_MALFORMED": "malformed capture object definition",
    "BLOCKS_NO_MEMORY": "no memory to join a block transfer: dropped",
}
AXDR = {
    "_LENGTH_TOO_LONG": "A-XDR length too long",
    "_PAST_THE_END": "value past the APDU end",
    "_UNSUPPORTED_TYPE": "unsupported A-XDR type",
    "_TOO_DEEP": "A-XDR nesting too deep",
}


def test_framer_reason_numbers_name_their_text_and_counter():
    for name, (text, counter) in FRAMER.items():
        reasons = []
        framer = han_framer.HanFramer(lambda *a: None, reasons.append)
        framer._seg_kind = han_framer.KIND_HDLC  # a segmented push is open
        framer._seg_len = 5
        framer._reject(getattr(han_framer, name))
        assert reasons == [text] and framer.last_reason == text, name
        assert getattr(framer, counter) == 1, name
        counts = [framer.crc_errors, framer.frame_errors, framer.pushes_dropped]
        assert sum(counts) == 1, name


def test_segment_drop_reasons_need_an_open_push():
    reasons = []
    framer = han_framer.HanFramer(lambda *a: None, reasons.append)
    framer._reject(han_framer._SEGMENTS_INCOMPLETE)
    assert reasons == [] and framer.pushes_dropped == 0


def test_dlms_and_axdr_reason_numbers_name_their_text():
    lines = dlms_codes.REASONS.split("\n")
    assert lines[-1] == "" and len(lines) - 1 == len(DLMS) + len(AXDR)
    for module, table in ((dlms_codes, DLMS), (axdr, AXDR)):
        for name, text in table.items():
            reasons = []
            decoder = dlms.DlmsDecoder(on_reject=reasons.append)
            decoder._reject(getattr(module, name))
            assert reasons == [text] and decoder.last_reason == text, name
            assert decoder.rejected == 1, name
