"""Unpacking a model archive (`model.tar.gz`, `sourcedir.tar.gz`) by one rule, for models imported
into the SaaS and for the hosting stand-in alike: only regular files and directories, nothing
outside the target, at most MAX_UNPACKED_BYTES in all, and nothing written unless every member
passes (tarfile's `data` filter then applies its own checks too)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path, PurePosixPath

from saasbridge.errors import ConfigError

MAX_UNPACKED_BYTES = 2 * 1024**3


class UnsafeArchiveError(ConfigError):
    """An archive that is unreadable or holds a member that may not be unpacked."""


def unpack_archive(source: Path | bytes, into: Path, *, what: str) -> None:
    """Check every member of the tar (gzip or not) at `source` (a path or its bytes), then unpack
    all of them into `into`; `what` names the archive in the one-line error."""
    try:
        in_memory = None if isinstance(source, Path) else io.BytesIO(source)
        with tarfile.open(None if in_memory else source, "r:*", fileobj=in_memory) as tar:
            members = tar.getmembers()
            _check(members, into, what)
            tar.extractall(into, members=members, filter="data")
    except tarfile.FilterError as exc:
        raise UnsafeArchiveError(f"{what}: unsafe member ({exc}); refusing to unpack") from None
    except (tarfile.TarError, OSError, EOFError) as exc:
        reason = " ".join(str(exc).split())  # tarfile lists each compression it tried on its own line
        raise UnsafeArchiveError(f"{what}: not a readable .tar.gz ({reason})") from None


def _check(members: list[tarfile.TarInfo], into: Path, what: str) -> None:
    total = 0
    for member in members:
        if not (member.isfile() or member.isdir()):
            raise UnsafeArchiveError(
                f"{what}: member {member.name!r} is a link or special file; a model archive holds only "
                "files and directories"
            )
        if member.name.startswith(("/", "\\")) or ".." in PurePosixPath(member.name).parts:
            raise UnsafeArchiveError(f"{what}: member {member.name!r} points outside the archive")
        tarfile.data_filter(member, str(into))  # and whatever else the data filter refuses
        total += member.size
    if total > MAX_UNPACKED_BYTES:
        raise UnsafeArchiveError(
            f"{what}: unpacks to {total} bytes, over the {MAX_UNPACKED_BYTES}-byte limit; keep only the model's files"
        )
