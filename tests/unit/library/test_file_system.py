"""file-system: every operation, its output object and its error messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from atomiton.errors import NodeError
from atomiton.library.file_system import file_system


def test_read_returns_content_and_metadata(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    target.write_text("héllo")
    out = file_system(path=str(target))
    assert out["result"] == out["content"] == "héllo"
    assert out["success"] is True
    assert out["path"] == str(target)
    assert out["size"] == len("héllo".encode())
    assert out["modified"].endswith("Z")


def test_file_path_is_an_alias_of_path(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x")
    assert file_system(filePath=str(tmp_path / "a.txt"))["result"] == "x"


def test_read_missing_file(tmp_path: Path) -> None:
    with pytest.raises(NodeError, match=r"\[file-system\] Read operation failed: file not found"):
        file_system(path=str(tmp_path / "nope.txt"))


def test_read_directory_says_use_list(tmp_path: Path) -> None:
    with pytest.raises(NodeError, match=r"is not a file.*use operation 'list'"):
        file_system(path=str(tmp_path))


def test_read_with_wrong_encoding(tmp_path: Path) -> None:
    (tmp_path / "b.bin").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(NodeError, match="is not valid utf-8 text"):
        file_system(path=str(tmp_path / "b.bin"))
    assert file_system(path=str(tmp_path / "b.bin"), encoding="latin-1")["size"] == 3


def test_unknown_encoding(tmp_path: Path) -> None:
    with pytest.raises(NodeError, match="unknown encoding 'klingon'"):
        file_system(path=str(tmp_path), encoding="klingon")


def test_no_path(tmp_path: Path) -> None:
    with pytest.raises(NodeError, match="read: no path given"):
        file_system()


def test_string_input_is_the_path_for_non_write_operations(tmp_path: Path) -> None:
    assert file_system(input=str(tmp_path), operation="exists")["exists"] is True


def test_write_string_creates_directories(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "out.txt"
    out = file_system(path=str(target), operation="write", content="hi")
    assert target.read_text() == "hi"
    assert out == {
        "result": f"File written: {target}",
        "success": True,
        "path": str(target),
        "size": 2,
    }


def test_write_without_create_directories_fails(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "out.txt"
    with pytest.raises(NodeError, match=r"does not exist.*createDirectories: true"):
        file_system(path=str(target), operation="write", content="x", createDirectories=False)
    with pytest.raises(NodeError, match="does not exist"):
        file_system(path=str(target), operation="write", content="x", createDirectory=False)


def test_overwrite_false_refuses_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "o.txt"
    target.write_text("old")
    with pytest.raises(NodeError, match="already exists and overwrite is false"):
        file_system(path=str(target), operation="write", content="new", overwrite=False)
    assert target.read_text() == "old"
    file_system(path=str(target), operation="write", content="new")
    assert target.read_text() == "new"


def test_write_input_output_object_uses_its_result(tmp_path: Path) -> None:
    """hello-world: transform's whole output object arrives; its list of strings is written."""
    upstream = {"result": ["line one", "line two"], "success": True, "outputCount": 2}
    target = tmp_path / "hello.txt"
    file_system(input=upstream, path=str(target), operation="write")
    assert target.read_text() == "line one\nline two"


def test_write_content_kinds(tmp_path: Path) -> None:
    file_system(path=str(tmp_path / "b"), operation="write", content=b"\x00\x01")
    assert (tmp_path / "b").read_bytes() == b"\x00\x01"
    file_system(path=str(tmp_path / "j"), operation="write", content={"total": 3})
    assert json.loads((tmp_path / "j").read_text()) == {"total": 3}
    file_system(path=str(tmp_path / "n"), operation="write", content=[1, 2])
    assert json.loads((tmp_path / "n").read_text()) == [1, 2]


def test_content_parameter_wins_over_input(tmp_path: Path) -> None:
    target = tmp_path / "c.txt"
    file_system(input="from input", content="from param", path=str(target), operation="write")
    assert target.read_text() == "from param"


def test_write_nothing_fails(tmp_path: Path) -> None:
    with pytest.raises(NodeError, match="no content to write"):
        file_system(path=str(tmp_path / "x"), operation="write")


def test_write_onto_a_directory_fails(tmp_path: Path) -> None:
    with pytest.raises(NodeError, match="is a directory"):
        file_system(path=str(tmp_path), operation="write", content="x")


def test_list_skips_hidden_and_sorts(tmp_path: Path) -> None:
    for name in ("b.png", "a.jpg", ".hidden", "c.txt"):
        (tmp_path / name).write_text("x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.png").write_text("x")
    out = file_system(path=str(tmp_path), operation="list")
    assert out["files"] == [str(tmp_path / n) for n in ("a.jpg", "b.png", "c.txt", "sub")]
    assert out["result"] == out["files"]
    assert out["count"] == 4
    deep = file_system(path=str(tmp_path), operation="list", recursive=True)
    assert str(tmp_path / "sub" / "d.png") in deep["files"]


