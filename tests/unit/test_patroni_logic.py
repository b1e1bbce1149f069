"""What the Patroni integration decides without servers: reading ``GET /cluster``, choosing the failover
candidate, the rendered configuration's promises, and the bounded wait the procedures share."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import yaml

from neurmatic.adapters.patroni import Cluster, PatroniApi, describe_member
from neurmatic.adapters.pg_target import PgTarget
from neurmatic.deployment.failover import FailoverFailed, wait_until
from neurmatic.deployment.patroni import PatroniFailover, _failover_candidate
from neurmatic.errors import ConfigurationError
from neurmatic.render.patroni import PatroniNodeConfig, pg_hba_lines, render_patroni
from neurmatic.render.postgres import PRODUCTION_SETTINGS


def _member(name: str, role: str, state: str, lag: Any = 0) -> dict[str, Any]:
    return {
        "name": name,
        "role": role,
        "state": state,
        "host": "127.0.0.1",
        "port": 5432,
        "api_url": f"http://127.0.0.1:8008/patroni#{name}",
        "timeline": 3,
        "lag": lag,
    }


def test_the_cluster_reads_the_leader_and_lag_as_patroni_reports_them() -> None:
    cluster = Cluster.from_json(
        {
            "members": [
                _member("pg-1", "leader", "running"),
                _member("pg-2", "sync_standby", "streaming", "unknown"),
            ]
        }
    )
    assert cluster.leader is not None and cluster.leader.name == "pg-1"
    assert not cluster.paused
    standby = cluster.member("pg-2")
    assert standby is not None and standby.lag_bytes is None  # "unknown" is not a number
    assert describe_member(standby) == "pg-2 sync_standby streaming timeline 3 lag unknown"
    stopped_leader = Cluster.from_json({"members": [_member("pg-1", "leader", "stopped")], "pause": True})
    assert stopped_leader.leader is None and stopped_leader.paused  # a leader that does not run leads nothing


def test_failover_prefers_the_synchronous_standby_and_refuses_when_none_serves() -> None:
    cluster = Cluster.from_json(
        {
            "members": [
                _member("pg-1", "leader", "running"),
                _member("pg-2", "replica", "streaming"),
                _member("pg-3", "sync_standby", "streaming"),
            ]
        }
    )
    assert _failover_candidate(cluster).name == "pg-3"
    broken = Cluster.from_json(
        {"members": [_member("pg-1", "leader", "running"), _member("pg-2", "replica", "starting")]}
    )
    with pytest.raises(FailoverFailed, match=r"no standby that Patroni could promote.*pg-2 replica starting"):
        _failover_candidate(broken)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "not a url", "http://[::1", "http://"])
def test_a_patroni_address_must_be_an_http_url_with_a_host(url: str) -> None:
    with pytest.raises(ConfigurationError, match="http"):
        PatroniApi(url)


def test_the_rendered_configuration_keeps_patronis_timing_rule_and_no_password() -> None:
    node = PatroniNodeConfig(
        name="postgres-1",
        restapi_listen="127.0.0.1:8008",
        restapi_connect="127.0.0.1:8008",
        pg_listen="127.0.0.1:5432",
        pg_connect="127.0.0.1:5432",
        data_dir="/var/lib/postgresql/data",
        pgpass="/tmp/pgpass",
        etcd_hosts=["127.0.0.1:2379", "127.0.0.1:2380", "127.0.0.1:2381"],
    )
    hba = pg_hba_lines(["10.0.0.0/24"], "127.0.0.1/32", "neurmatic_production", "neurmatic")
    text = render_patroni(node, settings=PRODUCTION_SETTINGS, pg_hba=hba)
    config = yaml.safe_load(text)
    dcs = config["bootstrap"]["dcs"]
    # Patroni's own rule: a leader must be able to retry etcd twice and loop once within the key's ttl.
    assert dcs["loop_wait"] + 2 * dcs["retry_timeout"] <= dcs["ttl"] and dcs["ttl"] >= 20
    assert dcs["synchronous_mode"] is True and dcs["postgresql"]["use_pg_rewind"] is True
    assert dcs["postgresql"]["parameters"]["max_connections"] == "200"
    assert "hot_standby" not in dcs["postgresql"]["parameters"]  # Patroni sets it itself
    assert "host replication replicator 10.0.0.0/24 scram-sha-256" in config["postgresql"]["pg_hba"]
    assert config["etcd3"]["hosts"] == node.etcd_hosts and config["name"] == "postgres-1"
    assert "password" not in _keys(config)  # Patroni reads them from its environment


def _keys(node: object) -> set[str]:
    if isinstance(node, dict):
        return {str(k) for k in node} | {key for value in node.values() for key in _keys(value)}
    if isinstance(node, list):
        return {key for item in node for key in _keys(item)}
    return set()


def test_waiting_gives_up_with_the_last_error() -> None:
    def never() -> bool:
        raise ConnectionError("connection refused")

    with pytest.raises(FailoverFailed, match=r"within 0.2s \(last error: connection refused\)"):
        wait_until(never, timeout=0.2, failure="postgres-2 did not answer")
    assert wait_until(lambda: True, timeout=1, failure="unused") < 1


class PatroniRestServer:
    """A small HTTP server answering what Patroni's REST API answers to the requests we make (GET
    /cluster, POST /reinitialize), and remembering every request with its Authorization header."""

    def __init__(self, cluster: dict[str, Any]) -> None:
        self.cluster = cluster
        self.requests: list[tuple[str, str, str | None]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests.append(("GET", self.path, self.headers.get("Authorization")))
                self._reply(200, json.dumps(outer.cluster))

            def do_POST(self) -> None:
                outer.requests.append(("POST", self.path, self.headers.get("Authorization")))
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                for member in outer.cluster["members"]:  # the reinitialized member streams at once
                    if member["state"] != "running":
                        member["state"] = "streaming"
                self._reply(200, "reinitialize started")

            def _reply(self, status: int, body: str) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _members(ours: PatroniRestServer, stranger: PatroniRestServer) -> list[dict[str, Any]]:
    first = _member("pg-1", "replica", "stopped") | {"api_url": f"{ours.url}/patroni"}
    second = _member("pg-2", "replica", "running", 9832) | {"api_url": f"{ours.url}/patroni"}
    # A member anyone who can write to etcd may add: its REST API is not one we were told about.
    planted = _member("pg-9", "sync_standby", "stopped") | {"api_url": f"{stranger.url}/patroni"}
    return [first, second, planted]


def test_no_leader_and_a_standby_that_is_behind_is_refused_and_no_credential_leaves() -> None:
    ours, stranger = PatroniRestServer({}), PatroniRestServer({"members": []})
    try:
        ours.cluster = {"members": _members(ours, stranger)}
        app = PgTarget((("127.0.0.1", 1),), "app", None, "app")
        failover = PatroniFailover([PatroniApi(ours.url, "s3cret")], app)
        # Patroni itself would promote pg-2 if asked; it may lack what only pg-1 acknowledged.
        with pytest.raises(
            FailoverFailed, match=r"pg-2 is not the synchronous standby.*lag 9832 bytes"
        ) as no:
            failover.failover()
        assert "--force" in str(no.value.hint)
        ours.cluster["members"][1] |= {"role": "leader", "state": "running"}  # pg-2 leads again
        result = failover.rebuild_standby()
        assert (result.node, result.method) == ("pg-1", "patroni reinitialize")
        posts = [r for r in ours.requests if r[0] == "POST"]
        assert [(method, path) for method, path, _ in posts] == [("POST", "/reinitialize")]
        assert all(auth and auth.startswith("Basic ") for _, _, auth in posts)
        assert stranger.requests == []  # the planted member's address never got a request, nor the password
    finally:
        ours.close()
        stranger.close()
