"""The archive writer and its read-back checks, on real ZIP files."""

from __future__ import annotations

import os
import shutil
import subprocess
import zipfile

import pytest

from src.services.archive import ArchiveWriter, DeflatedFile, check_members


def write_archive(tmp_path, level=1):
    """Write an archive with a streamed, a file and a pre-compressed member."""
    payload = os.urandom(300_000) + b"compressible " * 100_000
    source = tmp_path / "source.bin"
    source.write_bytes(payload)
    deflated = DeflatedFile(tmp_path / "pre.part", level)
    for start in range(0, len(payload), 65536):
        deflated.write(payload[start : start + 65536])
    deflated.finish()
    writer = ArchiveWriter(tmp_path / "a.zip", level)
    with writer.stream("database/streamed.txt", "sql") as out:
        out.write(b"INSERT INTO t VALUES(1);\n" * 50_000)
    writer.add_file("database/copied.bin", source, "database")
    writer.add_deflated("database/pre.bin", "json", deflated)
    return writer, payload


@pytest.mark.parametrize("level", [0, 1, 3, 6])
def test_every_kind_of_member_reads_back_with_zipfile_and_unzip(tmp_path, level):
    writer, payload = write_archive(tmp_path, level)
    metadata = {"members": [m.to_json() for m in writer.members]}
    writer.add_metadata(metadata)
    writer.close()
    assert check_members(writer.path, metadata) == []
    with zipfile.ZipFile(writer.path) as archive:
        assert archive.read("database/pre.bin") == payload
        assert archive.read("database/copied.bin") == payload
    if shutil.which("unzip"):
        done = subprocess.run(["unzip", "-tq", str(writer.path)], capture_output=True, check=False)
        assert done.returncode == 0, done.stdout


def test_read_back_finds_damaged_data_and_lists_every_damaged_member(tmp_path):
    writer, _payload = write_archive(tmp_path)
    metadata = {"members": [m.to_json() for m in writer.members]}
    writer.add_metadata(metadata)
    writer.close()
    with zipfile.ZipFile(writer.path) as archive:
        offset = archive.getinfo("database/copied.bin").header_offset
    with writer.path.open("r+b") as raw:  # damage one member's data on disk
        raw.seek(offset + 200)
        raw.write(b"\xff" * 64)
    problems = check_members(writer.path, metadata)
    assert problems and all(p.startswith("database/copied.bin") for p in problems)


def test_a_member_missing_from_metadata_or_archive_is_reported(tmp_path):
    writer, _payload = write_archive(tmp_path)
    metadata = {"members": [m.to_json() for m in writer.members]}
    writer.add_metadata(metadata)
    writer.close()
    listed = {"members": [*metadata["members"][1:], {"path": "ghost", "size": 1, "sha256": ""}]}
    problems = check_members(writer.path, listed)
    assert any("ghost: listed in metadata.json but not in the archive" in p for p in problems)
    assert any("database/streamed.txt: in the archive but not listed" in p for p in problems)


def test_a_failing_compressor_thread_reaches_the_writer(tmp_path):
    deflated = DeflatedFile(tmp_path / "x.part", 1)
    deflated._out.close()  # the next write to the file fails inside the worker
    try:
        with pytest.raises(ValueError, match="closed file"):
            for _ in range(100):
                deflated.write(b"x" * 1000)
            deflated.finish()
    finally:
        deflated.close()
    assert not deflated._worker.is_alive()
