"""PostgreSQL settings: the operators' values in production, scaled (never above them) locally."""

from __future__ import annotations

from neurmatic.render.postgres import MB, PRODUCTION_SETTINGS, Machine, scaled_settings

GB = 1024 * MB


def _mb(value: str) -> float:
    return float(value.removesuffix("MB")) if value.endswith("MB") else float(value.removesuffix("kB")) / 1024


def test_operators_values_are_kept_where_they_are_not_about_memory() -> None:
    scaled = scaled_settings(Machine(memory_bytes=24 * GB, cpus=2))
    for name in (
        "max_connections",
        "checkpoint_completion_target",
        "log_min_duration_statement",
        "wal_level",
        "max_wal_senders",
        "max_replication_slots",
        "hot_standby",
        "hot_standby_feedback",
    ):
        assert scaled[name] == PRODUCTION_SETTINGS[name]
    assert PRODUCTION_SETTINGS["max_connections"] == "200"
    assert PRODUCTION_SETTINGS["log_min_duration_statement"] == "1000"


def test_memory_grows_with_the_machine_and_is_capped_at_the_operators_values() -> None:
    small = scaled_settings(Machine(memory_bytes=2 * GB, cpus=1))
    large = scaled_settings(Machine(memory_bytes=256 * GB, cpus=32))
    assert _mb(small["shared_buffers"]) < _mb(large["shared_buffers"]) <= 512
    assert _mb(large["effective_cache_size"]) <= 2048
    assert _mb(large["work_mem"]) <= 2621 / 1024 + 0.01
    assert int(large["max_worker_processes"]) <= 4
