"""``docker-compose.production.yml`` from ``templates/docker-compose.production.yml.j2``.

The PostgreSQL settings are a parameter, so the same values feed the compose file and the local
topology's ``postgresql.conf``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from neurmatic.errors import ConfigurationError
from neurmatic.render import render_template

# The compose network; pg_hba.conf in the compose file admits replication and app clients from it.
NETWORK_SUBNET = "172.21.0.0/16"

_SETTING_NAME = re.compile(r"^[a-z_][a-z0-9_.]*$")
# Values land inside a double-quoted YAML string and a postgres -c flag: no quotes, `$` or newlines.
_SETTING_VALUE = re.compile(r"^[A-Za-z0-9_.:,/+-]+$")


def render_compose(postgres_settings: Mapping[str, str]) -> str:
    """Render the production compose file with ``postgres_settings`` as ``-c name=value`` flags.

    Both the primary and the standby get the same settings: a standby refuses to start with a lower
    ``max_connections`` (and similar) than its primary.
    """
    for name, value in postgres_settings.items():
        if not _SETTING_NAME.match(name) or not _SETTING_VALUE.match(str(value)):
            raise ConfigurationError(
                f"PostgreSQL setting {name}={value!r} cannot go on a command line",
                hint="use a plain name and a value without spaces, quotes or `$`",
            )
    return render_template(
        "docker-compose.production.yml.j2",
        postgres_settings=dict(postgres_settings),
        network_subnet=NETWORK_SUBNET,
    )
