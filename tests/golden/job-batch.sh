#!/bin/sh
# packtivity job body of step 'hello'
# Runs the step's command once, then writes its run record (exit code, times, host, runtime,
# image, command line) whatever the outcome, and exits with the command's exit code.  The same
# body runs on this machine and in batch jobs.  Written by packtivity 1.0.0 for this run.
exec >>/data/work/_packtivity/hello.run.log 2>&1
record=/data/work/_packtivity/hello.run.json
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
cd /data/work && sh -c 'echo '"'"'a b'"'"' > out.txt' </dev/null
exit_code=$?
end=$(now)
{ read -r host </proc/sys/kernel/hostname; } 2>/dev/null || host=$(uname -n)
printf '%s, "exit_code": %d, "signal": %s, "start": "%s", "end": "%s", "host": %s, "runtime_version": %s, "batch_job_id": %s}\n' \
    '{"command_line": "sh -c '"'"'echo '"'"'\"'"'"'\"'"'"'a b'"'"'\"'"'"'\"'"'"' > out.txt'"'"'", "cwd": "/data/work", "format": "packtivity-run-record/1", "image": null, "runtime": null, "stdin": false, "step": "hello"' "$exit_code" "$(json "$signal")" "$start" "$end" "$(json "$host")" \
    "$(json "$runtime_version")" "$(json "${SLURM_JOB_ID:-}")" \
    >"$record.tmp.$$" && mv -f "$record.tmp.$$" "$record"
exit "$exit_code"
