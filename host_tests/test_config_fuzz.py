"""CPython-only property tests for the config schema and signing: random changes never raise
and refused ones change nothing; our HMAC equals CPython's hmac module."""

import hashlib
import hmac
import json

from hypothesis import given, settings
from hypothesis import strategies as st

import config_schema as cs
import signing

SETTINGS = settings(max_examples=300, deadline=None, derandomize=True)

# Names that hit the schema often, plus arbitrary ones.
_NAMES = sorted({part for key in cs.keys() for part in key.split(".")} | {"ct7", "ct#", "x"})
names = st.one_of(st.sampled_from(_NAMES), st.text(max_size=12))
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2 ** 70), max_value=2 ** 70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40),
    st.sampled_from(["sim", "han", "none", "even", "grid", "solar", "meters", "a/b", "ab" * 16]),
    st.sampled_from([2400, 9600, 115200, 50, 60, 4, 0, 1, 3600, 65535, 0.5, 1.0]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(names, inner, max_size=6)),
    max_leaves=25,
)
changes = st.dictionaries(names, json_values, max_size=8)


def _values_for(key):
    """Mostly valid values for a setting, sometimes anything at all."""
    fields = cs.row(key)
    kind, flags = fields[1], fields[3]
    if kind == "bool":
        good = st.booleans()
    elif kind == "choice":
        good = st.sampled_from(cs.choices(fields))
    elif kind in ("int", "float"):
        lo, hi = cs.limits(fields)
        good = (st.integers(lo, hi) if kind == "int"
                else st.floats(lo, hi) | st.integers(int(lo) + 1, int(hi)))
    elif "x" in flags:
        good = st.sampled_from(["", "ab" * (cs.limits(fields)[0] // 2)])
    else:
        lo, hi = cs.limits(fields)
        alphabet = "abcXYZ019_-" if "i" in flags else "abc XYZ/019_-.\u00e9\u4e2d"
        good = st.text(alphabet=alphabet, min_size=lo, max_size=hi)
    return st.one_of(good, good, good, json_values)


def _nest(pairs):
    obj = {}
    for key, value in pairs:
        node = obj
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return obj


schema_changes = st.lists(st.sampled_from(sorted(cs.keys())), unique=True, max_size=6).flatmap(
    lambda keys: st.tuples(*(st.tuples(st.just(k), _values_for(k)) for k in keys))).map(_nest)


def _snapshot(config):
    return json.dumps(config, sort_keys=True)


def _check(current, payload):
    before = _snapshot(current)
    result, new = cs.apply_change(current, payload)
    assert _snapshot(current) == before  # the current config is never touched
    json.dumps(result)
    if not result["ok"]:
        assert new is current
        assert isinstance(result["error"], str) and result["error"]
        return
    assert cs.validate(new) is None
    changed = set(result["changed"])
    assert result["changed"] == sorted(changed)
    for key in cs.keys():
        if key in changed:
            assert cs.get(new, key) != cs.get(current, key), key
        else:
            assert cs.get(new, key) == cs.get(current, key), key
    assert result["restart"] == any(cs.needs_restart(k) for k in changed)


@settings(max_examples=120, deadline=None, derandomize=True)
@given(changes)
def test_random_changes_never_raise_and_refusals_change_nothing(obj):
    _check(cs.defaults(), json.dumps(obj).encode())


@settings(max_examples=300, deadline=None, derandomize=True)
@given(schema_changes)
def test_mostly_valid_changes_merge_exactly(obj):
    _check(cs.defaults(), json.dumps(obj).encode())


@SETTINGS
@given(st.binary(max_size=1200))
def test_random_bytes_never_raise(payload):
    _check(cs.defaults(), payload)


@SETTINGS
@given(st.sampled_from(sorted(cs.keys())), json_values)
def test_single_key_changes_are_accepted_exactly_when_valid(key, value):
    obj = {}
    node = obj
    parts = key.split(".")
    for part in parts[:-1]:
        node[part] = {}
        node = node[part]
    node[parts[-1]] = value
    current = cs.defaults()
    result, new = cs.apply_change(current, json.dumps(obj).encode(), local=True)
    checked, error = cs.check(key, value)
    assert result["ok"] == (error is None), (result, error)
    if result["ok"]:
        assert cs.get(new, key) == checked


@SETTINGS
@given(st.binary(max_size=200), st.binary(max_size=300))
def test_hmac_matches_cpython(key, message):
    assert signing.hmac_sha256(key, message) == hmac.new(key, message, hashlib.sha256).digest()


@SETTINGS
@given(st.binary(min_size=16, max_size=64), st.text(max_size=200),
       st.integers(min_value=1, max_value=2 ** 53 - 1))
def test_envelope_mac_matches_the_documented_construction(key, text, counter):
    body = text.encode("utf-8", "surrogatepass")
    if any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        return  # not valid UTF-8: sign() refuses such bodies
    secret = key.hex()
    expected = hmac.new(key, b"v1\n" + str(counter).encode() + b"\n" + body,
                        hashlib.sha256).hexdigest()
    assert signing.mac_hex(secret, body, counter) == expected
    envelope = json.loads(signing.sign(secret, body, counter))
    assert envelope == {"n": counter, "body": text, "sig": expected}
