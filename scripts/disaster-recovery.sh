#!/usr/bin/env bash
# The runbook's disaster-recovery.sh, as a thin wrapper over `manage.py recover`.
#   disaster-recovery.sh full|database|api|auth|websocket|cache|media [--dry-run] [--inline] [--incident INC-00001]
#   disaster-recovery.sh test [--scenario backup-restore] | list | show ID
#   Exit status: 0 succeeded, 1 failed, 2 usage error, 3 inconclusive (configure what the report names).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
py="${PYTHON:-$here/.venv/bin/python}"
[ -x "$py" ] || py=python3

cmd="${1:-}"
[ $# -gt 0 ] && shift
case "$cmd" in
  full|database|api|auth|websocket|cache|media|test|list|show) exec "$py" "$here/manage.py" recover "$cmd" "$@" ;;
  -h|--help|help|"") sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) echo "disaster-recovery.sh: unknown command '$cmd' (try --help)" >&2; exit 2 ;;
esac
