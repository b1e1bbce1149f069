"""The scenario file: what bench/load_test.py prepares and every Locust process reads (no Locust import
here: importing Locust monkey-patches the process with gevent, which the runner must not be)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Scenario:
    ca_file: str  # the topology's CA: TLS is verified
    slugs: list[str]  # published articles
    categories: list[str]
    tags: list[str]
    search_terms: list[str]
    accounts: list[str]  # the members' emails, all with ``password``
    password: str
    max_requests: int  # for the whole run, shared by the Locust processes
    processes: int

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)))
        path.chmod(0o600)

    @classmethod
    def read(cls, path: str | Path) -> Scenario:
        return cls(**json.loads(Path(path).read_text()))
