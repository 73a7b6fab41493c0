"""The 80-byte Bitcoin block header: parsing, building, compact bits and targets.

Byte order conventions: a header is serialised with little-endian integers; the previous-block
hash and the merkle root are stored in internal order and *shown* byte-reversed ("display
order"), as block explorers show them. A block hash is compared with the target as a 256-bit
little-endian integer.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from benchhash.errors import InputError

__all__ = ["DIFF1_TARGET", "GENESIS", "HEADER_BYTES", "MAX_TARGET", "NONCE_OFFSET", "NONCE_SPACE",
           "BlockHeader", "bits_to_target", "difficulty", "display_hex", "hash_to_int",
           "parse_hex", "sha256d", "share_target", "target_to_bits"]

HEADER_BYTES = 80
NONCE_OFFSET = 76
NONCE_SPACE = 1 << 32
#: Target of difficulty 1 (bits 0x1d00ffff), as defined by Bitcoin Core.
DIFF1_TARGET = 0xFFFF << 208
MAX_TARGET = (1 << 256) - 1


def parse_hex(text: str, *, what: str, length: int | None = None) -> bytes:
    """Decode hex (optionally 0x-prefixed, whitespace ignored) or raise a one-line InputError."""
    cleaned = "".join(text.split())
    if cleaned[:2].lower() == "0x":
        cleaned = cleaned[2:]
    try:
        raw = bytes.fromhex(cleaned)
    except ValueError:
        raise InputError(f"{what} is not valid hex: {text[:40]!r}") from None
    if length is not None and len(raw) != length:
        raise InputError(f"{what} must be {length} bytes ({2 * length} hex digits), got {len(raw)} bytes")
    return raw


def bits_to_target(bits: int) -> int:
    """Expand compact 'nBits' into the full 256-bit target (negative or overflowing bits refused)."""
    if not 0 <= bits < 1 << 32:
        raise InputError(f"bits must fit in 32 bits, got {bits:#x}")
    exponent = bits >> 24
    mantissa = bits & 0x007FFFFF
    if bits & 0x00800000 and mantissa:
        raise InputError(f"bits {bits:#010x} encode a negative target")
    if exponent <= 3:
        target = mantissa >> (8 * (3 - exponent))
    else:
        target = mantissa << (8 * (exponent - 3))
    if target > MAX_TARGET:
        raise InputError(f"bits {bits:#010x} encode a target above 2^256")
    return target


def target_to_bits(target: int) -> int:
    """Compress a target into compact form (rounding down, as Bitcoin Core's GetCompact does)."""
    if not 0 <= target <= MAX_TARGET:
        raise InputError("target must be between 0 and 2^256 - 1")
    size = (target.bit_length() + 7) // 8
    if size <= 3:
        mantissa = target << (8 * (3 - size))
    else:
        mantissa = target >> (8 * (size - 3))
    if mantissa & 0x00800000:
        mantissa >>= 8
        size += 1
    return (size << 24) | mantissa


def difficulty(target: int) -> float:
    """Difficulty relative to the difficulty-1 target (bits 0x1d00ffff)."""
    if target <= 0:
        raise InputError("target must be positive to have a difficulty")
    return DIFF1_TARGET / target


def share_target(leading_zero_bits: int) -> int:
    """Target met by hashes with at least K leading zero bits (as a 256-bit integer)."""
    if not 0 <= leading_zero_bits <= 256:
        raise InputError(f"share bits must be between 0 and 256, got {leading_zero_bits}")
    return (1 << (256 - leading_zero_bits)) - 1


def sha256d(data: bytes) -> bytes:
    """Double SHA-256, the digest in internal byte order."""
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def hash_to_int(digest: bytes) -> int:
    """A digest (internal order) as the little-endian integer compared with targets."""
    return int.from_bytes(digest, "little")


def display_hex(digest: bytes) -> str:
    """A digest as block explorers print it (byte-reversed hex)."""
    return digest[::-1].hex()


@dataclass(frozen=True)
class BlockHeader:
    """An 80-byte block header; hashes given in display order."""

    version: int
    prev_hash: str
    merkle_root: str
    time: int
    bits: int
    nonce: int

    def __post_init__(self) -> None:
        for name, value, width in (("version", self.version, 32), ("time", self.time, 32),
                                   ("bits", self.bits, 32), ("nonce", self.nonce, 32)):
            if not 0 <= value < 1 << width:
                raise InputError(f"{name} must fit in an unsigned 32-bit field, got {value}")
        parse_hex(self.prev_hash, what="previous block hash", length=32)
        parse_hex(self.merkle_root, what="merkle root", length=32)

    @classmethod
    def from_hex(cls, text: str) -> BlockHeader:
        """Parse the serialised header (160 hex digits)."""
        return cls.from_bytes(parse_hex(text, what="header", length=HEADER_BYTES))

    @classmethod
    def from_bytes(cls, raw: bytes) -> BlockHeader:
        if len(raw) != HEADER_BYTES:
            raise InputError(f"header must be {HEADER_BYTES} bytes, got {len(raw)}")
        version, = struct.unpack_from("<I", raw, 0)
        time, bits, nonce = struct.unpack_from("<III", raw, 68)
        return cls(version, raw[4:36][::-1].hex(), raw[36:68][::-1].hex(), time, bits, nonce)

    def to_bytes(self) -> bytes:
        return (struct.pack("<I", self.version)
                + bytes.fromhex(self.prev_hash)[::-1]
                + bytes.fromhex(self.merkle_root)[::-1]
                + struct.pack("<III", self.time, self.bits, self.nonce))

    def hex(self) -> str:
        return self.to_bytes().hex()

    def with_nonce(self, nonce: int) -> BlockHeader:
        return BlockHeader(self.version, self.prev_hash, self.merkle_root, self.time, self.bits, nonce)

    @property
    def target(self) -> int:
        return bits_to_target(self.bits)

    def hash(self) -> bytes:
        """SHA-256d of the header, internal order."""
        return sha256d(self.to_bytes())

    def hash_hex(self) -> str:
        """The block hash in display order."""
        return display_hex(self.hash())


#: The genesis block of Bitcoin's main chain (a test vector used throughout).
GENESIS = BlockHeader(
    version=1,
    prev_hash="00" * 32,
    merkle_root="4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b",
    time=1231006505,
    bits=0x1D00FFFF,
    nonce=2083236893,
)
