#!/bin/sh
# packtivity job body of step 'analysis'
# Runs the step's command once, then writes its run record (exit code, times, host, runtime,
# image, command line) whatever the outcome, and exits with the command's exit code.  The same
# body runs on this machine and in batch jobs.  Written by packtivity 1.0.0 for this run.
record=@TMP@/work/_packtivity/analysis.run.json
signal=
trap 'signal=TERM' TERM
trap 'signal=INT' INT
trap 'signal=HUP' HUP
now() { date -u +%Y-%m-%dT%H:%M:%SZ; }
# a JSON string of $1, or null when $1 is empty (control characters, quotes, backslashes dropped;
# plain values are printed as they are, without starting tr)
json() {
    case "$1" in
        '') printf null ;;
        *[!A-Za-z0-9._:+/\ -]*) printf '"%s"' "$(printf '%s' "$1" | tr -d '\000-\037\\"')" ;;
        *) printf '"%s"' "$1" ;;
    esac
}
start=$(now)
runtime_version=
# asked alongside the step, not before it: the answer takes tens of milliseconds
apptainer --version >"$record.version.$$" 2>/dev/null &
version_pid=$!
cd @TMP@/work && env APPTAINERENV_KRB_SETUP_SCRIPT=/recast_auth/getkrb.sh 'APPTAINERENV_GREETING=hello, world' 'APPTAINERENV_QUOTED=it'"'"'s' apptainer exec --containall --nv --pwd @TMP@/work --bind @TMP@/work:@TMP@/work:rw --bind @TMP@/inputs:@TMP@/inputs:ro --bind @TMP@/work/_packtivity/analysis.parmount0.txt:/config/events.txt:ro --bind @TMP@/auth:/recast_auth:rw @TMP@/analysis.sif sh -c '. /opt/setup.sh && python3 -u' <<'PACKTIVITY_STDIN'
import sys
print(sys.argv)
PACKTIVITY_STDIN
exit_code=$?
end=$(now)
{ read -r host </proc/sys/kernel/hostname; } 2>/dev/null || host=$(uname -n)
wait "$version_pid"
{ read -r runtime_version <"$record.version.$$"; } 2>/dev/null
rm -f "$record.version.$$"
printf '%s, "exit_code": %d, "signal": %s, "start": "%s", "end": "%s", "host": %s, "runtime_version": %s, "batch_job_id": %s}\n' \
    '{"command_line": "env APPTAINERENV_KRB_SETUP_SCRIPT=/recast_auth/getkrb.sh '"'"'APPTAINERENV_GREETING=hello, world'"'"' '"'"'APPTAINERENV_QUOTED=it'"'"'\"'"'"'\"'"'"'s'"'"' apptainer exec --containall --nv --pwd @TMP@/work --bind @TMP@/work:@TMP@/work:rw --bind @TMP@/inputs:@TMP@/inputs:ro --bind @TMP@/work/_packtivity/analysis.parmount0.txt:/config/events.txt:ro --bind @TMP@/auth:/recast_auth:rw @TMP@/analysis.sif sh -c '"'"'. /opt/setup.sh && python3 -u'"'"'", "cwd": "@TMP@/work", "format": "packtivity-run-record/1", "image": {"path": "@TMP@/analysis.sif", "reference": "@TMP@/analysis.sif", "sha256": "109bc4102df941d25c700824514023fc0f7ece6a1d389e3133046ae6f270793e", "source": "local"}, "runtime": "apptainer", "stdin": true, "step": "analysis"' "$exit_code" "$(json "$signal")" "$start" "$end" "$(json "$host")" \
    "$(json "$runtime_version")" "$(json '')" \
    >"$record.tmp.$$" && mv -f "$record.tmp.$$" "$record"
exit "$exit_code"
