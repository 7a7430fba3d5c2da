"""HPACK encoding for the push hot path, on top of the hpack library's encoder.

A push's header block is nearly constant: method, scheme, authority, topic, push type and
priority repeat on every push, and after their first use they are single-byte references
to the dynamic table; the per-push values (``:path``, ``authorization``, ``apns-id``,
``apns-expiration``, ``apns-collapse-id``) are sent as never-indexed literals, which
leave the table untouched. So once a field has been encoded against a table, its bytes
stay valid until the table changes, and the library (which re-searches the table and
logs every step) is needed only for fields not seen before. Huffman coding is off: in
pure Python it costs more CPU than it saves bytes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hpack import HeaderTuple, NeverIndexedHeaderTuple
from hpack.hpack import Encoder, encode_integer
from hpack.table import HeaderTable


class _WatchedTable(HeaderTable):
    """Counts insertions: any insertion may move every dynamic index."""

    def __init__(self) -> None:
        super().__init__()
        self.generation = 0

    def add(self, name: bytes, value: bytes) -> None:
        self.generation += 1
        super().add(name, value)


class MemoEncoder(Encoder):
    """An ``hpack.Encoder`` that reuses the bytes of fields it encoded before."""

    def __init__(self) -> None:
        super().__init__()
        self._table = _WatchedTable()
        self.header_table = self._table
        self._fields: dict[tuple[bytes, bytes], bytes] = {}
        self._literal_names: dict[bytes, bytes] = {}
        self._generation = 0

    def encode(self, headers: Iterable[Any], huffman: bool = False) -> bytes:
        table = self._table
        if table.resized or table.generation != self._generation:
            self._fields.clear()
            self._literal_names.clear()
            self._generation = table.generation
            if table.resized:
                # A table size update must open the block: let the library write it.
                encoded = bytes(super().encode(headers, huffman=False))
                self._generation = table.generation
                return encoded
        parts: list[bytes] = []
        for header in headers:
            if isinstance(header, NeverIndexedHeaderTuple):
                name, value = header[0], header[1]
                known = self._literal_names.get(name)
                if known is not None:
                    prefix = known
                else:
                    # Encode the name with a one-byte value no table entry holds, then drop
                    # the value (length byte and byte). An empty value would not do: the
                    # static table holds ("authorization", "") and would match in full.
                    probe = NeverIndexedHeaderTuple(name, b"\x00")
                    prefix = bytes(super().encode([probe], huffman=False))[:-2]
                    self._literal_names[name] = prefix
                size = len(value)
                length = bytes((size,)) if size < 127 else bytes(encode_integer(size, 7))
                parts.append(prefix + length + value)
                continue
            key = (header[0], header[1])
            memo = self._fields.get(key)
            if memo is not None:
                encoded = memo
            else:
                before = table.generation
                encoded = bytes(super().encode([HeaderTuple(*key)], huffman=False))
                if table.generation == before:
                    self._fields[key] = encoded
                else:
                    # It went into the table: indices moved, start the memo afresh.
                    self._fields.clear()
                    self._literal_names.clear()
                    self._generation = table.generation
            parts.append(encoded)
        return b"".join(parts)
