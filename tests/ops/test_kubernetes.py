"""The Kubernetes manifests: they build, pass Kubernetes' own schemas and checkov, and say what the
rest of the platform says (the guide's autoscaling, the health paths, nginx's limits, no secret value)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from neurmatic.render import app_container
from neurmatic.render.kubernetes.config import OPERATOR_MANAGED, env_file_variables, is_secret
from neurmatic.render.kubernetes.names import DATABASE_CLIENT, POSTGRES_PODS, REDIS_PODS, UID
from neurmatic.render.postgres import PRODUCTION_SETTINGS
from tests.support import ROOT, require_binary

KUBERNETES = ROOT / "infrastructure/kubernetes"
KUBERNETES_VERSION = "1.30.0"  # the oldest minor still supported by the major clouds' managed offerings
# Kinds whose schemas are their operators' CRDs, which kubernetes-validate does not hold: their content is
# asserted below instead (docs/architecture.md, "Kubernetes").
CUSTOM_KINDS = {"postgresql", "RedisFailover", "PodMonitor", "PrometheusRule"}
Doc = dict[str, Any]


def build(overlay: str) -> list[Doc]:
    kubectl = require_binary("kubectl")
    result = subprocess.run(
        [kubectl, "kustomize", str(KUBERNETES / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module")
def production() -> list[Doc]:
    return build("production")


@pytest.fixture(scope="module")
def shipped(production: list[Doc]) -> list[Doc]:
    return production + build("production-migrate")


def one(docs: list[Doc], kind: str, name: str) -> Doc:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def pod_specs(docs: list[Doc]) -> dict[str, Doc]:
    specs = {}
    for doc in docs:
        template = {
            "Deployment": lambda d: d["spec"]["template"],
            "Job": lambda d: d["spec"]["template"],
            "CronJob": lambda d: d["spec"]["jobTemplate"]["spec"]["template"],
        }.get(doc["kind"])
        if template is not None:
            specs[f"{doc['kind']}/{doc['metadata']['name']}"] = template(doc)
    return specs


def test_the_overlays_build_every_part(shipped: list[Doc]) -> None:
    kinds = {doc["kind"] for doc in shipped}
    assert {
        "Namespace", "ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget",
        "Ingress", "Job", "CronJob", "NetworkPolicy", "ServiceAccount",
    } | CUSTOM_KINDS <= kinds  # fmt: skip
    assert "Secret" not in kinds  # the Secret is created from an untracked file, never applied from here
    images = {c["image"] for spec in pod_specs(shipped).values() for c in spec["spec"]["containers"]}
    assert len(images) == 1 and re.fullmatch(r"\S+/neurmatic-backend:\S+", images.pop())


def test_every_built_in_kind_passes_strict_schema_validation(shipped: list[Doc]) -> None:
    template = yaml.safe_load((KUBERNETES / "secret.template.yaml").read_text())
    validated = set()
    for doc in [*shipped, template]:
        if doc["kind"] in CUSTOM_KINDS:
            with pytest.raises(kubernetes_validate.SchemaNotFoundError):
                kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
            continue
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)  # raises on any error
        validated.add(doc["kind"])
    assert len(validated) >= 12


@pytest.mark.timeout(180)
def test_checkov_finds_nothing_that_is_not_justified(shipped: list[Doc], tmp_path: Path) -> None:
    checkov = require_binary("checkov", str(ROOT / ".venv-tools" / "checkov" / "bin" / "checkov"))
    config = KUBERNETES / ".checkov.yaml"
    skips = re.findall(r"^  - (CKV\S+)", config.read_text(), re.MULTILINE)
    text = config.read_text()
    for check in skips:  # each skip comes right after its reason
        assert re.search(rf"  # \S.*\n  - {check}\n", text), f"{check} has no reason"
    (tmp_path / "shipped.yaml").write_text(yaml.safe_dump_all(shipped))
    result = subprocess.run(
        [checkov, "-d", str(tmp_path), "--config-file", str(config), "--output", "json"],
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )
    report = json.loads(result.stdout)
    failed = [(f["check_id"], f["resource"]) for f in report["results"]["failed_checks"]]
    assert failed == []
    assert report["summary"]["passed"] > 300  # it did check the manifests


def test_the_api_scales_as_the_guide_says(production: list[Doc]) -> None:
    hpa = one(production, "HorizontalPodAutoscaler", "neurmatic-api")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 10)
    (metric,) = hpa["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"] == {"type": "Utilization", "averageUtilization": 70}
    assert hpa["scaleTargetRef"]["name"] == "neurmatic-api"
    assert "replicas" not in one(production, "Deployment", "neurmatic-api")["spec"]  # the HPA owns it
    assert one(production, "PodDisruptionBudget", "neurmatic-api")["spec"]["minAvailable"] == 1


def test_probes_use_the_platform_health_paths(production: list[Doc]) -> None:
    (api,) = one(production, "Deployment", "neurmatic-api")["spec"]["template"]["spec"]["containers"]
    # The image's entry point is `tini -- neurmatic`: the args are the subcommand (never `neurmatic` twice).
    assert api["args"] == ["api", "--host", "0.0.0.0", "--port", "3000"]
    assert api["livenessProbe"]["httpGet"]["path"] == "/api/v1/health/live"
    assert api["startupProbe"]["httpGet"]["path"] == "/api/v1/health/live"
    assert api["readinessProbe"]["httpGet"]["path"] == "/api/v1/health/ready"
    env = {e["name"]: e.get("value") for e in api["env"]}
    assert env["WEB_CONCURRENCY"] == api["resources"]["limits"]["cpu"]
    assert env["PROMETHEUS_MULTIPROC_DIR"].startswith("/tmp/")
    (worker,) = one(production, "Deployment", "neurmatic-worker")["spec"]["template"]["spec"]["containers"]
    assert worker["args"] == ["worker"]
    compose = yaml.safe_load((ROOT / "docker-compose.production.yml").read_text())["services"]["worker"]
    assert ["CMD", *worker["livenessProbe"]["exec"]["command"]] == compose["healthcheck"]["test"]
    worker_env = {e["name"]: e.get("value") for e in worker["env"]}
    assert worker_env["NEURMATIC_WORKER_METRICS_ADDRESS"] == "0.0.0.0:9400"
    assert (
        worker_env["NEURMATIC_WORKER_HEARTBEAT_FILE"]
        == compose["environment"]["NEURMATIC_WORKER_HEARTBEAT_FILE"]
    )


def test_the_worker_liveness_check_fails_on_a_stale_heartbeat(tmp_path: Path) -> None:
    heartbeat = tmp_path / "heartbeat"
    script = app_container.worker_heartbeat_script().replace(
        app_container.WORKER_HEARTBEAT_FILE, str(heartbeat)
    )

    def check() -> int:
        return subprocess.run([sys.executable, "-c", script], capture_output=True, check=False).returncode

    assert check() != 0  # no heartbeat yet
    heartbeat.touch()
    assert check() == 0
    stale = heartbeat.stat().st_mtime - app_container.WORKER_STALE_SECONDS - 5
    os.utime(heartbeat, (stale, stale))
    assert check() != 0


def test_every_pod_runs_as_a_non_root_user_on_a_read_only_root(shipped: list[Doc]) -> None:
    specs = pod_specs(shipped)
    assert set(specs) == {
        "Deployment/neurmatic-api",
        "Deployment/neurmatic-worker",
        "Job/neurmatic-migrate",
        "CronJob/neurmatic-backup",
    }
    for name, template in specs.items():
        spec = template["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["automountServiceAccountToken"] is False, name
        assert template["metadata"]["labels"].items() >= DATABASE_CLIENT.items(), name
        volumes = {v["name"]: v for v in spec["volumes"]}
        for container in spec["containers"]:
            security = container["securityContext"]
            assert security["runAsUser"] == UID and security["runAsNonRoot"] is True, name
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"] == {"drop": ["ALL"]}, name
            assert security["seccompProfile"] == {"type": "RuntimeDefault"}, name
            assert {"requests", "limits"} <= container["resources"].keys(), name
            tmp = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
            assert tmp and "emptyDir" in volumes[tmp[0]["name"]], name
            for variable in container["env"]:  # credentials in URLs come from Secrets, never literally
                value = variable.get("value", "")
                assert "@" not in value or value.startswith(
                    "postgresql://$(POSTGRES_USER):$(POSTGRES_PASSWORD)@"
                )


def test_no_secret_holds_a_value_and_the_template_lists_every_key() -> None:
    template = yaml.safe_load((KUBERNETES / "secret.template.yaml").read_text())
    assert set(template["stringData"].values()) == {""} and "data" not in template
    variables = env_file_variables()
    secrets = {key for key, value in variables.items() if is_secret(key, value)}
    assert set(template["stringData"]) == secrets - set(OPERATOR_MANAGED)
    assert set(OPERATOR_MANAGED) <= secrets
    assert {"JWT_SECRET", "SESSION_SECRET", "AWS_SECRET_ACCESS_KEY"} <= set(template["stringData"])
    for path in KUBERNETES.rglob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "Secret":
                assert not doc.get("data") and set(doc.get("stringData", {}).values()) <= {""}, path


def test_the_config_map_holds_no_secret(production: list[Doc]) -> None:
    data = one(production, "ConfigMap", "neurmatic-config")["data"]
    assert not [key for key, value in data.items() if is_secret(key, value)]
    assert data["REDIS_SENTINELS"] == "rfs-neurmatic-redis:26379" and data["NODE_ENV"] == "production"


def _nginx_locations() -> dict[tuple[str, str], str]:
    """The TLS server's locations of the rendered nginx config: (modifier, pattern) -> body."""
    config = (ROOT / "infrastructure/nginx/production.conf").read_text()
    (server,) = [block for block in config.split("\n    server {") if "listen 443" in block]
    found = re.findall(
        r"^        location (?:(=|~) )?(\S+) \{\n(.*?)^        \}", server, re.MULTILINE | re.DOTALL
    )
    return {(modifier, pattern): body for modifier, pattern, body in found}


