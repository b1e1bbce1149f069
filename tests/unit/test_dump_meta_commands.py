"""A plain dump may carry only the psql commands pg_dump writes: ``\\!`` would run a shell on restore."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from neurmatic.ops.flows.backups.errors import BackupInvalid
from neurmatic.ops.flows.backups.files import DUMP_TRAILER, check_gzip_dump

HEAD = b"\\restrict abc123\nSET statement_timeout = 0;\n"
COPY = b"COPY public.t (a, b) FROM stdin;\n\\N\tfirst column null\n\\\\x\tbackslash data\n\\.\n"
TAIL = b"\\unrestrict abc123\n" + DUMP_TRAILER + b"\n"


def _dump(tmp_path: Path, body: bytes) -> Path:
    path = tmp_path / "neurmatic_20261126_000000.sql.gz"
    path.write_bytes(gzip.compress(body))
    return path


def test_what_pg_dump_writes_passes_copy_data_included(tmp_path: Path) -> None:
    check_gzip_dump(_dump(tmp_path, HEAD + COPY + TAIL))


@pytest.mark.parametrize("command", [b"\\! id > /tmp/owned", b"\\copy t to program 'sh'", b"\\o |sh"])
def test_a_shell_escape_outside_copy_data_is_refused(tmp_path: Path, command: bytes) -> None:
    with pytest.raises(BackupInvalid, match="never writes"):
        check_gzip_dump(_dump(tmp_path, HEAD + command + b"\n" + COPY + TAIL))


def test_a_line_split_across_reads_is_still_seen(tmp_path: Path) -> None:
    filler = b"-- " + b"x" * (1024 * 1024) + b"\n"  # past the first read, so the command spans two
    with pytest.raises(BackupInvalid):
        check_gzip_dump(_dump(tmp_path, HEAD + filler + b"\\! id\n" + TAIL))
