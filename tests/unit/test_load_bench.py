"""The load bench's reading of Locust's CSV files and of nginx's and the API's logs (bench/load)."""

from __future__ import annotations

from pathlib import Path

from bench.load.edge import ServerLogs
from bench.load.prepare import accounts_needed
from bench.load.results import Results, error_kind

STATS_HEADER = (
    "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,"
    "Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,"
    "99.99%,100%\n"
)


def test_error_kinds_drop_what_varies() -> None:
    assert error_kind("CatchResponseError('HTTP 502')") == "HTTP 502"
    assert error_kind("ConnectionResetError(104, 'Connection reset by peer')") == "ConnectionResetError"
    assert error_kind("geventhttpclient.useragent.RetriesExceeded('URL https://x/1')") == "RetriesExceeded"


def test_results_read_totals_actions_and_errors(tmp_path: Path) -> None:
    (tmp_path / "run_stats.csv").write_text(
        STATS_HEADER
        + "GET,article page,90,2,20,30,5,900,500,9.0,0.2,20,25,30,35,60,120,300,700,900,900,900\n"
        + "POST,sign in,10,1,300,310,250,5000,400,1.0,0.1,300,300,300,300,400,5000,5000,5000,5000,5000,5000\n"
        + ",Aggregated,100,3,25,40,5,5000,490,10.0,0.3,25,30,35,40,70,150,400,900,5000,5000,5000\n"
    )
    (tmp_path / "run_failures.csv").write_text(
        "Method,Name,Error,Occurrences\n"
        "GET,article page,CatchResponseError('HTTP 502'),2\n"
        "POST,sign in,CatchResponseError('HTTP 502'),1\n"
    )
    results = Results.read(tmp_path / "run")
    assert (results.total.requests, results.total.failures, results.total.p95) == (100, 3, 150.0)
    assert results.error_percent == 3.0
    assert [row.name for row in results.actions] == ["article page", "sign in"]
    assert results.errors == {"HTTP 502": 3}
    assert results.errors_by_action["HTTP 502"] == {"article page": 2, "sign in": 1}
    assert any("HTTP 502" in line for line in results.lines())


def test_server_logs_count_only_the_lines_written_during_the_run(tmp_path: Path) -> None:
    nginx, logs = tmp_path / "nginx" / "logs", tmp_path / "logs"
    nginx.mkdir(parents=True)
    logs.mkdir()
    line = (
        '{addr} - - [26/Nov/2026:12:00:00 +0000] "GET /api/v1/articles HTTP/1.1" {status} 12 "-" "ua" '
        "id=1 rt={rt} uct=0.000 uht={rt} urt={urt} upstream=127.0.0.1:1 cache=-\n"
    )
    (nginx / "access.log").write_text(line.format(addr="127.0.0.1", status=200, rt="0.010", urt="0.010"))
    (nginx / "error.log").write_text("")
    (logs / "backend-1.log").write_text("")
    tails = ServerLogs.start(tmp_path)
    with open(nginx / "access.log", "a") as access:
        access.write(line.format(addr="127.20.0.1", status=200, rt="0.020", urt="0.019"))
        access.write(line.format(addr="127.20.0.2", status=502, rt="0.001", urt="-"))
    (nginx / "error.log").write_text(
        "2026/11/26 12:00:01 [error] 12#12: *345 no live upstreams while connecting to upstream, "
        'client: 127.20.0.2, server: localhost, request: "GET /api/v1/articles HTTP/1.1"\n'
    )
    (logs / "backend-1.log").write_text(
        '{"level": "info", "logger": "neurmatic.access", "message": "request"}\n'
        '{"level": "error", "logger": "neurmatic.api", "message": "pool timeout after 30 s"}\n'
    )
    report = tails.report()
    assert report.addresses == {"127.20.0.1", "127.20.0.2"}
    assert report.statuses == {200: 1, 502: 1}
    assert report.upstream_times == [0.019]
    assert report.errors == {
        "nginx [error] no live upstreams": 1,
        "api [error] neurmatic.api: pool timeout after N s": 1,
    }


def test_enough_accounts_for_every_member() -> None:
    assert accounts_needed(1000, 5, 1) >= 50
    assert accounts_needed(10, 50, 2) >= 5 + 2
