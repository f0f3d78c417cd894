#!/usr/bin/env bash
# The runbook's backup automation, as a thin wrapper over `manage.py backup`:
#   setup-cron      show the backup schedules (django-celery-beat periodic tasks, edited in the admin)
#   backup TYPE     take a backup now: database | config | media | full (runs here, no worker needed)
#   verify PATH     verify a backup file with the manifest beside it (add --restore-test to restore it)
#   test            take a database backup and prove it restores into a scratch database
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3

usage() { echo "usage: $0 setup-cron | backup database|config|media|full | verify PATH [--restore-test] | test" >&2; exit 2; }

case "${1:-}" in
  setup-cron) exec "$PY" manage.py backup schedule ;;
  backup) [ $# -ge 2 ] || usage; kind="$2"; shift 2; exec "$PY" manage.py backup "$kind" --inline "$@" ;;
  verify) [ $# -ge 2 ] || usage; shift; exec "$PY" manage.py backup verify "$@" ;;
  test) exec "$PY" manage.py backup test ;;
  *) usage ;;
esac
