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
