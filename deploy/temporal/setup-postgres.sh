#!/bin/sh
# Creates Temporal's two databases in the stack's PostgreSQL, or upgrades
# their schema to the server's version. It runs in temporalio/admin-tools,
# whose temporal-sql-tool carries the schema of the same release as the
# temporalio/server image, and reads the settings the server reads (DB,
# POSTGRES_SEEDS, DB_PORT, POSTGRES_USER, POSTGRES_PWD, DBNAME,
# VISIBILITY_DBNAME), so the two cannot disagree.
#
# Every step is safe to repeat: an existing database is kept, the initial
# version is set only on an empty schema, and update-schema applies only the
# versions not yet applied. Run it before every server upgrade.
set -eu

export SQL_PLUGIN="${DB:?}"
export SQL_HOST="${POSTGRES_SEEDS:?}"
export SQL_PORT="${DB_PORT:-5432}"
export SQL_USER="${POSTGRES_USER:?}"
export SQL_PASSWORD="${POSTGRES_PWD:?}"

setup() { # database, embedded schema
	temporal-sql-tool --db "$1" create
	temporal-sql-tool --db "$1" setup-schema -v 0.0
	temporal-sql-tool --db "$1" update-schema --schema-name "$2"
	echo "database $1 is at the schema of this release"
}

setup "${DBNAME:-temporal}" postgresql/v12/temporal
setup "${VISIBILITY_DBNAME:-temporal_visibility}" postgresql/v12/visibility
