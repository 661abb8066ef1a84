"""``file-system``: read, write, list, exists, create, delete, copy, move.

Atomiton's parameter names and output objects, with its broken parts corrected: ``filePath`` is
an alias of ``path``; ``createDirectories`` (or ``createDirectory``) and ``overwrite`` are honoured
rather than forced on; content that is not a string is written as bytes, lines or JSON; the
``input`` port supplies the content of a write and, as a string, the path of other operations.
Relative paths resolve against the engine's working directory, as in Atomiton.
"""

from __future__ import annotations

import codecs
import fnmatch
import os
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypedDict

from atomiton.library._compat import first_given, node_failure, primary, to_file_content
from atomiton.nodes import node

_TYPE = "file-system"
Operation = Literal["read", "write", "list", "exists", "create", "delete", "copy", "move"]


class FileSystemOutput(TypedDict, total=False):
    result: Any
    success: bool
    path: str
    size: int
    modified: str
    content: str
    created: bool
    files: list[str]
    count: int
    stats: list[dict[str, Any]]
    deleted: bool
    exists: bool
    sourcePath: str
    destPath: str


@node(id="file-system", name="File System", category="io", icon="folder")
def file_system(
    input: Any = None,
    path: str | None = None,
    targetPath: str | None = None,
    content: Any = None,
    *,
    operation: Operation = "read",
    filePath: str | None = None,
    recursive: bool = False,
    encoding: str = "utf8",
    createDirectories: bool = True,
    createDirectory: bool | None = None,
    overwrite: bool = True,
    pattern: str | None = None,
    includeStats: bool = False,
    fullPaths: bool = True,
) -> FileSystemOutput:
    """Read, write, list, test, create, delete, copy or move files and folders."""
    value = primary(input)
    where = first_given(path, filePath)
    if where is None and operation != "write" and isinstance(value, str):
        where = value
    if not where:
        raise node_failure(
            _TYPE,
            f"{operation}: no path given",
            hint="set the 'path' parameter (or 'filePath'), or connect a path to 'path'",
        )
    target = Path(str(where))
    make_dirs = createDirectory if createDirectory is not None else createDirectories
    text_encoding = _python_encoding(encoding)
    try:
        if operation == "read":
            return _read(target, text_encoding)
        if operation == "write":
            data = primary(content) if content is not None else value
            return _write(target, data, text_encoding, make_dirs=make_dirs, overwrite=overwrite)
        if operation == "list":
            return _list(target, recursive, pattern, includeStats, fullPaths)
        if operation == "exists":
            found = target.exists()
            return {"result": found, "exists": found, "success": True, "path": str(target)}
        if operation == "create":
            return _create(target, recursive or make_dirs)
        if operation == "delete":
            return _delete(target, recursive)
        if operation in ("copy", "move"):
            return _transfer(
                operation, target, targetPath, make_dirs=make_dirs, overwrite=overwrite
            )
    except OSError as exc:
        raise node_failure(
            _TYPE,
            f"{operation.capitalize()} operation failed: {exc.strerror or exc} "
            f"({exc.filename or target})",
            hint="check that the path exists and that the engine may access it",
        ) from exc
    raise node_failure(
        _TYPE,
        f"unknown operation '{operation}'",
        hint="use read, write, list, exists, create, delete, copy or move",
    )


def _read(target: Path, encoding: str) -> FileSystemOutput:
    if not target.exists():
        raise node_failure(_TYPE, f"Read operation failed: file not found: {target}")
    if not target.is_file():
        raise node_failure(
            _TYPE,
            f"Read operation failed: {target} is not a file",
            hint="use operation 'list' for a directory",
        )
    try:
        text = target.read_text(encoding=encoding)
    except UnicodeDecodeError as exc:
        raise node_failure(
            _TYPE,
            f"Read operation failed: {target} is not valid {encoding} text ({exc.reason} at "
            f"byte {exc.start})",
            hint="set 'encoding' to the file's encoding (e.g. latin-1)",
        ) from None
    stat = target.stat()
    return {
        "result": text,
        "content": text,
        "success": True,
        "path": str(target),
        "size": stat.st_size,
        "modified": _iso(stat.st_mtime),
    }


def _write(
    target: Path, value: Any, encoding: str, *, make_dirs: bool, overwrite: bool
) -> FileSystemOutput:
    if value is None:
        raise node_failure(
            _TYPE,
            f"Write operation failed: no content to write to {target}",
            hint="set the 'content' parameter or connect a value to 'input'",
        )
    if target.is_dir():
        raise node_failure(
            _TYPE,
            f"Write operation failed: {target} is a directory",
            hint="give the path of a file inside it",
        )
    if target.exists() and not overwrite:
        raise node_failure(
            _TYPE,
            f"Write operation failed: {target} already exists and overwrite is false",
            hint="set overwrite: true to replace it, or choose another path",
        )
    _ensure_folder(target.parent, make_dirs, "Write")
    data = to_file_content(value)
    if isinstance(data, bytes):
        target.write_bytes(data)
    else:
        target.write_text(data, encoding=encoding)
    return {
        "result": f"File written: {target}",
        "success": True,
        "path": str(target),
        "size": target.stat().st_size,
    }


