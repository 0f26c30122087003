"""The stored form of one backup: zstd-compressed, then AES-256-GCM in authenticated frames.

A snapshot file is streamed (never held whole in memory): read in blocks, compressed with zstd,
cut into frames of at most ``FRAME_BYTES`` compressed bytes, and each frame encrypted with the
backup's own random 256-bit data key::

    MAGIC(8) | { length(4, big-endian) | ciphertext+tag } ...

Frame ``i`` uses the nonce ``i`` (12 bytes, big-endian; safe because a data key encrypts exactly
one backup) and the associated data ``backup id | i | final flag``, so frames cannot be
reordered, moved into another backup, dropped from the end (the last frame must carry the final
flag) or followed by extra frames. The data key is wrapped by the backup site's key
(:mod:`bindery.backups.sitekey`) and stored in the manifest, never in the archive.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import zstandard
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"BNDBK\x00\x01\n"
FRAME_BYTES = 1 << 20
READ_BYTES = 1 << 20
TAG_BYTES = 16
ZSTD_LEVEL = 3


class ArchiveError(Exception):
    """The stored backup is damaged, tampered with, truncated or not ours."""


@dataclass
class StreamStats:
    """Sizes and SHA-256 digests of what went through a stream, filled in as it runs."""

    plain_bytes: int = 0
    stored_bytes: int = 0
    plain_sha256: str = ""
    stored_sha256: str = ""
    frames: int = 0
    _plain: hashlib._Hash = field(default_factory=hashlib.sha256, repr=False)
    _stored: hashlib._Hash = field(default_factory=hashlib.sha256, repr=False)

    def _finish(self) -> None:
        self.plain_sha256 = self._plain.hexdigest()
        self.stored_sha256 = self._stored.hexdigest()


def _aad(backup_id: str, index: int, final: bool) -> bytes:
    return backup_id.encode() + b"|" + struct.pack(">Q?", index, final)


def _nonce(index: int) -> bytes:
    return index.to_bytes(12, "big")


def encrypt_stream(source: BinaryIO, data_key: bytes, backup_id: str, stats: StreamStats, *,
                   level: int = ZSTD_LEVEL) -> Iterator[bytes]:
    """Yield the stored form of everything readable from ``source``; ``stats`` is complete at the end."""
    aes = AESGCM(data_key)
    compressor = zstandard.ZstdCompressor(level=level, write_checksum=True).compressobj()
    pending = bytearray()
    index = 0

    def frame(chunk: bytes, final: bool) -> bytes:
        nonlocal index
        sealed = aes.encrypt(_nonce(index), chunk, _aad(backup_id, index, final))
        index += 1
        out = struct.pack(">I", len(sealed)) + sealed
        stats._stored.update(out)
        stats.stored_bytes += len(out)
        return out

    stats._stored.update(MAGIC)
    stats.stored_bytes += len(MAGIC)
    yield MAGIC
    while True:
        block = source.read(READ_BYTES)
        if not block:
            break
        stats._plain.update(block)
        stats.plain_bytes += len(block)
        pending += compressor.compress(block)
        while len(pending) > FRAME_BYTES:
            yield frame(bytes(pending[:FRAME_BYTES]), False)
            del pending[:FRAME_BYTES]
    pending += compressor.flush()
    while len(pending) > FRAME_BYTES:
        yield frame(bytes(pending[:FRAME_BYTES]), False)
        del pending[:FRAME_BYTES]
    yield frame(bytes(pending), True)
    stats.frames = index
    stats._finish()


class _Reader:
    """Exact reads over an iterator of byte chunks of any size."""

    def __init__(self, chunks: Iterable[bytes], stats: StreamStats) -> None:
        self._chunks = iter(chunks)
        self._buffer = bytearray()
        self._stats = stats

    def read(self, n: int) -> bytes:
        while len(self._buffer) < n:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._stats._stored.update(chunk)
            self._stats.stored_bytes += len(chunk)
            self._buffer += chunk
        out = bytes(self._buffer[:n])
        del self._buffer[:n]
        return out


def decrypt_stream(chunks: Iterable[bytes], data_key: bytes, backup_id: str, write: Callable[[bytes], object],
                   stats: StreamStats) -> None:
    """Decrypt and decompress a stored backup, passing the snapshot's bytes to ``write``.

    Raise :class:`ArchiveError` on any damage: a flipped bit fails a frame's tag, a missing end
    fails the final flag, trailing bytes are refused.
    """
    reader = _Reader(chunks, stats)
    if reader.read(len(MAGIC)) != MAGIC:
        raise ArchiveError("not a Bindery backup archive (bad magic)")
    aes = AESGCM(data_key)
    decompressor = zstandard.ZstdDecompressor().decompressobj()
    index = 0
    while True:
        head = reader.read(4)
        if len(head) < 4:
            raise ArchiveError(f"archive ends after frame {index} without its final frame (truncated)")
        (length,) = struct.unpack(">I", head)
        if length < TAG_BYTES or length > FRAME_BYTES + TAG_BYTES:
            raise ArchiveError(f"frame {index} has an impossible length {length}")
        sealed = reader.read(length)
        if len(sealed) < length:
            raise ArchiveError(f"frame {index} is cut short (truncated)")
        final = False
        try:
            chunk = aes.decrypt(_nonce(index), sealed, _aad(backup_id, index, False))
        except InvalidTag:
            try:
                chunk = aes.decrypt(_nonce(index), sealed, _aad(backup_id, index, True))
                final = True
            except InvalidTag:
                raise ArchiveError(f"frame {index} does not verify (damaged or tampered)") from None
        index += 1
        try:
            plain = decompressor.decompress(chunk)
        except zstandard.ZstdError as exc:
            raise ArchiveError(f"frame {index - 1} does not decompress: {exc}") from None
        if plain:
            stats._plain.update(plain)
            stats.plain_bytes += len(plain)
            write(plain)
        if final:
            break
    if reader.read(1):
        raise ArchiveError("bytes follow the final frame")
    if not decompressor.eof:
        raise ArchiveError("the compressed stream is incomplete")
    stats.frames = index
    stats._finish()