def _nginx_location_for(path: str, locations: dict[tuple[str, str], str]) -> str:
    """nginx's choice: an exact match, else the first matching regex, else the longest prefix."""
    if ("=", path) in locations:
        return locations[("=", path)]
    for (modifier, pattern), body in locations.items():
        if modifier == "~" and re.search(pattern, path):
            return body
    prefixes = [pattern for modifier, pattern in locations if not modifier and path.startswith(pattern)]
    return locations[("", max(prefixes, key=len))]


def test_the_ingress_limits_equal_the_nginx_config(production: list[Doc]) -> None:
    config = (ROOT / "infrastructure/nginx/production.conf").read_text()
    zones = dict(re.findall(r"limit_req_zone \S+ zone=(\w+):\S+ rate=(\S+);", config))
    (body_size,) = re.findall(r"client_max_body_size (\S+);", config)
    locations = _nginx_locations()
    ingresses = [doc for doc in production if doc["kind"] == "Ingress"]
    checked = 0
    for ingress in ingresses:
        notes = {
            k.removeprefix("nginx.ingress.kubernetes.io/"): v
            for k, v in ingress["metadata"]["annotations"].items()
        }
        assert notes["proxy-body-size"] == body_size
        assert ingress["spec"]["tls"][0]["secretName"] and notes["ssl-redirect"] == "true"
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                body = _nginx_location_for(path["path"], locations)
                limit = re.search(r"limit_req zone=(\w+) burst=(\d+) nodelay;", body)
                timeout = re.search(r"proxy_read_timeout (\d+)([sh]);", body)
                if limit is None:
                    assert not any(key.startswith("limit-") for key in notes), path
                else:
                    number, unit = re.fullmatch(r"(\d+)r/([sm])", zones[limit.group(1)]).groups()  # type: ignore[union-attr]
                    assert notes[f"limit-rp{unit}"] == number, path
                    assert int(notes["limit-burst-multiplier"]) * int(number) == int(limit.group(2)), path
                seconds = int(timeout.group(1)) * (3600 if timeout.group(2) == "h" else 1) if timeout else 5
                assert notes["proxy-read-timeout"] == str(seconds), path
                checked += 1
    assert checked >= 10


