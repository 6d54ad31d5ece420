# The numbers the DLMS decoder's modules share (dlms.py, dlms_secure.py, dlms_vendor.py, and
# axdr.py's reasons): what decode() returns, the flags of a push, and the rejection reasons,
# each a line of one text constant.
from micropython import const

DONE = const(1)
PENDING = const(0)  # a block transfer waits for more blocks
REJECTED = const(-1)

# push.flags bits, named by FLAG_NAMES.
ENCRYPTED = const(1)
AUTHENTICATED = const(2)  # GCM tag verified with the authentication key
TAG_NOT_VERIFIED = const(4)  # the push has a tag but no authentication key is configured
UNSCALED = const(8)  # numbers whose scale neither the frame nor a vendor document gives
UNKNOWN_LIST = const(16)  # positional list of unknown layout: every value reported raw
UNKNOWN_ITEMS = const(32)  # values without OBIS inside an OBIS-coded list, reported raw
TRUNCATED = const(64)  # more values than the item table holds
NESTED = const(128)  # nested structures, reported as hex
FLAG_NAMES = "encrypted authenticated tag_not_verified unscaled unknown_list unknown_items " \
    "truncated nested_values"

NO_OBIS = const(-1)


# Rejection reasons by number (_report): line n of REASONS. Reasons BLOCKS_INCOMPLETE to
# BLOCKS_TOO_LARGE also drop the open block transfer.
SHORT = const(0)
DEEP = const(1)
UNSUPPORTED_APDU = const(2)
BLOCKS_INCOMPLETE = const(3)
BLOCKS_OUT_OF_SEQUENCE = const(4)
BLOCKS_TOO_LARGE = const(5)
TITLE_LENGTH = const(6)
SECURITY_CONTROL = const(7)
NO_KEY = const(8)
KEY_LENGTH = const(9)
TAG_MISMATCH = const(10)
WRONG_KEY = const(11)
CAPTURES_TOO_LONG = const(12)
CAPTURE_MALFORMED = const(13)
BLOCKS_NO_MEMORY = const(18)  # after axdr.py's 14-17
REASONS = (
    "APDU shorter than its contents\n"
    "APDU nesting too deep\n"
    "unsupported APDU type\n"
    "incomplete block transfer dropped\n"
    "block transfer out of sequence: dropped\n"
    "block transfer too large: dropped\n"
    "system title length not 8\n"
    "unsupported security control\n"
    "encrypted push, no key configured\n"
    "key length does not fit the security suite\n"
    "GCM tag mismatch (wrong keys or corrupt frame)\n"
    "decrypted push is no valid APDU (wrong key?)\n"
    "capture object list too long\n"
    "malformed capture object definition\n"
    "A-XDR length too long\n"  # 14-17: raised by axdr.py
    "value past the APDU end\n"
    "unsupported A-XDR type\n"
    "A-XDR nesting too deep\n"
    "no memory to join a block transfer: dropped\n"
)
