#!/bin/sh
# The `backup` service of compose.prod.yaml and compose.swarm.yaml: PostgreSQL's own image
# (pg_dump of the server's version) backs the database up into /backups, a named volume.
#   pg-backup.sh               one backup now, then one every BACKUP_INTERVAL seconds (1 day)
#   pg-backup.sh now           one backup now; prints its file
#   pg-backup.sh list          the backups, oldest first
#   pg-backup.sh restore FILE  replace everything in the database with FILE (in one transaction)
# After each backup only the newest BACKUP_KEEP (14) are kept. docs/backups.md says more.
set -eu
export PGHOST="${PGHOST:-db}" PGUSER="${POSTGRES_USER:?}" PGDATABASE="${POSTGRES_DB:?}"
if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then  # a Docker secret (Swarm)
    POSTGRES_PASSWORD="$(cat "$POSTGRES_PASSWORD_FILE")"
fi
export PGPASSWORD="${POSTGRES_PASSWORD:?}"  # libpq reads it: never on a command line
folder=/backups
keep="${BACKUP_KEEP:-14}"

backup() {
    file="$folder/$(date -u +%Y-%m-%dT%H%M%SZ)-$PGDATABASE.dump"
    # Written under another name, renamed when complete: a listed backup is never half written.
    pg_dump --format=custom --no-owner --file="$file.partial"
    mv "$file.partial" "$file"
    if [ "$keep" -gt 0 ]; then
        ls -1 "$folder"/*.dump | sort -r | tail -n +"$((keep + 1))" | xargs -r rm -f --
    fi
    echo "$file"
}

mkdir -p "$folder"
case "${1:-}" in
    now) backup ;;
    list) ls -l "$folder" ;;
    restore)
        [ -f "${2:-}" ] || { echo "no such backup: ${2:-}" >&2; exit 2; }
        pg_restore --clean --if-exists --no-owner --single-transaction -d "$PGDATABASE" "$2"
        echo "restored $2" ;;
    "")
        until pg_isready -q; do sleep 2; done
        while true; do
            backup || echo "backup failed" >&2
            sleep "${BACKUP_INTERVAL:-86400}"
        done ;;
    *) echo "usage: pg-backup.sh [now | list | restore FILE]" >&2; exit 2 ;;
esac
