"""The operations kit on a deployment described only by the operators' env file.

PostgreSQL (primary + streaming standby), Redis (master + replica) and three Sentinels are started here
with ``pg_ctl`` and ``redis-server``; ``neurmatic up`` never runs and no state directory exists anywhere.
The env file is the one ``neurmatic secrets generate`` writes, pointed at these servers. Every command
is the real CLI in a subprocess, checked for its documented exit code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from neurmatic.ops.exit_codes import ExitCode
from tests.standalone_servers import APP_ROLE, DATABASE, HOST, StandaloneServers, env_file_deployment
from tests.support import ROOT, make_state_parent, neurmatic

BUCKET = "neurmatic-env-backups"


@dataclass
class Prepared:
    servers: StandaloneServers
    env_file: Path
    backup_dir: Path
    s3: str
    dry_run: subprocess.CompletedProcess[str]
    tables_after_dry_run: int
    migrated: subprocess.CompletedProcess[str]
    migrated_again: subprocess.CompletedProcess[str]

    def run(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return neurmatic(*args, "--env-file", str(self.env_file), check=False, env=env)

    def sql(self, statement: str) -> list[tuple[object, ...]]:
        with psycopg.connect(
            host=HOST,
            port=self.servers.postgres_ports[0],
            user=APP_ROLE,
            password=self.servers.app_password,
            dbname=DATABASE,
            autocommit=True,
        ) as conn:
            cursor = conn.execute(statement)
            return cursor.fetchall() if cursor.description else []

    def articles(self) -> int:
        return int(str(self.sql("SELECT count(*) FROM articles")[0][0]))


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prepared]:
    parent = make_state_parent(tmp_path_factory, "envfile")
    backup_dir = parent / "backups"
    with env_file_deployment(parent, BUCKET, {"BACKUP_DIR": str(backup_dir)}) as deployment:
        servers, env_file = deployment.servers, deployment.env_file
        command = ("--env-file", str(env_file))
        dry_run = neurmatic("migrate", "--dry-run", *command, check=False)
        tables = _public_tables(servers)
        migrated = neurmatic("migrate", *command, check=False)
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        again = neurmatic("migrate", *command, check=False)
        s3 = deployment.s3_endpoint
        run = Prepared(servers, env_file, backup_dir, s3, dry_run, tables, migrated, again)
        seeded = run.run("seed", "--articles", "60", "--users", "6")
        assert seeded.returncode == 0, seeded.stdout + seeded.stderr
        yield run


def _app_connection(servers: StandaloneServers) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(
        host=HOST,
        port=servers.postgres_ports[0],
        user=APP_ROLE,
        password=servers.app_password,
        dbname=DATABASE,
    )


def _public_tables(servers: StandaloneServers) -> int:
    with _app_connection(servers) as conn:
        return len(conn.execute("SELECT 1 FROM pg_tables WHERE schemaname = 'public'").fetchall())


def _backup(prepared: Prepared) -> dict[str, object]:
    result = prepared.run("backup", "--json")
    assert result.returncode == ExitCode.OK, result.stdout + result.stderr
    return dict(json.loads(result.stdout))


def test_migrate_prints_the_sql_on_a_dry_run_and_then_reaches_head(prepared: Prepared) -> None:
    assert prepared.dry_run.returncode == ExitCode.OK, prepared.dry_run.stderr
    assert "CREATE TABLE users" in prepared.dry_run.stdout
    assert prepared.tables_after_dry_run == 0  # printed, not run
    assert prepared.migrated.returncode == ExitCode.OK, prepared.migrated.stderr
    assert "migrated (empty) →" in prepared.migrated.stderr
    assert prepared.migrated_again.returncode == ExitCode.OK
    assert "already at head" in prepared.migrated_again.stderr


def test_seed_leaves_the_seeded_tables_vacuumed_and_analyzed(prepared: Prepared) -> None:
    # As after any bulk load: the first benchmark after a seed no longer runs beside autovacuum.
    with _app_connection(prepared.servers) as conn:
        settled = conn.execute(
            "SELECT relname FROM pg_stat_user_tables"
            " WHERE last_vacuum IS NOT NULL AND last_analyze IS NOT NULL"
        ).fetchall()
    assert {"users", "articles", "article_tags", "article_counts"} <= {name for (name,) in settled}


def test_health_checks_every_server_the_env_file_names(prepared: Prepared) -> None:
    result = prepared.run("health", "--json")
    report = json.loads(result.stdout)
    checks = {check["name"]: check for check in report["checks"]}
    assert checks["postgres-1"]["status"] == "up" and "primary" in checks["postgres-1"]["detail"], checks
    assert checks["postgres-2"]["status"] == "up" and "standby" in checks["postgres-2"]["detail"], checks
    roles = sorted(checks[name]["detail"].split(",")[0] for name in ("redis-1", "redis-2"))
    assert roles == ["master", "replica"], checks
    assert checks["sentinels"]["status"] == "up" and "3/3" in checks["sentinels"]["detail"], checks
    # No load balancer and no worker run here: said so, and the verdict is unhealthy (exit 9).
    assert checks["api (load balancer)"]["status"] == "down", checks
    assert report["status"] == "unhealthy" and result.returncode == ExitCode.UNHEALTHY
    human = prepared.run("health", "--verbose")
    assert "✓ postgres-2" in human.stdout and "overall: unhealthy" in human.stdout


def test_backup_goes_to_the_backup_dir_and_s3_then_lists_and_verifies(prepared: Prepared) -> None:
    made = _backup(prepared)
    path = Path(str(made["path"]))
    assert path.parent == prepared.backup_dir and path.name.startswith("neurmatic_"), made
    assert str(made["s3"]).startswith(f"s3://{BUCKET}/database/"), made
    listed = json.loads(prepared.run("backup", "list", "--json").stdout)
    assert str(path) in [row["path"] for row in listed["local"]]
    assert any(path.name in item["key"] for item in listed["s3"]), listed
    verified = prepared.run("backup", "verify", str(path))
    assert verified.returncode == ExitCode.OK, verified.stderr
    assert "row counts and checksums match" in verified.stderr


def test_restore_table_and_restore_bring_the_rows_back(prepared: Prepared) -> None:
    backup = str(_backup(prepared)["path"])
    before = prepared.articles()
    prepared.sql("DELETE FROM articles WHERE id IN (SELECT id FROM articles ORDER BY id LIMIT 10)")
    assert prepared.articles() == before - 10
    recovered = prepared.run("restore-table", backup, "--table", "articles", "--json")
    assert recovered.returncode == ExitCode.OK, recovered.stdout + recovered.stderr
    assert prepared.articles() == before
    prepared.sql("DELETE FROM articles WHERE id IN (SELECT id FROM articles ORDER BY id LIMIT 5)")
    refused = prepared.run("restore", backup)  # a non-empty target needs --yes (no terminal to ask)
    assert refused.returncode == ExitCode.ABORTED, refused.stderr
    restored = prepared.run("restore", backup, "--yes")
    assert restored.returncode == ExitCode.OK, restored.stdout + restored.stderr
    assert prepared.articles() == before


def test_backup_sh_runs_from_cron_with_only_the_env_file(prepared: Prepared, tmp_path: Path) -> None:
    before = set(prepared.backup_dir.glob("neurmatic_*"))
    cron_env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "NEURMATIC_ENV_FILE": str(prepared.env_file)}
    result = subprocess.run(
        [str(ROOT / "infrastructure" / "scripts" / "backup.sh")],
        cwd=tmp_path,  # no ./.neurmatic here, no state directory anywhere
        env=cron_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == ExitCode.OK, result.stdout + result.stderr
    assert set(prepared.backup_dir.glob("neurmatic_*")) - before
    health = subprocess.run(
        [str(ROOT / "infrastructure" / "scripts" / "health-check.sh"), "--verbose"],
        cwd=tmp_path,
        env=cron_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert health.returncode == ExitCode.UNHEALTHY and "postgres-1" in health.stdout, health.stderr


def test_users_create_admin_on_the_env_files_database(prepared: Prepared) -> None:
    created = neurmatic(
        "users", "create-admin", "--email", "ops@example.com", "--username", "ops_admin",
        "--password-stdin", "--env-file", str(prepared.env_file),
        stdin="Correct-Horse-Battery-9\n", check=False,
    )  # fmt: skip
    assert created.returncode == ExitCode.OK, created.stderr
    assert prepared.sql("SELECT role FROM users WHERE email = 'ops@example.com'") == [("admin",)]


def test_redis_failover_through_the_sentinels_of_the_env_file(prepared: Prepared) -> None:
    old = prepared.servers.redis_master()
    result = prepared.run("failover", "redis", "--json", "--timeout", "60")
    assert result.returncode == ExitCode.OK, result.stdout + result.stderr
    new = prepared.servers.redis_master()
    assert new != old and new[1] in prepared.servers.redis_ports
    assert json.loads(result.stdout)["old_master_now"] == "replica"


@pytest.mark.parametrize(
    "command",
    [
        ("deploy", "v2"),
        ("drill", "db-failure", "--yes"),
        ("scale", "api", "3"),
    ],
)
def test_what_needs_process_control_is_refused_with_exit_3(
    prepared: Prepared, command: tuple[str, ...]
) -> None:
    result = prepared.run(*command)
    assert result.returncode == ExitCode.CONFIGURATION, result.stdout + result.stderr
    assert "control of the servers' processes" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [("standby", "rebuild"), ("failover", "db", "--yes")])
def test_database_failover_asks_the_patroni_apis_the_env_file_names(
    prepared: Prepared, command: tuple[str, ...], tmp_path: Path
) -> None:
    # As generated, the file names the compose stack's Patroni APIs, which these servers do not run.
    unreachable = prepared.run(*command)
    assert unreachable.returncode == ExitCode.FAILOVER_FAILED, unreachable.stdout + unreachable.stderr
    assert "no Patroni answers" in unreachable.stderr and "http://postgres-1:8008" in unreachable.stderr
    assert "Traceback" not in unreachable.stderr
    # Without NEURMATIC_PATRONI_URLS there is no HA engine to ask: a configuration error saying what to set.
    unnamed = tmp_path / ".env.production"
    lines = prepared.env_file.read_text().splitlines()
    unnamed.write_text(
        "".join(f"{line}\n" for line in lines if not line.startswith("NEURMATIC_PATRONI_URLS="))
    )
    result = neurmatic(*command, "--env-file", str(unnamed), check=False)
    assert result.returncode == ExitCode.CONFIGURATION, result.stdout + result.stderr
    assert "names no Patroni REST API" in result.stderr and "NEURMATIC_PATRONI_URLS" in result.stderr


def test_no_deployment_anywhere_says_how_to_name_one(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEURMATIC_", "DATABASE_"))}
    result = subprocess.run(
        [sys.executable, "-m", "neurmatic", "health"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == ExitCode.STATE_DIR, result.stderr
    assert "--env-file" in result.stderr and "Traceback" not in result.stderr