def test_internal_paths_are_not_routed(production: list[Doc]) -> None:
    for ingress in (doc for doc in production if doc["kind"] == "Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                if path["pathType"] == "Prefix":
                    assert not "/internal/metrics".startswith(path["path"].rstrip("/") + "/"), path
                assert not path["path"].startswith("/internal"), path


def test_network_policies_deny_by_default_and_guard_the_databases(production: list[Doc]) -> None:
    policies = {doc["metadata"]["name"]: doc["spec"] for doc in production if doc["kind"] == "NetworkPolicy"}
    assert policies["default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    dns = policies["allow-dns"]["egress"][0]
    assert {(p["port"], p["protocol"]) for p in dns["ports"]} == {(53, "TCP"), (53, "UDP")}
    (api_rule,) = policies["api-from-ingress-and-prometheus"]["ingress"]
    assert [p["port"] for p in api_rule["ports"]] == [3000]
    sources = {
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for peer in api_rule["from"]
    }
    assert sources == {"ingress-nginx", "monitoring"}
    for database, port in (("postgres", 5432), ("redis", 6379)):
        rules = policies[database]["ingress"]
        admitted = [rule for rule in rules if port in {p["port"] for p in rule["ports"]}]
        peers = [peer for rule in admitted for peer in rule["from"]]
        assert {"podSelector": {"matchLabels": DATABASE_CLIENT}} in peers, database
        # The only others: the database's own pods, and its operator's namespace.
        own = {"podSelector": {"matchLabels": POSTGRES_PODS if database == "postgres" else REDIS_PODS}}
        operator = {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": f"{database}-operator"}}
        }
        assert {json.dumps(peer) for peer in peers} == {json.dumps(p) for p in (own, operator, peers[0])}
        assert peers[0] == {"podSelector": {"matchLabels": DATABASE_CLIENT}}


def test_the_databases_run_the_local_topology_settings(production: list[Doc]) -> None:
    postgres = next(doc for doc in production if doc["kind"] == "postgresql")["spec"]
    assert postgres["numberOfInstances"] == 2
    assert postgres["patroni"]["synchronous_mode"] is True
    parameters = postgres["postgresql"]["parameters"]
    assert parameters["max_connections"] == PRODUCTION_SETTINGS["max_connections"] == "200"
    assert parameters["shared_buffers"] == PRODUCTION_SETTINGS["shared_buffers"]
    assert parameters.items() <= PRODUCTION_SETTINGS.items()
    redis = next(doc for doc in production if doc["kind"] == "RedisFailover")["spec"]
    assert {"maxmemory 2gb", "maxmemory-policy noeviction", "appendonly yes"} <= set(
        redis["redis"]["customConfig"]
    )
    assert redis["redis"]["replicas"] == 2
    sentinels = redis["sentinel"]["replicas"]
    assert sentinels // 2 + 1 == 2  # the operator's quorum: a majority, as sentinel.conf's `… mymaster … 2`
    assert re.search(
        r"^sentinel monitor mymaster \S+ \d+ 2$",
        (ROOT / "infrastructure/redis/sentinel.conf").read_text(),
        re.MULTILINE,
    )


def test_the_backup_runs_daily_at_two_utc_once_at_a_time(production: list[Doc]) -> None:
    cron = one(production, "CronJob", "neurmatic-backup")["spec"]
    assert (cron["schedule"], cron["timeZone"], cron["concurrencyPolicy"]) == (
        "0 2 * * *",
        "Etc/UTC",
        "Forbid",
    )
    (container,) = cron["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["backup"]


def test_monitoring_scrapes_the_api_and_the_worker_under_the_rules_job_names(production: list[Doc]) -> None:
    monitors = {doc["metadata"]["name"]: doc["spec"] for doc in production if doc["kind"] == "PodMonitor"}
    api = monitors["neurmatic-api"]["podMetricsEndpoints"][0]
    assert (api["port"], api["path"]) == ("http", "/internal/metrics")
    worker = monitors["neurmatic-worker"]["podMetricsEndpoints"][0]
    assert worker["port"] == "metrics"
    for name, job in (
        ("neurmatic-api", "api"),
        ("neurmatic-worker", "worker"),
        ("neurmatic-patroni", "patroni"),
    ):
        relabel = monitors[name]["podMetricsEndpoints"][0]["relabelings"]
        assert {"targetLabel": "job", "replacement": job} in relabel
    assert one(production, "PrometheusRule", "neurmatic")["spec"]["groups"]
