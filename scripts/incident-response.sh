#!/usr/bin/env bash
# The runbook's incident-response.sh, as a thin wrapper over `manage.py incident`.
#   incident-response.sh start P0 "Database Outage" "Primary database not responding"
#   incident-response.sh detect | list | show ID | ack ID | resolve ID "resolution" | menu
#   incident-response.sh control list | read_only_on | purge_edge_cache | scale_database --size xlarge | undo ID …
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
py="${PYTHON:-$here/.venv/bin/python}"
[ -x "$py" ] || py=python3
manage() { "$py" "$here/manage.py" "$@"; }

menu() {
  while true; do
    cat <<'MENU'

Pitchey incident response
  1) Declare an incident
  2) List open incidents
  3) Show an incident
  4) Acknowledge an incident
  5) Run detection
  6) Resolve an incident
  q) Quit
MENU
    read -r -p "Choose: " choice || return 0
    case "$choice" in
      1) read -r -p "Severity (P0-P3): " sev; read -r -p "Title: " title; read -r -p "Description: " desc
         manage incident start "$sev" "$title" "$desc" || true ;;
      2) manage incident list || true ;;
      3) read -r -p "Incident id: " id; manage incident show "$id" || true ;;
      4) read -r -p "Incident id: " id; manage incident ack "$id" || true ;;
      5) manage incident detect || true ;;
      6) read -r -p "Incident id: " id; read -r -p "Resolution: " res; manage incident resolve "$id" "$res" || true ;;
      q|Q|"") return 0 ;;
      *) echo "Unknown choice: $choice" >&2 ;;
    esac
  done
}

cmd="${1:-menu}"
[ $# -gt 0 ] && shift
case "$cmd" in
  menu) menu ;;
  start|detect|list|show|ack|mitigate|resolve) manage incident "$cmd" "$@" ;;
  control) manage control "$@" ;;
  -h|--help|help) sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) echo "incident-response.sh: unknown command '$cmd' (try --help)" >&2; exit 2 ;;
esac
