"""Properties of the L2-L4 decoder: any bytes, of any link type, decode without raising, and every offset and
length it reports stays inside its frame; a frame decodes the same wherever it sits in the buffer."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.strategies import decode_frames, decoded_rows, mutated_frames, random_frames, valid_frames
from zonewarden.decode.anomalies import NAMES
from zonewarden.model.packets import PacketBatch

FRAMES_PER_BATCH = st.integers(1, 8)
JUNK = st.binary(min_size=1, max_size=64)


def assert_inside_frames(pk: PacketBatch) -> None:
    fr = pk.frames
    for i in range(len(pk)):
        start = int(fr.offset[i])
        end = start + int(fr.caplen[i])
        l2, ip, l4 = int(pk.l2_off[i]), int(pk.ip_off[i]), int(pk.l4_off[i])
        l4_len, l4_wire = int(pk.l4_len[i]), int(pk.l4_wire_len[i])
        assert l2 == -1 or start <= l2 <= end
        assert ip == -1 or start <= ip <= end
        if l4 >= 0:
            assert ip >= 0
            assert ip <= l4
            assert start <= l4 <= end
            assert l4 + l4_len <= end
        assert 0 <= l4_len <= l4_wire
        assert int(pk.err[i]) == 0 or int(pk.err[i]) in NAMES
        assert int(pk.l3[i]) in (0, 1, 2, 4, 6)
        assert -1 <= int(pk.vlan_outer[i]) <= 4095 and -1 <= int(pk.vlan_inner[i]) <= 4095
        if int(pk.vlan_inner[i]) >= 0:
            assert int(pk.vlan_outer[i]) >= 0
        assert 0 <= int(pk.sport[i]) <= 65535 and 0 <= int(pk.dport[i]) <= 65535
        assert 0 <= int(pk.seq[i]) < 2**32 and 0 <= int(pk.ack[i]) < 2**32


def decode_with_and_without_junk(frames: list[tuple[int, bytes]], junk: bytes) -> None:
    linktypes = [lt for lt, _ in frames]
    data = [fr for _, fr in frames]
    plain = decode_frames(data, linktypes)
    padded = decode_frames(data, linktypes, gap=junk)
    assert_inside_frames(plain)
    assert_inside_frames(padded)
    # Relative offsets and every field must agree: the decoder never reads outside a frame.
    assert decoded_rows(plain) == decoded_rows(padded)


@settings(max_examples=300, deadline=None)
@given(frames=st.lists(random_frames, min_size=1, max_size=8), junk=JUNK)
def test_random_bytes_of_every_link_type_decode_inside_their_frames(frames: list[tuple[int, bytes]],
                                                                    junk: bytes) -> None:
    decode_with_and_without_junk(frames, junk)


@settings(max_examples=300, deadline=None)
@given(frames=st.lists(mutated_frames(), min_size=1, max_size=8), junk=JUNK)
def test_mutated_valid_frames_decode_inside_their_frames(frames: list[tuple[int, bytes]], junk: bytes) -> None:
    decode_with_and_without_junk(frames, junk)


@settings(max_examples=200, deadline=None)
@given(frames=st.lists(valid_frames(), min_size=1, max_size=8))
def test_valid_frames_decode_cleanly_and_alike_in_every_link_layer(frames: list[tuple[int, bytes]]) -> None:
    pk = decode_frames([fr for _, fr in frames], [lt for lt, _ in frames])
    assert_inside_frames(pk)
    for i, row in enumerate(decoded_rows(pk)):
        assert row.err is None, (frames[i], row)
        assert row.l3 in (1, 4, 6)
        if row.l3 != 1:
            assert row.l4_off >= 0
            assert row.l4_len == row.l4_wire_len  # nothing cut, padding excluded
            assert row.l4_off + row.l4_len <= len(frames[i][1])
    # The same packets decoded once more in one batch with one another in reverse order: per-frame results.
    again = decoded_rows(decode_frames([fr for _, fr in reversed(frames)], [lt for lt, _ in reversed(frames)]))
    assert list(reversed(again)) == decoded_rows(pk)
