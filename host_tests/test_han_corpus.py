# portable
# Every real capture of the HAN corpus through the library decoder (CPython and MicroPython).
import han_corpus_check as check
import support


def test_every_clean_entry_decodes_to_its_expected_values():
    failures = []
    count = 0
    for entry in support.han_corpus():
        if entry.get("edge_case"):
            continue
        count += 1
        results, rejections = check.decode_entries([entry])
        if len(results) != 1:
            failures.append("%s: %d pushes decoded, rejections %r" % (entry["id"], len(results),
                                                                      rejections))
            continue
        for problem in check.expected_mismatches(entry, results[0]):
            failures.append("%s: %s" % (entry["id"], problem))
        if rejections:
            failures.append("%s: unexpected rejections %r" % (entry["id"], rejections))
    assert count >= 40, count
    assert not failures, "\n".join(failures)


def test_every_edge_case_is_rejected_or_flagged_without_made_up_values():
    failures = []
    for entry in support.han_corpus():
        if not entry.get("edge_case"):
            continue
        results, rejections = check.decode_entries([entry])
        if not results:
            if not rejections:
                failures.append("%s: neither decoded nor rejected" % entry["id"])
            continue
        for result in results:
            if not result.get("flags"):
                failures.append("%s: decoded without a flag" % entry["id"])
            # Whatever was decoded must be what the capture says (no invented values).
            for problem in check.expected_mismatches(entry, result):
                failures.append("%s: %s" % (entry["id"], problem))
    assert not failures, "\n".join(failures)


def test_corrupt_hdlc_frames_are_rejected_with_a_crc_or_length_reason():
    corrupt = ("edge-kamstrup-gh175-1", "edge-kamstrup-gh196-2", "edge-aidon-se-em003-missampled")
    for name in corrupt:
        entry = check.corpus_by_id()[name]
        results, rejections = check.decode_entries([entry])
        assert results == [], name
        assert any("HCS" in r or "FCS" in r for r in rejections), (name, rejections)


def test_truncated_frame_is_reported_at_end_of_input():
    entry = check.corpus_by_id()["edge-aidon-se-gh146-truncated"]
    results, rejections = check.decode_entries([entry])
    assert results == []
    assert any("incomplete frame" in r for r in rejections), rejections


def test_three_gbt_blocks_decode_as_one_push():
    corpus = check.corpus_by_id()
    blocks = [corpus["gbt-lg-ch-gh740-%d" % n] for n in (1, 2, 3)]
    for chunk in (0, 1, 7, 64):
        results, rejections = check.decode_entries(blocks, chunk)
        assert len(results) == 1, (chunk, results, rejections)
        assert rejections == [], rejections
        push = results[0]
        # The capture-object header names every value: meter number, powers, energies, currents.
        assert push["obis"]["0-0:96.1.0"] == "63326413"
        assert push["obis"]["1-0:1.7.0"] == 362
        assert push["obis"]["1-1:1.8.0"] == 2302502
        assert push["obis"]["1-0:71.7.0"] == 52
        assert len(push["obis"]) == 12, push["obis"]
        assert push["notification_datetime"] == "2024-02-29T22:48:50"
        # No scaler travels with these registers: values as sent, no unit invented.
        assert push["units"] == {}
        assert "unscaled" in push["flags"]


def test_gbt_blocks_out_of_order_or_missing_are_dropped_with_a_reason():
    corpus = check.corpus_by_id()
    one, two, three = [corpus["gbt-lg-ch-gh740-%d" % n] for n in (1, 2, 3)]
    results, rejections = check.decode_entries([one, three])
    assert results == []
    assert any("out of sequence" in r for r in rejections), rejections
    results, rejections = check.decode_entries([one, two])
    assert results == []
    assert any("incomplete block transfer" in r for r in rejections), rejections
    # A new transfer (block 1 again) after a lost last block still decodes.
    results, rejections = check.decode_entries([one, two, one, two, three])
    assert len(results) == 1
    assert any("incomplete block transfer" in r for r in rejections), rejections


def test_segmented_iskra_first_segment_is_dropped_as_incomplete():
    corpus = check.corpus_by_id()
    entry = corpus["segmented-iskra-hr-gh1072-1"]
    results, rejections = check.decode_entries([entry])
    assert results == []
    assert any("segmented" in r for r in rejections), rejections
    # Followed by an ordinary frame: the partial push is dropped, the next one decodes.
    results, rejections = check.decode_entries([entry, corpus["aidon-no-l3-gh1119-1"]])
    assert len(results) == 1
    assert results[0]["obis"]["1-0:1.7.0"] == 4027
    assert any("segmented" in r for r in rejections), rejections


def test_encrypted_frames_without_key_are_rejected():
    corpus = check.corpus_by_id()
    for name in ("enc-nokey-gh73-1", "enc-nokey-gh787-1"):
        results, rejections = check.decode_entries([corpus[name]])
        assert results == []
        assert any("no key configured" in r for r in rejections), rejections


def test_wrong_keys_are_rejected_not_decoded():
    corpus = check.corpus_by_id()
    lg = dict(corpus["enc-lg-e450-at-gh501-2"])
    lg["ak_hex"] = "00" * 16
    results, rejections = check.decode_entries([lg])
    assert results == []
    assert any("tag mismatch" in r for r in rejections), rejections
    kaifa = dict(corpus["enc-kaifa-tinetz-at-doc"])
    kaifa["key_hex"] = "000102030405060708090a0b0c0d0e0f"
    results, rejections = check.decode_entries([kaifa])
    assert results == []
    assert any("wrong key" in r for r in rejections), rejections


def test_authenticated_push_without_auth_key_decodes_flagged():
    lg = dict(check.corpus_by_id()["enc-lg-e450-at-gh501-2"])
    lg["ak_hex"] = ""
    results, rejections = check.decode_entries([lg])
    assert len(results) == 1, rejections
    assert "tag_not_verified" in results[0]["flags"]
    assert results[0]["obis"]["1-0:1.8.0"] == 31358606


def test_swedish_kamstrup_energy_needs_the_multiplier():
    entry = dict(check.corpus_by_id()["kamstrup-gh239-2"])
    entry["meter"] = "Kamstrup, country not configured"
    results, _ = check.decode_entries([entry])
    # The Norwegian vendor default (10 Wh) gives the 10x error users report (amsreader #239).
    assert results[0]["obis"]["1-1:1.8.0"] == 10 * entry["expected"]["1-1:1.8.0"]


def test_whole_corpus_as_one_stream_gives_the_same_pushes_as_entry_by_entry():
    entries = [e for e in support.han_corpus() if e.get("framing") != "apdu-only"
               and not e.get("key_hex") and "Sweden" not in e["meter"]]
    stream, _ = check.decode_entries(entries)
    single = []
    for entry in entries:
        results, _ = check.decode_entries([entry])
        single.extend(results)
    # The GBT blocks only decode together: one more push in the stream.
    assert len(stream) == len(single) + 1
    assert [r["obis"] for r in stream if "63326413" not in r["obis"].values()] == \
        [r["obis"] for r in single]
