"""Workbooks built by the tests: plain ones, and hostile ones (a sheet that expands to
gigabytes, a shared string of hundreds of megabytes) written without ever holding their
expanded content."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Iterable
from functools import cache

import openpyxl

CHUNK_ROWS = 8_000


def workbook_bytes(rows: Iterable[Iterable[object]]) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _repeated_deflate(head: bytes, chunk: bytes, times: int, tail: bytes) -> tuple[bytes, int, int]:
    """Raw deflate of head + chunk * times + tail, its CRC-32 and size, built from one
    compressed copy of the chunk (a full flush makes each copy's bytes the same)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    start = compressor.compress(head) + compressor.flush(zlib.Z_FULL_FLUSH)
    middle = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    end = compressor.compress(tail) + compressor.flush(zlib.Z_FINISH)
    crc = zlib.crc32(head)
    for _ in range(times):
        crc = zlib.crc32(chunk, crc)
    crc = zlib.crc32(tail, crc)
    return start + middle * times + end, crc, len(head) + len(chunk) * times + len(tail)


def _zip(members: dict[str, tuple[bytes, int, int]]) -> bytes:
    """A zip of raw-deflated members (name -> compressed, crc, size), no zip64."""
    out = io.BytesIO()
    central = []
    for name, (compressed, crc, size) in members.items():
        offset = out.tell()
        encoded = name.encode()
        out.write(
            struct.pack(
                "<IHHHHHIIIHH",
                0x04034B50,
                20,
                0,
                8,
                0,
                0x21,
                crc,
                len(compressed),
                size,
                len(encoded),
                0,
            )
        )
        out.write(encoded)
        out.write(compressed)
        central.append(
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                20,
                20,
                0,
                8,
                0,
                0x21,
                crc,
                len(compressed),
                size,
                len(encoded),
                0,
                0,
                0,
                0,
                0,
                offset,
            )
            + encoded
        )
    directory_at = out.tell()
    for entry in central:
        out.write(entry)
    size = out.tell() - directory_at
    out.write(
        struct.pack(
            "<IHHHHIIH", 0x06054B50, 0, 0, len(central), len(central), size, directory_at, 0
        )
    )
    return out.getvalue()


def _deflated(data: bytes) -> tuple[bytes, int, int]:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush(), zlib.crc32(data), len(data)


@cache
def sheet_bomb(expanded_gb: float = 1.25) -> bytes:
    """A workbook of a few megabytes whose sheet expands to `expanded_gb` gigabytes."""
    members = {
        name: _deflated(data)
        for name, data in _members(workbook_bytes([["Employee ID", "Amount"], ["E1", 1]])).items()
    }
    row = b'<row><c t="inlineStr"><is><t>E1</t></is></c><c><v>1</v></c></row>'
    chunk = row * CHUNK_ROWS
    times = int(expanded_gb * 1024**3 / len(chunk)) + 1
    head = b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
    members["xl/worksheets/sheet1.xml"] = _repeated_deflate(
        head, chunk, times, b"</sheetData></worksheet>"
    )
    return _zip(members)


_MAIN = b"http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_SHARED_TYPE = (
    b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
    b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>'
)
_SHARED_RELATION = (
    b'<Relationship Id="rIdStrings" Type="http://schemas.openxmlformats.org/officeDocument/'
    b'2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>'
)


@cache
def huge_header_cell(megabytes: int = 200, *, shared: bool = True) -> bytes:
    """A small workbook whose first header cell holds `megabytes` MB of text, as a shared
    string (what Excel writes) or an inline string."""
    plain = _members(workbook_bytes([["HEADER", "Amount"], ["E1", 1]]))
    members = {name: _deflated(data) for name, data in plain.items()}
    chunk = b"A" * (1024 * 1024)
    sheet = plain["xl/worksheets/sheet1.xml"]
    if not shared:
        head, tail = sheet.split(b"HEADER", 1)
        members["xl/worksheets/sheet1.xml"] = _repeated_deflate(head, chunk, megabytes, tail)
        return _zip(members)
    cell = b'<c r="A1" t="inlineStr"><is><t>HEADER</t></is></c>'
    members["xl/worksheets/sheet1.xml"] = _deflated(
        sheet.replace(cell, b'<c r="A1" t="s"><v>0</v></c>')
    )
    types = plain["[Content_Types].xml"].replace(b"</Types>", _SHARED_TYPE)
    members["[Content_Types].xml"] = _deflated(types)
    relations = plain["xl/_rels/workbook.xml.rels"].replace(b"</Relationships>", _SHARED_RELATION)
    members["xl/_rels/workbook.xml.rels"] = _deflated(relations)
    head = b'<sst xmlns="' + _MAIN + b'" count="1" uniqueCount="1"><si><t>'
    members["xl/sharedStrings.xml"] = _repeated_deflate(head, chunk, megabytes, b"</t></si></sst>")
    return _zip(members)
