#!/bin/sh
# The cron converge job: `reconciler apply DESIRED --auto-approve`, quiet unless it matters.
#
#   converge.sh DESIRED [apply flags...]
#
# No output when there was nothing to do, or when another run holds the state-directory lock
# (exit 5: a second apply, or the daemon healing; this run is skipped and exits 0). The apply's
# output when it changed something or failed. Reads RECONCILER_ENV_FILE and
# CPA_MANAGEMENT_KEY_FILE like drift-alarm.sh, and RECONCILER_STATE_DIR for --state-dir.
set -u
desired="${1:?usage: converge.sh DESIRED [apply flags...]}"
shift

env_file="${RECONCILER_ENV_FILE:-/etc/cpa-reconciler/env}"
key_file="${CPA_MANAGEMENT_KEY_FILE:-/etc/cpa-reconciler/management-key}"
if [ -r "$env_file" ]; then
    set -a
    . "$env_file"
    set +a
fi
if [ -r "$key_file" ]; then
    set -- --management-key-file "$key_file" "$@"
fi
if [ -n "${RECONCILER_STATE_DIR:-}" ]; then
    set -- --state-dir "$RECONCILER_STATE_DIR" "$@"
fi

output="$(reconciler apply "$desired" --auto-approve "$@" 2>&1)"
code=$?
case "$code" in
    0) case "$output" in
           *"Apply complete"*) printf 'cpa-reconciler: applied %s\n\n%s\n' "$desired" "$output" ;;
       esac ;;
    5) code=0 ;;  # locked: another run is converging right now
    *) printf 'cpa-reconciler: apply FAILED (exit %s)\n\n%s\n' "$code" "$output" ;;
esac
exit "$code"
