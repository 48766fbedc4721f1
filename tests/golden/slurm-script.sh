# ---- slurm script (PSI/J), resources: cpus=2, memory=1G, walltime=1:30:00, queue=debug, account=prj, scheduler_options={'constraint': 'ssd'}
#!/bin/bash



#SBATCH --chdir="@TMP@/w/_packtivity/psij"


#SBATCH --nodes=1

#SBATCH --ntasks=1

#SBATCH --ntasks-per-node=1


#SBATCH --cpus-per-task=2

#SBATCH --mem=1048576K

#SBATCH --time=1:30:0

#SBATCH --partition="debug"

#SBATCH --account="prj"


#SBATCH --constraint="ssd"
#SBATCH --job-name="packtivity-@RUN@"

#SBATCH -e /dev/null
#SBATCH -o /dev/null

#SBATCH --export=ALL


_PSIJ_PC=1

_PSIJ_NC=`scontrol show hostnames | wc -l`

if [ "$_PSIJ_PPN" == "" ]; then
    if [ "$_PSIJ_NC" != "" ] && [ "$_PSIJ_PC" != "" ]; then
        _PSIJ_PPN=$((_PSIJ_PC/_PSIJ_NC))
    fi
fi

PSIJ_NODEFILE="@TMP@/w/_packtivity/psij/$SLURM_JOB_ID.nodefile"
if [ "$_PSIJ_PPN" == "" ]; then
    scontrol show hostnames >"$PSIJ_NODEFILE"
else
    scontrol show hostnames | while read NODE; do for _ in $(seq 1 1 $_PSIJ_PPN); do echo "$NODE"; done; done > "$PSIJ_NODEFILE"
fi
export PSIJ_NODEFILE



exec &>> "@TMP@/w/_packtivity/psij/$SLURM_JOB_ID.out"

/bin/bash @HOME@/.packtivity/psij/@SHA@/single_launch.sh @UUID@ '' '' '' /dev/null /dev/null /dev/null /bin/sh @TMP@/w/_packtivity/packtivity-@RUN@.job.sh 

echo "$?" > "@TMP@/w/_packtivity/psij/$SLURM_JOB_ID.ec"
