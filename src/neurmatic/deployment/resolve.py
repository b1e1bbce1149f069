"""Which deployment a command acts on, from its options and the environment.

In order: ``--env-file`` or ``--state-dir`` when given (not both); then ``NEURMATIC_ENV_FILE`` or
``NEURMATIC_STATE_DIR``; then a local topology in ``./.neurmatic``; then the process environment when it
holds a ``DATABASE_URL`` (a container started with the env file as its environment).
"""

from __future__ import annotations

import os
from pathlib import Path

from neurmatic.deployment.env import from_env_file
from neurmatic.deployment.locate import (
    DEFAULT_STATE_DIR,
    ENV_FILE_VARIABLE,
    STATE_DIR_VARIABLE,
    TOPOLOGY_FILE,
    resolve_state_dir,
)
from neurmatic.deployment.model import Deployment
from neurmatic.errors import ConfigurationError


def resolve_deployment(*, env_file: Path | None, state_dir: Path | None) -> Deployment:
    if env_file is not None and state_dir is not None:
        raise ConfigurationError(
            "both --env-file and --state-dir were given", hint="pass one: the deployment to act on"
        )
    if env_file is not None:
        return from_env_file(env_file)
    if state_dir is not None:
        return local_deployment(state_dir)
    if os.environ.get(ENV_FILE_VARIABLE):
        return from_env_file(Path(os.environ[ENV_FILE_VARIABLE]))
    if os.environ.get(STATE_DIR_VARIABLE):
        return local_deployment(Path(os.environ[STATE_DIR_VARIABLE]))
    if (DEFAULT_STATE_DIR / TOPOLOGY_FILE).exists() or not os.environ.get("DATABASE_URL"):
        return local_deployment(DEFAULT_STATE_DIR)
    return from_env_file(None)


def local_deployment(state_dir: Path) -> Deployment:
    """The deployment of the local topology in ``state_dir`` (StateDirError when there is none)."""
    # The local topology is the one platform implementation; imported here only, on demand.
    from neurmatic.supervisor.platform import local_deployment as from_state_dir

    return from_state_dir(resolve_state_dir(state_dir))
