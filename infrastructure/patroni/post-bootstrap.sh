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
