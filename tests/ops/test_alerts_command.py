"""``neurmatic alerts``: firing alerts and silences, through a real Alertmanager.

The Alertmanager listens where the local topology's does (``Ports.alertmanager`` of a state directory's
base port), so the command finds it from ``--state-dir`` as an operator's would; the env-file deployment
names it with ``NEURMATIC_ALERTMANAGER_URL``. Every command is the real CLI in a subprocess.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from neurmatic.ops.exit_codes import ExitCode
from neurmatic.supervisor.state import TopologyState
from tests.mailbox import free_port
from tests.monitoring_servers import post_alerts, running_alertmanager
from tests.support import neurmatic, never_started_state

# Inhibition as the production config does it: an instance down mutes its own latency alert.
CONFIG = """\
route:
  receiver: nobody
  group_by: [alertname, instance]
receivers:
  - name: nobody
inhibit_rules:
  - source_matchers: [alertname="TargetDown"]
    target_matchers: [alertname="ApiLatencyP95High"]
    equal: [instance]
"""
DOWN = {"alertname": "TargetDown", "instance": "api-1", "job": "api", "severity": "critical"}
SLOW = {"alertname": "ApiLatencyP95High", "instance": "api-1", "severity": "warning"}
DISK = {"alertname": "HostDiskHigh", "instance": "db-1", "severity": "warning"}


@dataclass(frozen=True)
class Local:
    state_dir: Path
    url: str

    def run(self, *args: str, by_url: bool = False) -> Any:
        """``neurmatic alerts ARGS`` on the state directory's Alertmanager, or (``by_url``: quicker,
        no deployment to load) at its URL."""
        where = ["--alertmanager-url", self.url] if by_url else ["--state-dir", str(self.state_dir)]
        return neurmatic("alerts", *args, *where, check=False, timeout=60)

    def alerts(self, *, by_url: bool = False) -> dict[str, dict[str, Any]]:
        listed = self.run("list", "--json", by_url=by_url)
        assert listed.returncode == ExitCode.OK, listed.stderr
        return {a["name"]: a for a in json.loads(listed.stdout)}


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Local]:
    state_dir = never_started_state(tmp_path_factory, "alerts")
    workdir = tmp_path_factory.mktemp("alertmanager")
    (workdir / "alertmanager.yml").write_text(CONFIG)
    port = TopologyState.load(state_dir).ports.alertmanager
    with running_alertmanager(workdir / "alertmanager.yml", workdir, port) as url:
        post_alerts(url, DOWN, summary="api-1 is down")
        post_alerts(url, SLOW, DISK, summary="disk 91 % full")
        yield Local(state_dir, url)


def test_the_listing_shows_each_alert_with_its_state(local: Local) -> None:
    listed = local.run()  # `alerts` alone lists
    assert listed.returncode == ExitCode.OK, listed.stderr
    lines = {line.split()[0]: line for line in listed.stdout.splitlines() if line.strip()}
    assert "critical" in lines["TargetDown"] and "firing" in lines["TargetDown"]
    assert "api-1 is down" in lines["TargetDown"]
    assert "inhibited" in lines["ApiLatencyP95High"]
    assert "2 firing, 1 silenced or inhibited" in listed.stdout


def test_the_json_listing(local: Local) -> None:
    alerts = local.alerts()
    down = alerts["TargetDown"]
    assert (down["severity"], down["instance"], down["state"]) == ("critical", "api-1", "firing")
    assert down["summary"] == "api-1 is down" and down["labels"]["job"] == "api"
    since = datetime.fromisoformat(down["since"])
    assert datetime.now(UTC) - since < timedelta(minutes=5)
    assert alerts["ApiLatencyP95High"]["state"] == "inhibited"
    assert alerts["ApiLatencyP95High"]["inhibited_by"]
    assert alerts["HostDiskHigh"]["state"] == "firing"


def test_a_silence_mutes_its_alerts_until_expired(local: Local) -> None:
    created = local.run(
        "silence",
        "HostDiskHigh",
        'instance=~"db-.*"',
        "--for",
        "1h30m",
        "--comment",
        "disk replacement",
        "--author",
        "ops@example.com",
        by_url=True,
    )
    assert created.returncode == ExitCode.OK, created.stderr
    silence_id = created.stdout.strip()
    assert silence_id and "expire " + silence_id in created.stderr
    muted = local.alerts(by_url=True)["HostDiskHigh"]
    assert muted["state"] == "silenced" and muted["silenced_by"] == [silence_id]
    assert local.alerts(by_url=True)["TargetDown"]["state"] == "firing"  # the matchers chose one alert

    kept = {s["id"]: s for s in json.loads(local.run("silences", "--json", by_url=True).stdout)}
    silence = kept[silence_id]
    assert silence["matchers"] == ['alertname="HostDiskHigh"', 'instance=~"db-.*"']
    assert (silence["created_by"], silence["comment"], silence["state"]) == (
        "ops@example.com",
        "disk replacement",
        "active",
    )
    lasts = datetime.fromisoformat(silence["ends_at"]) - datetime.fromisoformat(silence["starts_at"])
    assert abs(lasts - timedelta(minutes=90)) < timedelta(seconds=5)
    table = local.run("silences", by_url=True)
    assert silence_id in table.stdout and "disk replacement" in table.stdout

    expired = local.run("expire", silence_id, by_url=True)
    assert expired.returncode == ExitCode.OK, expired.stderr
    assert local.alerts(by_url=True)["HostDiskHigh"]["state"] == "firing"
    assert silence_id not in json.loads(local.run("silences", "--json", by_url=True).stdout)
    everything = {
        s["id"]: s for s in json.loads(local.run("silences", "--all", "--json", by_url=True).stdout)
    }
    assert everything[silence_id]["state"] == "expired"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (['instance=~"["', "--comment", "x"], "is not valid"),
        (["instance<>db-1", "--comment", "x"], "is not a matcher"),
        (["HostDiskHigh", "--for", "2 hours", "--comment", "x"], "is not a duration"),
        (["HostDiskHigh"], "--comment"),
        (["HostDiskHigh", "--comment", "  "], "say why"),
        (["HostDiskHigh", "--for", "1000h", "--comment", "x"], "at most 30 days"),
    ],
)
def test_bad_arguments_are_usage_errors(local: Local, args: list[str], says: str) -> None:
    result = local.run("silence", *args, by_url=True)
    assert result.returncode == ExitCode.USAGE and says in result.stderr, result.stderr


def test_a_malformed_silence_id_is_refused_before_any_request(local: Local) -> None:
    result = local.run("expire", "../../api/v2/status", by_url=True)
    assert result.returncode == ExitCode.USAGE and "is not a silence id" in result.stderr, result.stderr


def test_text_from_alertmanager_is_shown_as_text_not_markup(local: Local) -> None:
    created = local.run(
        "silence", "NoSuchAlert", "--for", "5m", "--comment", "[/oops] [bold red]x[/]", by_url=True
    )
    assert created.returncode == ExitCode.OK, created.stderr
    listed = local.run("silences", by_url=True)
    assert listed.returncode == ExitCode.OK, listed.stderr
    assert "[/oops] [bold red]x[/]" in listed.stdout
    local.run("expire", created.stdout.strip(), by_url=True)


def test_expiring_an_unknown_silence_says_what_alertmanager_said(local: Local) -> None:
    result = local.run("expire", "00000000-0000-0000-0000-000000000000", by_url=True)
    assert result.returncode == ExitCode.USAGE, result.stderr
    assert "Alertmanager refused DELETE" in result.stderr


def _env_file(path: Path, **extra: str) -> Path:
    lines = ["NODE_ENV=development", "DATABASE_URL=postgresql://app:secret@127.0.0.1:1/neurmatic"]
    path.write_text("\n".join([*lines, *(f"{k}={v}" for k, v in extra.items())]) + "\n")
    return path


def test_an_unreachable_alertmanager_is_named_with_what_to_do(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    env_file = _env_file(tmp_path / ".env.production", NEURMATIC_ALERTMANAGER_URL=url)
    result = neurmatic("alerts", "--env-file", str(env_file), check=False, timeout=60)
    assert result.returncode == ExitCode.MONITORING_UNAVAILABLE, result.stderr
    assert f"Alertmanager at {url} did not answer" in result.stderr
    assert "NEURMATIC_ALERTMANAGER_URL" in result.stderr and "neurmatic up" in result.stderr


def test_an_env_file_without_an_alertmanager_says_which_variable(tmp_path: Path) -> None:
    env_file = _env_file(tmp_path / ".env.production")
    result = neurmatic("alerts", "silences", "--env-file", str(env_file), check=False, timeout=60)
    assert result.returncode == ExitCode.CONFIGURATION, result.stderr
    assert "NEURMATIC_ALERTMANAGER_URL is not set" in result.stderr


def test_the_env_file_names_the_alertmanager(local: Local, tmp_path: Path) -> None:
    env_file = _env_file(tmp_path / ".env.production", NEURMATIC_ALERTMANAGER_URL=local.url)
    result = neurmatic("alerts", "--env-file", str(env_file), "list", "--json", check=False, timeout=60)
    assert result.returncode == ExitCode.OK, result.stderr
    assert "TargetDown" in {a["name"] for a in json.loads(result.stdout)}
