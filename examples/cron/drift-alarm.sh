#!/bin/sh
# The cron drift alarm: `reconciler plan DESIRED --detailed-exitcode`, quiet unless it matters.
#
#   drift-alarm.sh DESIRED [plan flags...]
#
# Exit 0 and no output when the live CPA matches DESIRED; exit 2 and the plan (secrets masked)
# on stdout when it drifted; any other exit code and the error when the plan failed. Reads
# RECONCILER_ENV_FILE (default /etc/cpa-reconciler/env) and passes CPA_MANAGEMENT_KEY_FILE
# (default /etc/cpa-reconciler/management-key) as --management-key-file when it exists.
set -u
desired="${1:?usage: drift-alarm.sh DESIRED [plan flags...]}"
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

output="$(reconciler plan "$desired" --detailed-exitcode "$@" 2>&1)"
code=$?
case "$code" in
    0) ;;
    2) printf 'cpa-reconciler: DRIFT: %s differs from %s\n\n%s\n' "${CPA_URL:-the target}" "$desired" "$output" ;;
    *) printf 'cpa-reconciler: the drift check FAILED (exit %s)\n\n%s\n' "$code" "$output" ;;
esac
exit "$code"