def _list(
    target: Path, recursive: bool, pattern: str | None, with_stats: bool, full: bool
) -> FileSystemOutput:
    if not target.exists():
        raise node_failure(_TYPE, f"List directory failed: {target} does not exist")
    if not target.is_dir():
        raise node_failure(
            _TYPE,
            f"List directory failed: {target} is not a directory",
            hint="use operation 'read' for a file",
        )
    matchers = [re.compile(fnmatch.translate(p)) for p in _expand_braces(pattern or "*")]
    found = [
        entry for entry in _walk(target, recursive) if any(m.match(entry.name) for m in matchers)
    ]
    files = [str(e) if full else str(e.relative_to(target)) for e in found]
    out: FileSystemOutput = {
        "result": files,
        "files": files,
        "success": True,
        "path": str(target),
        "count": len(files),
    }
    if with_stats:
        out["stats"] = [_stat(e, name) for e, name in zip(found, files, strict=True)]
    return out


def _walk(folder: Path, recursive: bool) -> list[Path]:
    entries: list[Path] = []
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if entry.name.startswith("."):
            continue
        entries.append(entry)
        if recursive and entry.is_dir() and not entry.is_symlink():
            entries += _walk(entry, recursive)
    return entries


def _expand_braces(pattern: str) -> list[str]:
    """``*.{jpg,png}`` -> ``["*.jpg", "*.png"]``: fnmatch has no braces, Atomiton uses them."""
    match = re.search(r"\{([^{}]*)\}", pattern)
    if match is None:
        return [pattern]
    head, tail = pattern[: match.start()], pattern[match.end() :]
    return [p for part in match.group(1).split(",") for p in _expand_braces(head + part + tail)]


def _stat(entry: Path, name: str) -> dict[str, Any]:
    stat = entry.stat()
    return {
        "path": name,
        "name": entry.name,
        "size": stat.st_size,
        "modified": _iso(stat.st_mtime),
        "isDirectory": entry.is_dir(),
    }


def _create(target: Path, parents: bool) -> FileSystemOutput:
    if target.is_dir():
        return {
            "result": f"Directory already exists: {target}",
            "created": False,
            "success": True,
            "path": str(target),
        }
    if target.exists():
        raise node_failure(_TYPE, f"Create operation failed: {target} exists and is a file")
    try:
        target.mkdir(parents=parents)
    except FileNotFoundError:
        raise node_failure(
            _TYPE,
            f"Create operation failed: the parent folder of {target} does not exist",
            hint="set recursive: true to create missing parents",
        ) from None
    return {
        "result": f"Directory created: {target}",
        "created": True,
        "success": True,
        "path": str(target),
    }


def _delete(target: Path, recursive: bool) -> FileSystemOutput:
    if not target.exists() and not target.is_symlink():
        return {
            "result": f"Path does not exist: {target}",
            "deleted": False,
            "success": True,
            "path": str(target),
        }
    if target.is_dir() and not target.is_symlink():
        if recursive:
            shutil.rmtree(target)
        elif any(target.iterdir()):
            raise node_failure(
                _TYPE,
                f"Delete operation failed: the folder {target} is not empty",
                hint="set recursive: true to delete it with its contents",
            )
        else:
            target.rmdir()
    else:
        target.unlink()
    return {
        "result": f"Deleted: {target}",
        "deleted": True,
        "success": True,
        "path": str(target),
    }


def _transfer(
    operation: str, source: Path, target_path: str | None, *, make_dirs: bool, overwrite: bool
) -> FileSystemOutput:
    verb = operation.capitalize()
    if not target_path:
        raise node_failure(
            _TYPE,
            f"Target path is required for {operation} operation",
            hint="set 'targetPath' in the parameters or connect it to the 'targetPath' input",
        )
    if not source.exists():
        raise node_failure(_TYPE, f"{verb} operation failed: source {source} does not exist")
    dest = Path(target_path)
    if dest.is_dir() and not source.is_dir():
        dest = dest / source.name
    if dest.exists():
        if not overwrite:
            raise node_failure(
                _TYPE,
                f"{verb} operation failed: {dest} already exists and overwrite is false",
                hint="set overwrite: true to replace it",
            )
        if dest.is_dir() and not dest.is_symlink():
            shutil.rmtree(dest)
        else:
            dest.unlink()
    _ensure_folder(dest.parent, make_dirs, verb)
    if operation == "move":
        shutil.move(os.fspath(source), os.fspath(dest))
    elif source.is_dir():
        shutil.copytree(source, dest, symlinks=True)
    else:
        shutil.copy2(source, dest)
    return {
        "result": f"{'Copied' if operation == 'copy' else 'Moved'}: {source} -> {dest}",
        "success": True,
        "path": str(dest),
        "sourcePath": str(source),
        "destPath": str(dest),
    }


def _python_encoding(name: str) -> str:
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise node_failure(
            _TYPE,
            f"unknown encoding '{name}'",
            hint="use a Python codec name such as utf8, utf-16 or latin-1",
        ) from None


def _iso(timestamp: float) -> str:
    when = datetime.fromtimestamp(timestamp, UTC)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _ensure_folder(folder: Path, make_dirs: bool, verb: str) -> None:
    """Create ``folder`` when ``createDirectories`` allows it; else a missing folder fails the
    ``verb`` operation."""
    if folder.exists():
        return
    if not make_dirs:
        raise node_failure(
            _TYPE,
            f"{verb} operation failed: the folder {folder} does not exist",
            hint="set createDirectories: true to create it",
        )
    folder.mkdir(parents=True, exist_ok=True)
