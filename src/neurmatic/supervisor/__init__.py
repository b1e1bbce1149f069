"""The local production topology: PostgreSQL primary + standby, Redis master + replica + 3 Sentinels,
two API instances, the job worker and nginx, all on 127.0.0.1, supervised without Docker."""