def test_list_pattern_with_braces_and_stats(tmp_path: Path) -> None:
    for name in ("b.png", "a.jpg", "c.txt"):
        (tmp_path / name).write_text("xy")
    out = file_system(
        path=str(tmp_path),
        operation="list",
        pattern="*.{jpg,png,gif}",
        includeStats=True,
        fullPaths=False,
    )
    assert out["files"] == ["a.jpg", "b.png"]
    assert [s["size"] for s in out["stats"]] == [2, 2]
    assert out["stats"][0]["isDirectory"] is False


def test_list_missing_and_non_directory(tmp_path: Path) -> None:
    with pytest.raises(NodeError, match=r"List directory failed: .* does not exist"):
        file_system(path=str(tmp_path / "none"), operation="list")
    (tmp_path / "f").write_text("x")
    with pytest.raises(NodeError, match=r"List directory failed: .* is not a directory"):
        file_system(path=str(tmp_path / "f"), operation="list")


def test_exists(tmp_path: Path) -> None:
    out = file_system(path=str(tmp_path / "no"), operation="exists")
    assert out == {"result": False, "exists": False, "success": True, "path": str(tmp_path / "no")}


def test_create_and_create_again(tmp_path: Path) -> None:
    target = tmp_path / "x" / "y"
    first = file_system(path=str(target), operation="create")
    assert first["created"] is True
    assert target.is_dir()
    again = file_system(path=str(target), operation="create")
    assert again["created"] is False
    assert again["result"] == f"Directory already exists: {target}"


def test_create_without_parents_fails(tmp_path: Path) -> None:
    with pytest.raises(NodeError, match=r"parent folder .* does not exist"):
        file_system(path=str(tmp_path / "a" / "b"), operation="create", createDirectories=False)


def test_create_over_a_file_fails(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(NodeError, match="exists and is a file"):
        file_system(path=str(tmp_path / "f"), operation="create")


def test_delete_file_folder_and_missing(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    assert file_system(path=str(tmp_path / "f"), operation="delete")["deleted"] is True
    assert not (tmp_path / "f").exists()
    missing = file_system(path=str(tmp_path / "f"), operation="delete")
    assert missing["deleted"] is False
    assert missing["success"] is True
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "inner").write_text("x")
    with pytest.raises(NodeError, match=r"is not empty.*recursive: true"):
        file_system(path=str(tmp_path / "d"), operation="delete")
    assert file_system(path=str(tmp_path / "d"), operation="delete", recursive=True)["deleted"]
    assert not (tmp_path / "d").exists()


def test_copy_without_target_path(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(NodeError, match=r"\[file-system\] Target path is required for copy"):
        file_system(path=str(tmp_path / "f"), operation="copy")
    with pytest.raises(NodeError, match="Target path is required for move"):
        file_system(path=str(tmp_path / "f"), operation="move")


def test_copy_file_and_folder(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    out = file_system(path=str(tmp_path / "f"), targetPath=str(tmp_path / "g"), operation="copy")
    assert (tmp_path / "g").read_text() == "x"
    assert out["sourcePath"] == str(tmp_path / "f")
    assert out["destPath"] == out["path"] == str(tmp_path / "g")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "inner").write_text("y")
    file_system(path=str(tmp_path / "d"), targetPath=str(tmp_path / "e"), operation="copy")
    assert (tmp_path / "e" / "inner").read_text() == "y"


def test_copy_into_an_existing_folder_keeps_the_name(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    (tmp_path / "dest").mkdir()
    out = file_system(path=str(tmp_path / "f"), targetPath=str(tmp_path / "dest"), operation="copy")
    assert out["destPath"] == str(tmp_path / "dest" / "f")


def test_copy_overwrite_false_and_missing_source(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    (tmp_path / "g").write_text("old")
    with pytest.raises(NodeError, match="already exists and overwrite is false"):
        file_system(
            path=str(tmp_path / "f"),
            targetPath=str(tmp_path / "g"),
            operation="copy",
            overwrite=False,
        )
    with pytest.raises(NodeError, match=r"Copy operation failed: source .* does not exist"):
        file_system(path=str(tmp_path / "zz"), targetPath=str(tmp_path / "g"), operation="copy")


def test_move(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    out = file_system(
        path=str(tmp_path / "f"), targetPath=str(tmp_path / "sub" / "h"), operation="move"
    )
    assert not (tmp_path / "f").exists()
    assert (tmp_path / "sub" / "h").read_text() == "x"
    assert out["result"].startswith("Moved:")


def test_permission_error_is_a_node_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An OS error while reading becomes a NodeError. Root reads every file whatever its mode
    (CI runs as root), so the refusal is made by the file system call itself."""
    target = tmp_path / "secret"
    target.write_text("x")

    def refuse(self: Path, *args: object, **kwargs: object) -> str:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_text", refuse)
    with pytest.raises(NodeError, match="Read operation failed: Permission denied"):
        file_system(path=str(target))
