"""Zip archives of board bundles: writing one deterministically, and reading one defensively, all in memory.

Reading refuses, before `zipfile` parses anything, an archive whose central directory is too big to parse cheaply
(`zipfile` builds an object per entry up front: half a million empty members cost seconds and hundreds of MB).
Then it refuses unsafe member names ('..', absolute, backslash, drive letter), repeated names, and archives that
unpack to more than the import limit. Members are read by name; nothing is ever extracted to disk by its name.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

MAX_MEMBERS = 10000
# A central directory entry is 46 bytes plus name, extra field and comment: a bundle needs far less than 1 KiB per
# member on average, so a directory bigger than this is refused unread.
MAX_DIRECTORY_BYTES = MAX_MEMBERS * 1024
EARLIEST = (1980, 1, 1, 0, 0, 0)  # the first moment a zip timestamp can hold

# Record layouts (APPNOTE 4.3): the end of central directory record, the Zip64 locator and record, a directory entry.
_END = struct.Struct("<4s4H2LH")
_END_MAGIC = b"PK\x05\x06"
_Z64_LOCATOR = struct.Struct("<4sLQL")
_Z64_LOCATOR_MAGIC = b"PK\x06\x07"
_Z64_END = struct.Struct("<4sQ2H2L4Q")
_Z64_END_MAGIC = b"PK\x06\x06"
_ENTRY = struct.Struct("<4s6H3L5H2L")
_ENTRY_MAGIC = b"PK\x01\x02"
_ENTRY_NAME_LENGTHS = slice(10, 13)  # name, extra field and comment lengths inside an unpacked entry
_DRIVE_LETTER = re.compile(r"^[A-Za-z]:")
_NOT_A_ZIP = "Bundle is not a valid zip file"


class ArchiveError(ValueError):
    """An archive that cannot be read as a bundle; `status` is 400 (malformed) or 413 (too big once unpacked)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Directory:
    """Where the central directory ends (its end record starts), how many entries it declares and its size."""

    end: int
    declared: int
    size: int


def _stamped(name: str, when: tuple[int, int, int, int, int, int]) -> zipfile.ZipInfo:
    """The header of one member: deflated, stamped `when`, mode rw-r--r-- whatever the server's umask."""
    header = zipfile.ZipInfo(name, date_time=when)
    header.compress_type = zipfile.ZIP_DEFLATED
    header.external_attr = 0o644 << 16
    return header


def write_zip(members: Sequence[tuple[str, bytes]], moment: datetime) -> bytes:
    """A deflated zip of `members`, in order, every entry stamped with `moment` (so equal boards give equal bytes).

    `moment` may be naive (SQLite hands timestamps back without a zone); `astimezone` then reads it as the host's
    local time, exactly as the legacy export does, so both implementations stamp the same bytes on any host.
    """
    utc = moment.astimezone(UTC)
    when = max((utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second), EARLIEST)
    sink = io.BytesIO()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(_stamped(name, when), data)
    return sink.getvalue()


def _directory(data: bytes) -> Directory:
    """The central directory as `zipfile` will find it: the last end record, or the Zip64 one its locator names."""
    at = len(data) - _END.size
    if at < 0:
        raise ArchiveError(_NOT_A_ZIP)
    if data[at : at + 4] != _END_MAGIC or data[-2:] != b"\x00\x00":
        # Not a comment-less archive: search the last 64 KiB (the longest comment) for the record, as zipfile does.
        at = data.rfind(_END_MAGIC, max(0, len(data) - _END.size - 0xFFFF))
        if at < 0 or at + _END.size > len(data):
            raise ArchiveError(_NOT_A_ZIP)
    end = _END.unpack_from(data, at)
    on_this_disk, total, size = end[3], end[4], end[5]
    declared = max(on_this_disk, total)
    locator = at - _Z64_LOCATOR.size
    if locator < 0 or data[locator : locator + 4] != _Z64_LOCATOR_MAGIC:
        return Directory(end=at, declared=declared, size=size)
    record = locator - _Z64_END.size
    if record < 0 or data[record : record + 4] != _Z64_END_MAGIC:
        raise ArchiveError(_NOT_A_ZIP)
    z64 = _Z64_END.unpack_from(data, record)
    return Directory(end=record, declared=max(z64[6], z64[7]), size=z64[8])


def too_many_members(count: int) -> ArchiveError:
    return ArchiveError(f"Bundle has {count} members; at most {MAX_MEMBERS} are allowed")


def check_directory(data: bytes) -> None:
    """Refuse an archive whose directory is too big before `zipfile` reads it whole.

    The declared entry count and directory size are checked first; then the entries' fixed headers are walked and
    counted up to one past the limit, because `zipfile` trusts the declared size, not the declared count.
    """
    directory = _directory(data)
    if directory.declared > MAX_MEMBERS:
        raise too_many_members(directory.declared)
    if directory.size > MAX_DIRECTORY_BYTES:
        raise ArchiveError(
            f"Bundle's central directory is {directory.size} bytes; at most {MAX_DIRECTORY_BYTES} are allowed"
        )
    if directory.size > directory.end:
        raise ArchiveError(_NOT_A_ZIP)
    cursor = directory.end - directory.size
    counted = 0
    while cursor < directory.end:
        if counted == MAX_MEMBERS:
            raise ArchiveError(f"Bundle has more than {MAX_MEMBERS} members; at most {MAX_MEMBERS} are allowed")
        if cursor + _ENTRY.size > directory.end or data[cursor : cursor + 4] != _ENTRY_MAGIC:
            raise ArchiveError(_NOT_A_ZIP)
        lengths = _ENTRY.unpack_from(data, cursor)[_ENTRY_NAME_LENGTHS]
        cursor += _ENTRY.size + sum(lengths)
        counted += 1


def unsafe_name(name: str) -> bool:
    """Whether a member name could point outside the folder it would be extracted to."""
    if not name or name.startswith(("/", "\\")) or "\\" in name or "\x00" in name:
        return True
    if _DRIVE_LETTER.match(name):
        return True
    return ".." in name.split("/")


def _open(data: bytes) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zlib.error, ValueError, EOFError, OSError) as exc:
        raise ArchiveError(_NOT_A_ZIP) from exc


def _screen_names(names: list[str]) -> None:
    """Refuse the first name, in archive order, that is unsafe or that an earlier member already used."""
    earliest = {name: position for position, name in reversed(list(enumerate(names)))}
    culprit = next(
        (position for position, name in enumerate(names) if unsafe_name(name) or earliest[name] != position), None
    )
    if culprit is None:
        return
    name = names[culprit]
    if unsafe_name(name):
        raise ArchiveError(f"Bundle member {name!r} has an unsafe path ('..', absolute or backslash)")
    raise ArchiveError(f"Bundle has more than one member named {name!r}")


_UNREADABLE = (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError, EOFError, ValueError)


def read_members(data: bytes, max_unpacked: int) -> dict[str, bytes]:
    """The archive's files by member name (folder entries skipped), once every check of the module docstring held."""
    check_directory(data)
    with _open(data) as archive:
        listing = archive.infolist()
        if len(listing) > MAX_MEMBERS:
            raise too_many_members(len(listing))
        _screen_names([entry.filename for entry in listing])
        unpacked = sum(entry.file_size for entry in listing)
        if unpacked > max_unpacked:
            raise ArchiveError(f"Bundle unpacks to more than {max_unpacked} bytes", status=413)
        try:
            return {entry.filename: archive.read(entry) for entry in listing if not entry.is_dir()}
        except _UNREADABLE as exc:
            raise ArchiveError(f"Bundle member could not be read: {exc}") from exc
