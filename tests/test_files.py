"""glsgn_core.files.atomic_write: the one helper every file write goes through."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from glsgn_core import files
from glsgn_core.files import TEMP_MARKER, atomic_write
from glsgn_core.image_io import is_temp_file


@pytest.fixture
def umask():
    """Set the process umask for one test and put the old one back afterwards."""
    old = os.umask(0o022)
    try:
        yield lambda mask: os.umask(mask)
    finally:
        os.umask(old)


def test_result_content_is_what_write_wrote(tmp_path):
    path = tmp_path / "out.bin"
    atomic_write(path, lambda f: f.write(b"hello \x00 world"))
    assert path.read_bytes() == b"hello \x00 world"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_result_content_text_encoded_as_utf8(tmp_path):
    path = tmp_path / "report.html"
    atomic_write(str(path), lambda f: f.write("Ünïcødé 缺\n".encode("utf-8")))
    assert path.read_text(encoding="utf-8") == "Ünïcødé 缺\n"


def test_write_gets_a_named_hidden_temp_file_beside_the_destination(tmp_path):
    seen = {}

    def write(f):
        seen["name"], seen["mode"] = f.name, f.mode
        Path(f.name).write_bytes(b"written by name")  # as safetensors' save_file(tensors, f.name) does

    atomic_write(tmp_path / "w.safetensors", write)
    tmp = Path(seen["name"])
    assert seen["mode"] == "rb+" and tmp.parent == tmp_path
    assert tmp.name.startswith(f".w.safetensors{TEMP_MARKER}") and is_temp_file(tmp)
    assert (tmp_path / "w.safetensors").read_bytes() == b"written by name" and not tmp.exists()


def test_permissions_follow_the_umask(tmp_path, umask):
    umask(0o022)
    atomic_write(tmp_path / "a", lambda f: f.write(b"x"))
    assert (tmp_path / "a").stat().st_mode & 0o777 == 0o644  # an ordinary file, not mkstemp's 0600
    umask(0o007)
    atomic_write(tmp_path / "b", lambda f: f.write(b"x"))
    assert (tmp_path / "b").stat().st_mode & 0o777 == 0o660


@pytest.mark.parametrize("existing", [True, False], ids=["destination_exists", "no_destination"])
@pytest.mark.parametrize("error", [RuntimeError, OSError, KeyboardInterrupt, SystemExit])
def test_no_temp_file_left_after_exception_in_write(tmp_path, error, existing):
    path = tmp_path / "keep.dat"
    if existing:
        path.write_bytes(b"old contents")

    def broken(f):
        f.write(b"partial data")
        raise error("disk on fire")

    with pytest.raises(error, match="disk on fire"):
        atomic_write(path, broken)
    assert sorted(p.name for p in tmp_path.iterdir()) == (["keep.dat"] if existing else [])
    if existing:
        assert path.read_bytes() == b"old contents"


def test_no_temp_file_left_when_the_rename_fails(tmp_path):
    (tmp_path / "adir").mkdir()
    (tmp_path / "adir" / "inside").write_bytes(b"x")
    with pytest.raises(OSError):  # os.replace of a file over a non-empty folder
        atomic_write(tmp_path / "adir", lambda f: f.write(b"data"))
    assert [p.name for p in tmp_path.iterdir()] == ["adir"]


def test_existing_destination_is_replaced_whole(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(b"a much longer old file, every byte of which must go\n" * 100)
    old = tmp_path / "old-link"
    os.link(path, old)  # a hard link keeps the old inode: the new file is a new inode, renamed in
    atomic_write(path, lambda f: f.write(b"short\n"))
    assert path.read_bytes() == b"short\n"
    assert old.read_bytes().startswith(b"a much longer old file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.jsonl", "old-link"]


def test_missing_folder_needs_parents(tmp_path):
    path = tmp_path / "a" / "b" / "out.bin"
    with pytest.raises(FileNotFoundError):
        atomic_write(path, lambda f: f.write(b"x"))
    assert not (tmp_path / "a").exists()
    atomic_write(path, lambda f: f.write(b"x"), parents=True)
    assert path.read_bytes() == b"x"


def test_taken_temp_name_is_skipped_not_clobbered(tmp_path, monkeypatch):
    leftover = tmp_path / f".out.bin{TEMP_MARKER}aaaaaaaa"
    leftover.write_bytes(b"another writer's data")
    tokens = iter(["aaaaaaaa", "bbbbbbbb"])
    monkeypatch.setattr(files.secrets, "token_hex", lambda n: next(tokens))
    atomic_write(tmp_path / "out.bin", lambda f: f.write(b"new"))
    assert (tmp_path / "out.bin").read_bytes() == b"new"
    assert leftover.read_bytes() == b"another writer's data"
