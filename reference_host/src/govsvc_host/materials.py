"""Scanned materials: checked by content, stored by content (a plug point with a default).

An upload is read up to the size limit plus one byte (a larger file is refused without
being read whole), its type is taken from its first bytes (``filetype``'s magic numbers —
never from the file name or the browser's Content-Type), and it must be a type the host
accepts *and* the material's guide lists. It is then stored under its SHA-256 digest: the
same scan uploaded twice is stored once, and the case's ``ProvidedMaterial.reference``
(``sha256:<hex>``) names it forever.

A city that keeps files in an object store implements :class:`MaterialStore` (three
methods) and passes it to :func:`govsvc_host.app.create_app`.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

import attrs
import filetype

__all__ = [
    "FilesystemMaterialStore",
    "MaterialStore",
    "StoredFile",
    "UploadRejected",
    "check_upload",
]

# Media types by the extension a guide names (Material.formats).
MEDIA_TYPES = {
    "pdf": "application/pdf",
    "jpg": "image/jpeg",
    "png": "image/png",
    "ofd": "application/ofd",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


class UploadRejected(ValueError):
    """An upload is too large or of a type not accepted; the message (Chinese) says which."""


@attrs.frozen
class StoredFile:
    reference: str  # "sha256:<hex>"
    size: int
    media_type: str
    extension: str


@runtime_checkable
class MaterialStore(Protocol):
    """Where scanned materials live. ``reference`` is always ``sha256:<hex>`` of the bytes."""

    def put(self, data: bytes, *, media_type: str, extension: str) -> StoredFile: ...

    def open(self, reference: str) -> BinaryIO: ...

    def exists(self, reference: str) -> bool: ...


def _fmt_size(n: int) -> str:
    return f"{n / 1024 / 1024:g} MB" if n >= 1024 * 1024 else f"{n // 1024} KB"


def check_upload(
    stream: BinaryIO, *, max_bytes: int, accepted: tuple[str, ...], filename: str = ""
) -> tuple[bytes, str]:
    """Read and check an upload; returns ``(bytes, extension)`` or raises UploadRejected."""
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UploadRejected(f"文件超过大小上限 {_fmt_size(max_bytes)}，请压缩或分页扫描后重新上传")
    if not data:
        raise UploadRejected("文件为空，请重新选择文件")
    kind = filetype.guess(data[:8192])
    extension = "jpg" if kind is not None and kind.extension == "jpeg" else (
        kind.extension if kind is not None else ""
    )
    shown = "、".join(accepted)
    if not extension:
        raise UploadRejected(f"无法识别文件类型（{filename or '未命名'}），本材料接受：{shown}")
    if extension not in accepted:
        raise UploadRejected(
            f"文件内容为 {extension.upper()} 格式，本材料只接受：{shown}"
            "（按文件内容判断，与文件名无关）"
        )
    return data, extension


class FilesystemMaterialStore:
    """The default store: ``<root>/ab/cd/<sha256>``, written atomically (temp file + rename)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, reference: str) -> Path:
        if not reference.startswith("sha256:"):
            raise KeyError(reference)
        digest = reference.removeprefix("sha256:")
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise KeyError(reference)
        return self.root / digest[:2] / digest[2:4] / digest

    def put(self, data: bytes, *, media_type: str, extension: str) -> StoredFile:
        digest = hashlib.sha256(data).hexdigest()
        path = self._path(f"sha256:{digest}")
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        return StoredFile(f"sha256:{digest}", len(data), media_type, extension)

    def open(self, reference: str) -> BinaryIO:
        return self._path(reference).open("rb")

    def exists(self, reference: str) -> bool:
        try:
            return self._path(reference).exists()
        except KeyError:
            return False
