"""A failed PostgreSQL start is explained by what the server logged since that start, in full."""

from __future__ import annotations

from pathlib import Path

from neurmatic.adapters.pg_log import ServerLog, explain, start_failure

EARLIER_RUN = "2026-11-26 09:00:00.000 UTC [100] FATAL:  an old complaint from a previous start\n"
THIS_START = """\
2026-11-26 09:14:45.890 UTC [8460] LOG:  database system was shut down at 2026-11-26 09:14:45 UTC
2026-11-26 09:14:45.890 UTC [8460] LOG:  entering standby mode
2026-11-26 09:14:45.894 UTC [8461] LOG:  started streaming WAL from primary at 0/3000000 on timeline 1
2026-11-26 09:14:45.895 UTC [8461] DETAIL:  End of WAL reached on timeline 1 at 0/3027B18.
2026-11-26 09:14:45.895 UTC [8460] LOG:  new timeline 2 forked off current database system timeline 1 \
before current recovery point 0/3027C08
2026-11-26 09:14:50.898 UTC [8461] DETAIL:  End of WAL reached on timeline 1 at 0/3027B18.
2026-11-26 09:14:50.898 UTC [8460] LOG:  new timeline 2 forked off current database system timeline 1 \
before current recovery point 0/3027C08
"""


def test_the_reason_is_what_this_start_logged_each_line_once(tmp_path: Path) -> None:
    path = tmp_path / "postgres-1.log"
    path.write_text(EARLIER_RUN)
    log = ServerLog(path)
    offset = log.offset()
    with path.open("a") as handle:
        handle.write(THIS_START)
    message = start_failure(
        "postgres-1 did not start streaming from postgres-2 within 30s", log.lines_since(offset)
    )
    assert message.splitlines() == [
        "postgres-1 did not start streaming from postgres-2 within 30s; PostgreSQL logged:",
        "  DETAIL:  End of WAL reached on timeline 1 at 0/3027B18.",
        "  LOG:  new timeline 2 forked off current database system timeline 1 before current recovery "
        "point 0/3027C08",
    ]
    assert "old complaint" not in message


def test_a_start_that_died_shows_the_server_s_last_words_not_an_empty_headline() -> None:
    tail = [
        "2026-11-26 09:14:45.890 UTC [9] LOG:  starting PostgreSQL 15.20",
        '2026-11-26 09:14:45.891 UTC [9] FATAL:  could not open file "global/pg_control": No such file',
        "2026-11-26 09:14:45.892 UTC [9] LOG:  database system is shut down",
    ]
    message = start_failure("postgres-2 exited during start-up:\n<the last 20 lines>", tail)
    assert message.startswith("postgres-2 exited during start-up; PostgreSQL logged:\n")
    assert 'FATAL:  could not open file "global/pg_control": No such file' in message


def test_without_explaining_lines_the_last_ones_stand_and_without_any_the_message_does() -> None:
    assert explain(["2026-11-26 09:14:45.890 UTC [9] LOG:  redo starts at 0/2000028"]) == (
        "LOG:  redo starts at 0/2000028"
    )
    assert start_failure("postgres-2 exited during start-up:\nwhole", []) == (
        "postgres-2 exited during start-up:\nwhole"
    )
