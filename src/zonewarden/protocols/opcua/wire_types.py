"""OPC UA Binary built-in types (Part 6, 5.2): a bounded little-endian reader. Pure.

A reader works on one complete chunk or reassembled message, so running out of bytes means the message
is malformed (Malformed), never that more data is coming. Every length and count an attacker controls is
checked against the bytes left and against fixed caps before anything is allocated.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from zonewarden.errors import Malformed

# Caps on what one message may make us decode: strings are kept whole only up to MAX_STRING bytes,
# arrays are walked up to MAX_ARRAY elements, DiagnosticInfo nests at most MAX_DEPTH deep.
MAX_STRING = 4096
MAX_ARRAY = 1024
MAX_DEPTH = 8

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_I32 = struct.Struct("<i")
_I64 = struct.Struct("<q")
_F64 = struct.Struct("<d")


@dataclass(frozen=True, slots=True)
class NodeId:
    """A NodeId: namespace index and identifier (int for numeric, str for string/guid/opaque forms)."""

    namespace: int
    identifier: int | str

    @property
    def numeric(self) -> int | None:
        """The numeric identifier in namespace 0 (how service encodings are named), else None."""
        return self.identifier if self.namespace == 0 and isinstance(self.identifier, int) else None

    def __str__(self) -> str:
        prefix = f"ns={self.namespace};" if self.namespace else ""
        kind = "i" if isinstance(self.identifier, int) else "s"
        return f"{prefix}{kind}={self.identifier}"


class Reader:
    """Reads OPC UA Binary values from ``data`` starting at ``pos``; every read advances ``pos``."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    @property
    def left(self) -> int:
        return len(self.data) - self.pos

    def take(self, n: int, what: str = "value") -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise Malformed(f"{what}: {n} bytes needed at offset {self.pos}, {self.left} left")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def skip(self, n: int, what: str = "value") -> None:
        if n < 0 or self.pos + n > len(self.data):
            raise Malformed(f"{what}: {n} bytes needed at offset {self.pos}, {self.left} left")
        self.pos += n

    def u8(self) -> int:
        return self.take(1, "byte")[0]

    def u16(self) -> int:
        value: int = _U16.unpack(self.take(2, "uint16"))[0]
        return value

    def u32(self) -> int:
        value: int = _U32.unpack(self.take(4, "uint32"))[0]
        return value

    def i32(self) -> int:
        value: int = _I32.unpack(self.take(4, "int32"))[0]
        return value

    def i64(self) -> int:
        value: int = _I64.unpack(self.take(8, "int64"))[0]
        return value

    def f64(self) -> float:
        value: float = _F64.unpack(self.take(8, "double"))[0]
        return value

    def _length(self, what: str) -> int | None:
        """An Int32 length prefix: None for null (-1 or any negative), else checked against the bytes left."""
        n = self.i32()
        if n < 0:
            return None
        if n > self.left:
            raise Malformed(f"{what} length {n} exceeds the {self.left} bytes left")
        return n

    def bytestring(self, what: str = "ByteString") -> bytes | None:
        n = self._length(what)
        return None if n is None else self.take(n, what)

    def string(self, what: str = "String") -> str | None:
        """A UTF-8 String; longer than MAX_STRING bytes it is cut (the reader still skips all of it)."""
        n = self._length(what)
        if n is None:
            return None
        raw = self.take(n, what)
        return raw[:MAX_STRING].decode("utf-8", errors="replace")

    def array_length(self, what: str, min_element_size: int = 1) -> int:
        """An array's element count (0 for a null array); a count the bytes left cannot hold is malformed."""
        n = self.i32()
        if n <= 0:
            return 0
        if n * min_element_size > self.left:
            raise Malformed(f"{what}: {n} elements cannot fit in {self.left} bytes")
        return n

    def string_array(self, what: str = "String[]") -> list[str | None]:
        count = self.array_length(what, 4)
        out = [self.string(what) for _ in range(count)]
        return out[:MAX_ARRAY]

    def nodeid(self) -> NodeId:
        return self._nodeid(self.u8() & 0x3F)

    def expanded_nodeid(self) -> NodeId:
        """An ExpandedNodeId; the namespace URI and server index flags are read and dropped."""
        mask = self.u8()
        node = self._nodeid(mask & 0x3F)
        if mask & 0x80:
            self.string("NamespaceUri")
        if mask & 0x40:
            self.u32()
        return node

    def _nodeid(self, encoding: int) -> NodeId:
        if encoding == 0:  # two-byte: namespace 0, identifier 0..255
            return NodeId(0, self.u8())
        if encoding == 1:  # four-byte: namespace 0..255, identifier 0..65535
            ns = self.u8()
            return NodeId(ns, self.u16())
        if encoding == 2:
            ns = self.u16()
            return NodeId(ns, self.u32())
        if encoding == 3:
            ns = self.u16()
            return NodeId(ns, self.string("NodeId string") or "")
        if encoding == 4:
            ns = self.u16()
            return NodeId(ns, self.take(16, "NodeId guid").hex())
        if encoding == 5:
            ns = self.u16()
            return NodeId(ns, (self.bytestring("NodeId opaque") or b"").hex())
        raise Malformed(f"NodeId encoding {encoding} unknown")

    def localized_text(self) -> str | None:
        """The text of a LocalizedText (its locale is read and dropped)."""
        mask = self.u8()
        if mask & 0x01:
            self.string("Locale")
        return self.string("Text") if mask & 0x02 else None

    def diagnostic_info(self, depth: int = 0) -> None:
        """Skip a DiagnosticInfo (nested inner diagnostics at most MAX_DEPTH deep)."""
        if depth > MAX_DEPTH:
            raise Malformed(f"DiagnosticInfo nested deeper than {MAX_DEPTH}")
        mask = self.u8()
        for bit in (0x01, 0x02, 0x08, 0x04):  # symbolic id, namespace uri, locale, localized text
            if mask & bit:
                self.i32()
        if mask & 0x10:
            self.string("AdditionalInfo")
        if mask & 0x20:
            self.u32()
        if mask & 0x40:
            self.diagnostic_info(depth + 1)

    def extension_object(self) -> tuple[NodeId, bytes | None]:
        """An ExtensionObject: its encoding's type id and its binary body (None when absent or XML)."""
        type_id = self.nodeid()
        encoding = self.u8()
        if encoding == 0:
            return type_id, None
        if encoding == 1:
            return type_id, self.bytestring("ExtensionObject body")
        if encoding == 2:
            self.bytestring("ExtensionObject XML")
            return type_id, None
        raise Malformed(f"ExtensionObject encoding {encoding} unknown")
