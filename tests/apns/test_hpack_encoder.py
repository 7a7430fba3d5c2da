"""The memoising HPACK encoder produces blocks any HPACK decoder reads back exactly."""

from __future__ import annotations

from hpack import Decoder, HeaderTuple, NeverIndexedHeaderTuple

from ringpush.apns.hpack_encoder import MemoEncoder


def block(i: int, topic: bytes = b"com.example.app.voip") -> list[HeaderTuple]:
    return [
        HeaderTuple(b":method", b"POST"),
        HeaderTuple(b":scheme", b"https"),
        NeverIndexedHeaderTuple(b":path", b"/3/device/" + b"ab" * (32 + i % 3)),
        NeverIndexedHeaderTuple(b"authorization", b"bearer " + b"t" * 200),
        NeverIndexedHeaderTuple(b"apns-id", f"{i:036d}".encode()),
        HeaderTuple(b"apns-topic", topic),
        HeaderTuple(b"apns-push-type", b"voip"),
        HeaderTuple(b"apns-priority", b"10"),
    ]


def test_round_trips_through_a_decoder_across_many_blocks_and_table_changes() -> None:
    encoder, decoder = MemoEncoder(), Decoder()
    for i in range(300):
        # New topics now and then force table insertions (and index shifts).
        headers = block(i, topic=f"com.example.app{i // 50}.voip".encode())
        decoded = decoder.decode(encoder.encode(headers), raw=True)
        assert [(n, v) for n, v in decoded] == [(h[0], h[1]) for h in headers]


def test_never_indexed_fields_stay_out_of_the_table() -> None:
    encoder, decoder = MemoEncoder(), Decoder()
    for i in range(5):
        decoder.decode(encoder.encode(block(i)), raw=True)
    names = {name for name, _ in decoder.header_table.dynamic_entries}
    assert names == {b"apns-topic", b"apns-push-type", b"apns-priority"}


def test_repeated_block_is_mostly_one_byte_references() -> None:
    encoder = MemoEncoder()
    first = encoder.encode(block(0))
    second = encoder.encode(block(0))
    assert len(second) < len(first)


def test_table_size_update_is_honoured() -> None:
    encoder, decoder = MemoEncoder(), Decoder()
    decoder.decode(encoder.encode(block(1)), raw=True)
    encoder.header_table_size = 0
    decoder.max_allowed_table_size = 4096
    decoded = decoder.decode(encoder.encode(block(2)), raw=True)
    assert [v for _, v in decoded][-1] == b"10"
    assert len(decoder.header_table.dynamic_entries) == 0
