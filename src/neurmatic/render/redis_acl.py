"""The Redis exporter's ACL user (``metrics``) on the Redis servers and the Sentinels: one source for its
rules, which the local topology sets live (``ACL SETUSER``) and production's configs carry (the compose
command line of the servers, the Sentinels' ``user`` line).

The exporter sends INFO, CONFIG GET for maxmemory, SLOWLOG, LATENCY, CLIENT SETNAME (and the Sentinel
commands on a Sentinel), nothing that reads or writes a key.
"""

from __future__ import annotations

REDIS_METRICS_ACL = (
    "-@all +ping +info +config|get +client|setname +client|info +slowlog|get +slowlog|len "
    "+latency|latest +latency|histogram +cluster|info +select +dbsize +memory|stats"
)
SENTINEL_METRICS_ACL = (
    "-@all +ping +info +client|setname +client|info +sentinel|masters +sentinel|master "
    "+sentinel|sentinels +sentinel|slaves +sentinel|replicas +sentinel|ckquorum"
)


def acl_user_rules(password: str, rules: str) -> list[str]:
    """The words after ``user <name>`` (config) or ``ACL SETUSER <name>``: enabled, its password, its
    commands. ``password`` may be a marker or a ``${VARIABLE}`` that is substituted later."""
    return ["on", f">{password}", *rules.split()]
