"""Get a dataset source (folder, zip file or URL) into a folder, verified by sha256.

The pinned `data.sha256` is the identity of the source: it is a params
dependency of `fetch`, so DVC re-runs fetch only when the pinned hash changes
and restores an earlier result from its run-cache instead of extracting again.
A folder's hash covers every file's relative path and content; a zip's or a
download's is the hash of the archive bytes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.parse
import urllib.request
import zipfile
import zlib
from pathlib import Path
from typing import Callable

from sqlforge.io import InputError

_CHUNK = 1 << 20
_JUNK = {"__MACOSX", ".DS_Store"}  # added by macOS zip tools; never part of a dataset


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _inside(path: str, root: str) -> bool:
    return os.path.commonpath([path, root]) == root


def _refuse_link_out(link: Path, folder: Path, root: str) -> None:
    """A symlink whose target resolves outside the source folder is refused: a dataset folder unpacked from
    someone else's archive could otherwise copy any readable file of this machine (a key, a token) into
    data/raw, and from there into DVC's cache and remote."""
    target = os.path.realpath(link)
    if not _inside(target, root):
        raise InputError(f"{link}: a symbolic link to {target}, outside the source folder {folder}; fetch copies "
                         "only what lies inside data.source: copy the files in, or make data.source itself the "
                         "link (it is resolved once)")


def _files(folder: Path) -> list[Path]:
    """Every file under `folder`, following symlinks that stay inside it (Path.rglob does not follow linked
    folders), each real folder once so a link cycle cannot loop. `folder` itself may be a link (resolved
    once); a link under it that leads outside it is an InputError naming the link (docs/failure-modes.md)."""
    root = os.path.realpath(folder)
    found, seen = [], set()
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames.clear()
            continue
        seen.add(real)
        base = Path(dirpath)
        dirnames[:] = [d for d in dirnames if d not in _JUNK]
        for name in dirnames + [f for f in filenames if f not in _JUNK]:
            if (base / name).is_symlink():
                _refuse_link_out(base / name, folder, root)
        found += [base / name for name in filenames if name not in _JUNK and (base / name).is_file()]
    return sorted(found)


def tree_sha256(path: Path) -> str:
    """sha256 of a file, or of a folder's sorted "relative path, file sha256" lines."""
    if path.is_file():
        return file_sha256(path)
    digest = hashlib.sha256()
    for f in _files(path):
        digest.update(f"{f.relative_to(path).as_posix()}\t{file_sha256(f)}\n".encode())
    return digest.hexdigest()


def is_url(source: str) -> bool:
    return urllib.parse.urlparse(source).scheme in {"http", "https", "file"}


def _download(url: str, dest: Path) -> None:
    try:
        with urllib.request.urlopen(url, timeout=60) as response, dest.open("wb") as f:
            shutil.copyfileobj(response, f, _CHUNK)
    except OSError as e:
        raise InputError(f"params.yaml: data.source={url!r}: download failed: {e}") from None


def _verify(source: str, actual: str, pinned: str) -> None:
    if pinned and actual != pinned.lower():
        raise InputError(f"{source}: sha256 is {actual}, but params.yaml pins data.sha256={pinned}; "
                         "the file is corrupt or a different release")


def free_disk_bytes(path: Path) -> int:
    """Bytes free to this user on the disk holding `path`."""
    return shutil.disk_usage(path).free


