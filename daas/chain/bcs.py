"""Binary Canonical Serialization: the small subset the `daas` Move package uses.

BCS is positional: a struct is its fields in declaration order, with no names or type tags. Integers are
little-endian and fixed width, vectors and strings carry a ULEB128 length prefix, an address or object ID is 32
raw bytes, an `Option<T>` is a vector of zero or one `T`.

Each type is a small codec object with ``encode(value, out)`` and ``decode(reader)``; `Struct` binds a frozen
dataclass to the codecs of its fields, so a layout is declared once and read both ways. We write this rather than
use canoser (pysui's BCS library) because canoser is untyped and silently accepts trailing bytes.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Sequence
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from daas.errors import CodecError

T = TypeVar("T")

MAX_ULEB128 = 2**32 - 1  # Move vector lengths are u32 on the wire


class Reader:
    """A cursor over BCS bytes that raises `CodecError` instead of reading past the end."""

    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self._pos = 0

    def take(self, n: int) -> bytes:
        end = self._pos + n
        if end > len(self._data):
            raise CodecError(
                f"truncated input: need {n} bytes at offset {self._pos}, "
                f"have {len(self._data) - self._pos}"
            )
        chunk = bytes(self._data[self._pos : end])
        self._pos = end
        return chunk

    def uleb128(self) -> int:
        value = shift = 0
        while True:
            byte = self.take(1)[0]
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                break
            shift += 7
            if shift > 28:
                raise CodecError("ULEB128 length longer than 5 bytes")
        if value > MAX_ULEB128:
            raise CodecError(f"ULEB128 length {value} exceeds u32")
        if shift and byte == 0:
            raise CodecError("non-canonical ULEB128 (trailing zero byte)")
        return value

    def finish(self) -> None:
        rest = len(self._data) - self._pos
        if rest:
            raise CodecError(f"{rest} trailing bytes after the value")


def uleb128(n: int) -> bytes:
    if not 0 <= n <= MAX_ULEB128:
        raise CodecError(f"length {n} out of range for ULEB128")
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


class Codec(Protocol[T]):
    def encode(self, value: T, out: bytearray) -> None: ...
    def decode(self, reader: Reader) -> T: ...


class _Int:
    def __init__(self, fmt: str, bits: int) -> None:
        self._struct = struct.Struct(fmt)
        self._max = 2**bits - 1
        self.name = f"u{bits}"

    def encode(self, value: int, out: bytearray) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= self._max:
            raise CodecError(f"{value!r} is not a valid {self.name}")
        out += self._struct.pack(value)

    def decode(self, reader: Reader) -> int:
        value: int = self._struct.unpack(reader.take(self._struct.size))[0]
        return value


U8 = _Int("<B", 8)
U16 = _Int("<H", 16)
U32 = _Int("<I", 32)
U64 = _Int("<Q", 64)


class _Bool:
    def encode(self, value: bool, out: bytearray) -> None:
        if not isinstance(value, bool):
            raise CodecError(f"{value!r} is not a bool")
        out.append(1 if value else 0)

    def decode(self, reader: Reader) -> bool:
        byte = reader.take(1)[0]
        if byte > 1:
            raise CodecError(f"invalid bool byte {byte}")
        return byte == 1


Bool = _Bool()


class _Bytes:
    """`vector<u8>`."""

    def encode(self, value: bytes, out: bytearray) -> None:
        if not isinstance(value, bytes | bytearray):
            raise CodecError(f"{type(value).__name__} is not bytes")
        out += uleb128(len(value))
        out += value

    def decode(self, reader: Reader) -> bytes:
        return reader.take(reader.uleb128())


Bytes = _Bytes()


class _String:
    """`std::string::String`: UTF-8 bytes with a length prefix."""

    def encode(self, value: str, out: bytearray) -> None:
        if not isinstance(value, str):
            raise CodecError(f"{type(value).__name__} is not str")
        Bytes.encode(value.encode("utf-8"), out)

    def decode(self, reader: Reader) -> str:
        raw = Bytes.decode(reader)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CodecError(f"string is not valid UTF-8: {exc}") from exc


String = _String()


def normalize_address(value: str) -> str:
    """`0x` + 64 lowercase hex digits; accepts short forms such as `0x6`."""
    if not isinstance(value, str) or not value.startswith(("0x", "0X")):
        raise CodecError(f"{value!r} is not a 0x-prefixed address")
    digits = value[2:].lower()
    if not 1 <= len(digits) <= 64 or any(c not in "0123456789abcdef" for c in digits):
        raise CodecError(f"{value!r} is not a valid address")
    return "0x" + digits.rjust(64, "0")


class _Address:
    """`address` and `sui::object::ID`: 32 raw bytes, shown as normalised `0x...` strings."""

    def encode(self, value: str, out: bytearray) -> None:
        out += bytes.fromhex(normalize_address(value)[2:])

    def decode(self, reader: Reader) -> str:
        return "0x" + reader.take(32).hex()


Address = _Address()
ID = Address


class Option(Generic[T]):
    def __init__(self, inner: Codec[T]) -> None:
        self._inner = inner

    def encode(self, value: T | None, out: bytearray) -> None:
        if value is None:
            out.append(0)
        else:
            out.append(1)
            self._inner.encode(value, out)

    def decode(self, reader: Reader) -> T | None:
        tag = reader.take(1)[0]
        if tag == 0:
            return None
        if tag != 1:
            raise CodecError(f"invalid Option tag {tag}")
        return self._inner.decode(reader)


class Vector(Generic[T]):
    def __init__(self, inner: Codec[T]) -> None:
        self._inner = inner

    def encode(self, value: Sequence[T], out: bytearray) -> None:
        out += uleb128(len(value))
        for item in value:
            self._inner.encode(item, out)

    def decode(self, reader: Reader) -> list[T]:
        return [self._inner.decode(reader) for _ in range(reader.uleb128())]


S = TypeVar("S", bound="Struct")


@dataclasses.dataclass(frozen=True)
class Struct:
    """Base of frozen dataclasses with a BCS layout in ``__bcs__`` (field name, codec), in Move order."""

    __bcs__: ClassVar[tuple[tuple[str, Codec[Any]], ...]] = ()

    def to_bcs(self) -> bytes:
        out = bytearray()
        self.encode_into(out)
        return bytes(out)

    def encode_into(self, out: bytearray) -> None:
        for name, codec in self.__bcs__:
            try:
                codec.encode(getattr(self, name), out)
            except CodecError as exc:
                raise CodecError(f"{type(self).__name__}.{name}: {exc}") from exc

    @classmethod
    def read_from(cls: type[S], reader: Reader) -> S:
        values: dict[str, Any] = {}
        for name, codec in cls.__bcs__:
            try:
                values[name] = codec.decode(reader)
            except CodecError as exc:
                raise CodecError(f"{cls.__name__}.{name}: {exc}") from exc
        return cls(**values)

    @classmethod
    def from_bcs(cls: type[S], data: bytes) -> S:
        reader = Reader(data)
        value = cls.read_from(reader)
        try:
            reader.finish()
        except CodecError as exc:
            raise CodecError(f"{cls.__name__}: {exc}") from exc
        return value


class StructCodec(Generic[S]):
    """Lets a `Struct` appear as a field of another struct (or inside Option/Vector)."""

    def __init__(self, cls: type[S]) -> None:
        self._cls = cls

    def encode(self, value: S, out: bytearray) -> None:
        value.encode_into(out)

    def decode(self, reader: Reader) -> S:
        return self._cls.read_from(reader)


def check_layout(cls: type[Struct]) -> None:
    """Fail fast at import when a layout names a field the dataclass lacks (or misses one)."""
    declared = [f.name for f in dataclasses.fields(cls)]
    layout = [name for name, _ in cls.__bcs__]
    if declared != layout:
        raise TypeError(f"{cls.__name__}: BCS layout {layout} does not match fields {declared}")
