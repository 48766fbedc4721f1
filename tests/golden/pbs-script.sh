# ---- pbs script (PSI/J), resources: cpus=2, memory=1G, walltime=1:30:00, queue=debug, account=prj, scheduler_options={'l': 'filesystems=home'}
#!/bin/bash



#PBS -V

#PBS -l select=1:ncpus=2:mpiprocs=2:mem=1073741824
#PBS -l place=scatter:shared

#PBS -l walltime=1:30:0

#PBS -A prj
#PBS -q debug

#PBS -l "filesystems=home"
#PBS -N "packtivity-@RUN@"


#PBS -e /dev/null
#PBS -o /dev/null

#PBS -V


PSIJ_NODEFILE="$PBS_NODEFILE"
export PSIJ_NODEFILE


cd "@TMP@/w/_packtivity/psij"

exec &>> "@TMP@/w/_packtivity/psij/$PBS_JOBID.out"

/bin/bash @HOME@/.packtivity/psij/@SHA@/single_launch.sh @UUID@ '' '' '' /dev/null /dev/null /dev/null /bin/sh @TMP@/w/_packtivity/packtivity-@RUN@.job.sh 

echo "$?" > "@TMP@/w/_packtivity/psij/$PBS_JOBID.ec"
# ---- job body @TMP@/w/_packtivity/packtivity-@RUN@.job.sh
#!/bin/sh
# packtivity job body of step 'packtivity-@RUN@'
# Runs the step's command once, then writes its run record (exit code, times, host, runtime,
# image, command line) whatever the outcome, and exits with the command's exit code.  The same
# body runs on this machine and in batch jobs.  Written by packtivity 1.0.0 for this run.
exec >>@TMP@/w/_packtivity/packtivity-@RUN@.run.log 2>&1
record=@TMP@/w/_packtivity/packtivity-@RUN@.run.json
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
cd @TMP@/w && sh -c 'echo golden > out.txt' </dev/null
exit_code=$?
end=$(now)
{ read -r host </proc/sys/kernel/hostname; } 2>/dev/null || host=$(uname -n)
printf '%s, "exit_code": %d, "signal": %s, "start": "%s", "end": "%s", "host": %s, "runtime_version": %s, "batch_job_id": %s}\n' \
    '{"command_line": "sh -c '"'"'echo golden > out.txt'"'"'", "cwd": "@TMP@/w", "format": "packtivity-run-record/1", "image": null, "runtime": null, "stdin": false, "step": "packtivity-@RUN@"' "$exit_code" "$(json "$signal")" "$start" "$end" "$(json "$host")" \
    "$(json "$runtime_version")" "$(json "${SLURM_JOB_ID:-${PBS_JOBID:-}}")" \
    >"$record.tmp.$$" && mv -f "$record.tmp.$$" "$record"
exit "$exit_code"
