#!/bin/sh
# Patroni's bootstrap.post_bootstrap hook (the image installs it as /usr/local/bin/neurmatic-post-bootstrap).
# Patroni runs it once, after initdb, on the node that bootstraps the cluster, with the superuser's
# connection string as its argument and the password in PGPASSFILE; the standby clones all of it.
#
# It creates what the official image's entrypoint created from POSTGRES_USER / POSTGRES_PASSWORD /
# POSTGRES_DB: the application's role and its database. The role is no superuser: it owns the database,
# may create databases (a restore loads beside the live one, then swaps them) and reads replication lag
# for the health endpoint (pg_monitor). The exporters' role `metrics` (METRICS_DB_PASSWORD) may log in and
# read the statistics views (pg_monitor), nothing else.
set -eu
: "${POSTGRES_USER:?}" "${POSTGRES_PASSWORD:?}" "${POSTGRES_DB:?}" "${METRICS_DB_PASSWORD:?}"

# \getenv (psql 15) keeps the password off psql's command line, where `ps` would show it.
psql "$1" --no-psqlrc -v ON_ERROR_STOP=1 <<'SQL'
\getenv app_user POSTGRES_USER
\getenv app_password POSTGRES_PASSWORD
\getenv app_db POSTGRES_DB
\getenv metrics_password METRICS_DB_PASSWORD
-- log_statement = ddl would write the CREATE ROLE, password included, to the server log; so would a
-- statement slower than log_min_duration_statement (a commit waiting for the synchronous standby).
SET log_statement = 'none';
SET log_min_duration_statement = -1;
CREATE ROLE :"app_user" WITH LOGIN CREATEDB PASSWORD :'app_password';
GRANT pg_monitor TO :"app_user";
CREATE DATABASE :"app_db" OWNER :"app_user" ENCODING 'UTF8' TEMPLATE template0;
CREATE ROLE metrics WITH LOGIN PASSWORD :'metrics_password';
GRANT pg_monitor TO metrics;
SQL

# pgBackRest's stanza in both repositories, so the new cluster's WAL archiving and physical backups work
# from its first segment (archive-push fails until it exists). Bounded, and never fatal: an unreachable S3
# must not fail the bootstrap (Patroni would wipe the new cluster and start over). If it failed, the
# health report shows the WAL archive failing; create it later on the leader (docs/deploy.md).
# pgBackRest connects over the socket as the superuser, with the password file Patroni hands this hook
# (PGPASSFILE, as psql above): Patroni takes the PATRONI_* passwords out of its environment at start.
if ! timeout 30 pgbackrest --config=/etc/pgbackrest/pgbackrest.conf --stanza=neurmatic stanza-create; then
    echo "warning: pgBackRest stanza-create failed: WAL archiving fails until it is created" >&2
fi
