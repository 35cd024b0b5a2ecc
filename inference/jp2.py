"""A cheap structural check of JPEG 2000 files, to refuse truncated band files up front.

GDAL's JPEG 2000 driver, decoding on several threads, can fill the tiles it fails to decode
with zeros and report success; zeros would then pass for no data. Reading the box headers and
the codestream's last two bytes catches a truncated file without decoding anything.
"""

from __future__ import annotations

import struct
from typing import IO

JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"
J2K_SOC_SIZ = b"\xff\x4f\xff\x51"
J2K_EOC = b"\xff\xd9"


def jp2_problem(stream: IO[bytes], size: int) -> str | None:
    """What is structurally wrong with a JP2 (or raw J2K) file, or None when it looks whole."""
    head = stream.read(12)
    if head[:4] == J2K_SOC_SIZ:
        return _codestream_end(stream, size, size)
    if head != JP2_SIGNATURE:
        return "not a JPEG 2000 file"
    offset = 0
    while offset < size:
        stream.seek(offset)
        header = stream.read(8)
        if len(header) < 8:
            return f"truncated: incomplete box header at byte {offset} of {size}"
        length, kind = struct.unpack(">I4s", header)
        if length == 1:
            extended = stream.read(8)
            if len(extended) < 8:
                return f"truncated: incomplete box header at byte {offset} of {size}"
            (length,) = struct.unpack(">Q", extended)
        elif length == 0:
            length = size - offset
        if length < 8:
            return f"corrupt box {kind!r} at byte {offset}"
        if offset + length > size:
            name = kind.decode("latin-1")
            return f"truncated: box '{name}' needs {offset + length} bytes, the file has {size}"
        if kind == b"jp2c":
            return _codestream_end(stream, offset + length, size)
        offset += length
    return "no codestream (jp2c box) in the file"


def _codestream_end(stream: IO[bytes], end: int, size: int) -> str | None:
    stream.seek(end - 2)
    if stream.read(2) != J2K_EOC:
        return f"truncated: the codestream has no end marker ({size} bytes)"
    return None
