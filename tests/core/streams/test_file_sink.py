"""core.streams.file_sink: JSON lines, mode 0600, rotated by size keeping N old files, and a
batch that fails half-way leaves no half line behind."""

from __future__ import annotations

import os
import resource
import signal
import stat
from pathlib import Path

import pytest

from stacksafe.core.installation import Installation
from stacksafe.core.streams.file_sink import FileSink
from stacksafe.core.streams.lines import installation_verifier
from stacksafe.core.streams.sink import SinkUnavailable
from stacksafe.core.streams.verify import verify_stream
from tests.core.streams.helpers import appended, stream_lines


def test_batches_are_lines_in_a_private_file(installation: Installation, tmp_path: Path) -> None:
    appended(installation, 4)
    lines = stream_lines(installation)
    path = tmp_path / "audit.jsonl"
    sink = FileSink(path, max_bytes=1 << 20, keep=2)
    sink.deliver(lines[:2])
    sink.deliver(lines[2:])
    sink.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes() == b"".join(line + b"\n" for line in lines)
    assert verify_stream([path], installation_verifier(installation)).clean


def test_rotated_by_size_keeping_n_files_that_verify_together(
    installation: Installation, tmp_path: Path
) -> None:
    appended(installation, 12)
    lines = stream_lines(installation)
    (tmp_path / "out").mkdir()
    path = tmp_path / "out" / "audit.jsonl"
    size = max(len(line) for line in lines) + 1
    sink = FileSink(path, max_bytes=2 * size, keep=3)
    for start in range(0, len(lines), 2):  # two lines a batch: each batch fills a file
        sink.deliver(lines[start : start + 2])
    sink.close()
    files = sorted(path.parent.iterdir())
    assert [f.name for f in files] == [
        "audit.jsonl",
        "audit.jsonl.1",
        "audit.jsonl.2",
        "audit.jsonl.3",
    ]
    assert path.read_bytes() == lines[-2] + b"\n" + lines[-1] + b"\n"
    report = verify_stream(files, installation_verifier(installation))
    # The oldest were dropped (keep=3): the files hold the newest 8, intact.
    assert report.problems == []
    assert (report.first, report.newest) == (len(lines) - 7, len(lines))


def test_keep_zero_starts_afresh(installation: Installation, tmp_path: Path) -> None:
    appended(installation, 2)
    lines = stream_lines(installation)
    (tmp_path / "out").mkdir()
    path = tmp_path / "out" / "audit.jsonl"
    sink = FileSink(path, max_bytes=len(lines[0]) + 1, keep=0)
    sink.deliver(lines[:1])
    sink.deliver(lines[1:2])
    sink.close()
    assert [f.name for f in path.parent.iterdir()] == ["audit.jsonl"]
    assert path.read_bytes() == lines[1] + b"\n"


def test_a_missing_directory_is_unavailable_until_it_exists(
    installation: Installation, tmp_path: Path
) -> None:
    appended(installation, 1)
    lines = stream_lines(installation)
    path = tmp_path / "later" / "audit.jsonl"
    sink = FileSink(path)
    with pytest.raises(SinkUnavailable, match=f"writing {path}: No such file or directory"):
        sink.deliver(lines)
    path.parent.mkdir()
    sink.deliver(lines)
    sink.close()
    assert path.read_bytes() == lines[0] + b"\n"


def test_a_batch_cut_short_by_a_full_file_leaves_no_half_line(
    installation: Installation, tmp_path: Path
) -> None:
    appended(installation, 3)
    lines = stream_lines(installation)
    path = tmp_path / "audit.jsonl"
    sink = FileSink(path)
    sink.deliver(lines[:1])
    before = path.read_bytes()
    # A real short write: the file size limit lets half the batch in, then EFBIG.
    limits = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (len(before) + len(lines[1]) // 2, limits[1]))
    try:
        with pytest.raises(SinkUnavailable, match="File too large"):
            sink.deliver(lines[1:])
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)
        signal.signal(signal.SIGXFSZ, handler)
    assert path.read_bytes() == before  # cut back to where the batch began
    sink.deliver(lines[1:])  # sent again, whole
    sink.close()
    assert path.read_bytes() == b"".join(line + b"\n" for line in lines)


def test_a_symlink_at_the_path_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    target = tmp_path / "victim.conf"
    target.write_text("important=1\n")
    target.chmod(0o644)
    link = tmp_path / "audit.jsonl"
    link.symlink_to(target)
    with pytest.raises(SinkUnavailable, match="symbolic link"):
        FileSink(link).deliver([b'{"seq":1}'])
    assert target.read_text() == "important=1\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_a_path_that_is_not_a_regular_file_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "audit.fifo"
    os.mkfifo(fifo)
    with pytest.raises(SinkUnavailable, match=str(fifo)):  # at once: no reader to wait for
        FileSink(fifo).deliver([b'{"seq":1}'])
    directory = tmp_path / "dir"
    directory.mkdir()
    with pytest.raises(SinkUnavailable):
        FileSink(directory).deliver([b'{"seq":1}'])
