"""Local files: atomic writes (temp file, fsync, rename) and atomic folder replacement."""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from maga.storage.base import ObjectInfo, StorageError, join_uri, local_path, visible

_SHA_CACHE: dict[tuple[str, int, int, int], str] = {}  # (path, size, mtime_ns, inode) -> hex


def _path(uri: str) -> Path:
    path = local_path(uri)
    if path is None:
        raise StorageError(f"not a local URI: {uri}")
    return path


def sha256_file(path: Path) -> str:
    """sha256 hex of a file, remembered while its size, mtime and inode stay the same."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino)
    if key not in _SHA_CACHE:
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
        if len(_SHA_CACHE) >= 10_000:
            _SHA_CACHE.clear()
        _SHA_CACHE[key] = digest.hexdigest()
    return _SHA_CACHE[key]


def _fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable (best effort: not every filesystem allows it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _count_files(path: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(path))


def _atomic_write(uri: str, write: Callable[[Path], None]) -> None:
    """``write`` fills a hidden temp file beside the target, which is then renamed into
    place (and the folder synced): readers see the old content or the new, never a part."""
    path = _path(uri)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StorageError(f"cannot write {uri}: {exc}") from exc
    _fsync_dir(path.parent)


class LocalBackend:
    """Storage operations on local paths; URIs are paths or ``file://`` URLs."""

    def open_read(self, uri: str) -> BinaryIO:
        try:
            return open(_path(uri), "rb")  # noqa: SIM115 - the caller closes it
        except FileNotFoundError:
            raise StorageError(f"not found: {uri}") from None
        except OSError as exc:
            raise StorageError(f"cannot read {uri}: {exc}") from exc

    def read_range(self, uri: str, start: int, length: int) -> bytes:
        with self.open_read(uri) as fh:
            fh.seek(start)
            return fh.read(length)

    def write_bytes(self, uri: str, data: bytes) -> None:
        def write(tmp: Path) -> None:
            # O_EXCL on a fresh name; mode 0o666 so the umask decides, as for any new file
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())

        _atomic_write(uri, write)

    def put_file(self, local: Path, uri: str) -> None:
        """Copy a local file to ``uri`` atomically (hidden temp file, fsync, rename)."""

        def write(tmp: Path) -> None:
            shutil.copyfile(local, tmp)
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())

        _atomic_write(uri, write)

    def get_file(self, uri: str, local: Path) -> Path:
        """A local file is read where it is: its own path."""
        path = _path(uri)
        if not path.is_file():
            raise StorageError(f"not found: {uri}")
        return path

    def copy(self, src: str, dest: str) -> None:
        self.put_file(self.get_file(src, Path()), dest)

    def exists(self, uri: str) -> bool:
        return _path(uri).exists()

    def etag(self, uri: str) -> str:
        try:
            return sha256_file(_path(uri))
        except FileNotFoundError:
            raise StorageError(f"not found: {uri}") from None
        except OSError as exc:
            raise StorageError(f"cannot read {uri}: {exc}") from exc

    def list(self, prefix_uri: str, suffixes: tuple[str, ...] | None) -> list[ObjectInfo]:
        root = _path(prefix_uri)
        found = []
        if root.is_dir():
            for dirpath, dirnames, filenames in os.walk(root):
                dirnames[:] = [d for d in dirnames if visible(d)]
                for name in filenames:
                    path = Path(dirpath, name)
                    uri = join_uri(prefix_uri, path.relative_to(root).as_posix())
                    if visible(name) and (not suffixes or uri.endswith(suffixes)):
                        found.append(ObjectInfo(uri, path.stat().st_size, sha256_file(path)))
        return found

    def delete(self, uri: str) -> None:
        path = _path(uri)
        if path.is_dir() and not path.is_symlink():
            raise StorageError(f"is a folder (use delete_prefix): {uri}")
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot delete {uri}: {exc}") from exc

    def delete_prefix(self, prefix_uri: str) -> int:
        path = _path(prefix_uri)
        if path.resolve() == Path(path.resolve().anchor):
            raise StorageError(f"refusing to delete a filesystem root: {prefix_uri}")
        try:
            if path.is_dir() and not path.is_symlink():
                count = _count_files(path)
                shutil.rmtree(path)
                return count
            existed = path.exists() or path.is_symlink()
            path.unlink(missing_ok=True)
            return int(existed)
        except OSError as exc:
            raise StorageError(f"cannot delete {prefix_uri}: {exc}") from exc

    def upload_dir(self, src: Path, uri: str) -> int:
        """Replace the folder ``uri`` by a copy of ``src``: copy to a hidden sibling, move
        the old folder aside, rename the copy into place, remove the old one."""
        dest = _path(uri)
        count = _count_files(src)
        if dest.exists() and src.resolve() == dest.resolve():
            return count
        if dest.resolve().is_relative_to(src.resolve()):
            raise StorageError(f"cannot copy {src} into itself: {uri}")
        if src.resolve().is_relative_to(dest.resolve()):
            raise StorageError(f"cannot replace {uri} by its own subfolder {src}")
        tag = secrets.token_hex(6)
        tmp = dest.with_name(f".{dest.name}.{tag}.tmp")
        old = dest.with_name(f".{dest.name}.{tag}.old")
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(src, tmp)
            if dest.exists() or dest.is_symlink():
                os.rename(dest, old)
            os.rename(tmp, dest)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            if (old.exists() or old.is_symlink()) and not dest.exists():
                os.rename(old, dest)
            raise StorageError(f"cannot copy {src} to {uri}: {exc}") from exc
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        elif old.exists() or old.is_symlink():
            old.unlink()
        _fsync_dir(dest.parent)
        return count

    def download_dir(self, uri: str, dest: Path) -> int:
        src = _path(uri)
        if not src.is_dir():
            raise StorageError(f"not found: {uri} (no such folder)")
        try:
            shutil.copytree(src, dest, dirs_exist_ok=True)
        except (OSError, shutil.Error) as exc:
            raise StorageError(f"cannot copy {uri} to {dest}: {exc}") from exc
        return _count_files(src)
