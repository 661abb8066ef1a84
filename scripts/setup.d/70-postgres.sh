#!/usr/bin/env bash
# PostgreSQL for the shared-history tests (tests/integration/store/test_postgres.py): installs
# Debian's postgresql when it is missing and we are root with apt-get; no cluster is created or
# started here (the tests' conftest starts a throwaway server on a free port when they run).
# Elsewhere it only says what is missing: those tests then skip (or fail in CI).
set -euo pipefail
if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "70-postgres: PostgreSQL not found; install it (Debian: apt-get install postgresql)" \
    "to run the PostgreSQL tests" >&2
  exit 0
fi
# the package would create and start a 'main' cluster: the tests start their own instead
mkdir -p /etc/postgresql-common
if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
  echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends postgresql >/dev/null
echo "70-postgres: installed $(ls /usr/lib/postgresql)"