def _extract(archive: Path, out: Path, max_uncompressed_bytes: int, shown: str | None = None,
             free_bytes: Callable[[Path], int] = free_disk_bytes) -> None:
    """Extract `archive` into `out`, refusing before any byte is written when its members' sizes add up
    to more than `max_uncompressed_bytes` (params.yaml's data.max_uncompressed_bytes; zipfile stops each
    member at its declared size, and a member that expands further fails its CRC check, so the declared
    sizes bound what lands on disk) or to more than `free_bytes(out)`, the free space where it would land
    (a test passes its own function to reach that refusal without filling a disk)."""
    shown = shown or str(archive)
    try:
        with zipfile.ZipFile(archive) as zf:
            total = sum(member.file_size for member in zf.infolist())
            if total > max_uncompressed_bytes:
                raise InputError(f"{shown}: expands to {total:,} bytes, over the cap of {max_uncompressed_bytes:,} "
                                 "(data.max_uncompressed_bytes); raise it only for an archive you trust")
            free = free_bytes(out)
            if total > free:
                raise InputError(f"{shown}: expands to {total:,} bytes, but only {free:,} bytes are free on the "
                                 f"disk of {out}; free {total - free:,} bytes or more, then run fetch again")
            bad = zf.testzip()
            if bad is not None:
                raise InputError(f"{shown}: member {bad} is corrupt (CRC mismatch)")
            # ZipFile.extract drops absolute paths and '..' parts, so nothing lands outside `out`
            for member in zf.infolist():
                if not _JUNK & set(Path(member.filename).parts):
                    zf.extract(member, out)
    except (zipfile.BadZipFile, zlib.error, EOFError) as e:  # a damaged member's stream fails in zlib
        raise InputError(f"{shown}: not a valid zip file ({e})") from None


def expand_nested_zips(root: Path, max_uncompressed_bytes: int, shown: str | None = None) -> list[str]:
    """BIRD ships `<split>_databases.zip` inside its split zip: extract each beside itself, once.
    `shown` is how error messages name `root` (the user's source, not a temporary folder)."""
    done = []
    for archive in sorted(root.rglob("*_databases.zip")):
        target = archive.with_suffix("")
        if not target.is_dir():
            _extract(archive, archive.parent, max_uncompressed_bytes,
                     f"{shown}/{archive.relative_to(root).as_posix()}" if shown else None)
            if not target.is_dir():
                raise InputError(f"{archive}: expected it to hold the folder {target.name}/")
        archive.unlink()
        done.append(archive.relative_to(root).as_posix())
    return done


def materialize(source: str, pinned_sha256: str, out: Path, hint: str, max_uncompressed_bytes: int) -> str:
    """Copy or extract `source` into the empty folder `out`; return the source's sha256.

    `hint` says what to download and where to put it; it is part of the error
    when the source is missing. An archive expanding past `max_uncompressed_bytes` (data.max_uncompressed_bytes:
    the number lives in params.yaml only) or past the free disk space is refused, and so is a folder holding a
    symlink that leads out of it.
    """
    if not source:
        raise InputError(f"params.yaml: data.source is empty: {hint}")
    if is_url(source):
        archive = out / ".download"
        _download(source, archive)
        actual = file_sha256(archive)
        _verify(source, actual, pinned_sha256)
        _extract(archive, out, max_uncompressed_bytes, source)
        archive.unlink()
        return actual
    path = Path(source).expanduser()
    if not path.exists():
        raise InputError(f"params.yaml: data.source={source!r} does not exist: {hint}")
    actual = tree_sha256(path)
    _verify(source, actual, pinned_sha256)
    if path.is_dir():
        for f in _files(path):
            dest = out / f.relative_to(path)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, dest)
    else:
        _extract(path, out, max_uncompressed_bytes)
    return actual


def find_root(folder: Path, marker: str) -> Path:
    """The folder holding `marker`: `folder` itself or a single wrapping folder (spider.zip has one)."""
    if (folder / marker).exists():
        return folder
    found = sorted(p.parent for p in folder.glob(f"*/{marker}")) + sorted(p.parent for p in folder.glob(f"*/*/{marker}"))
    if len(found) == 1:
        return found[0]
    if not found:
        raise InputError(f"{folder}: no {marker} found in the dataset source")
    raise InputError(f"{folder}: several folders hold {marker}: {', '.join(str(p) for p in found)}; keep one")
