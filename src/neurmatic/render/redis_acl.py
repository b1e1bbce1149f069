"""The Redis exporter's ACL user (``metrics``) on the Redis servers and the Sentinels: one source for its
rules, which the local topology sets live (``ACL SETUSER``) and production's configs carry (the compose
command line of the servers, the Sentinels' ``user`` line).

The exporter sends INFO (maxmemory included), SLOWLOG LEN, LATENCY, CLIENT SETNAME (and the Sentinel
commands on a Sentinel), nothing that reads or writes a key. It runs with ``-config-command=-``: CONFIG GET
would hand the user ``requirepass`` and ``masterauth`` (the servers' own password), and SLOWLOG GET the
arguments of slow commands, so neither is allowed.
"""

from __future__ import annotations

REDIS_METRICS_ACL = (
    "-@all +ping +info +client|setname +client|info +slowlog|len "
    "+latency|latest +latency|histogram +cluster|info +select +dbsize +memory|stats"
)
SENTINEL_METRICS_ACL = (
    "-@all +ping +info +client|setname +client|info +sentinel|masters +sentinel|master "
    "+sentinel|sentinels +sentinel|slaves +sentinel|replicas +sentinel|ckquorum"
)


# The exporter's flag that keeps it from sending CONFIG (the ACL refuses it anyway; this avoids the errors).
NO_CONFIG_COMMAND = "-config-command=-"


def acl_user_rules(password: str, rules: str) -> list[str]:
    """The words after ``user <name>`` (config) or ``ACL SETUSER <name>``: enabled, its password, its
    commands. ``password`` may be a marker or a ``${VARIABLE}`` that is substituted later."""
    return ["on", f">{password}", *rules.split()]
