#!/usr/bin/env bash
# slurm.requeue: a real single-node Slurm cluster (Debian's slurm-wlm + munge, started here
# with private paths and ports) runs launch/slurm/train.sbatch with 2 tasks, preempts it twice
# and checks that the requeued job resumes from its checkpoint and finishes:
#   1. `scancel --signal=USR1 --batch`: what --signal=B:USR1@T does before a time limit; the
#      batch script forwards it to srun, the ranks checkpoint and exit 75, and the script
#      requeues its own job;
#   2. `scontrol requeue`: Slurm requeues the job itself and sends SIGTERM; the ranks checkpoint
#      within KillWait and the script must not requeue a second time.
# Then metrics.jsonl must hold every step 1..N exactly once, each run must resume from the step
# the previous one checkpointed, and every loss must equal that of the same run without
# preemption (launch/smoothread-mpirun -n 2, run afterwards): on CPU resume is exact.
# Needs root (the daemons run as root), slurm-wlm and munge; fails, never skips, without them.
# Env: SR_BIN, SR_SOURCE_DIR (set by ctest); SR_KEEP_TMP=1 keeps the cluster's directory.
set -euo pipefail

fail() { echo "FAIL: $*" >&2; exit 1; }
say() { echo "[$(date +%T)] $*"; }

: "${SR_BIN:?SR_BIN must name the smoothread executable}"
: "${SR_SOURCE_DIR:?SR_SOURCE_DIR must name the source tree}"
python=${SR_PYTHON:-python3}
steps=240
export PATH=$PATH:/usr/sbin:/sbin

[ "$(id -u)" -eq 0 ] || fail "the Slurm test starts slurmctld/slurmd/munged and must run as root"
missing=()
for cmd in munged munge slurmctld slurmd sbatch srun squeue scontrol scancel sinfo; do
  command -v "$cmd" >/dev/null || missing+=("$cmd")
done
[ ${#missing[@]} -eq 0 ] ||
  fail "Slurm or munge is not installed (missing: ${missing[*]}); run: apt-get install slurm-wlm munge"

# A job started inside another allocation must not inherit its SLURM_* variables.
while read -r v; do unset "$v"; done < <(compgen -e | grep '^SLURM_' || true)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sr-slurm.XXXXXX")
chmod 755 "$tmp"  # munged wants every directory above its socket searchable by all
mkdir -p "$tmp/run" "$tmp/log" "$tmp/state" "$tmp/spool" "$tmp/munge" "$tmp/work"
chmod 700 "$tmp/munge"
jobid=""

cleanup() {
  local rc=$?
  set +e
  if [ -n "$jobid" ]; then
    scancel "$jobid" 2>/dev/null
    for _ in $(seq 40); do
      [ -z "$(squeue -h -j "$jobid" 2>/dev/null)" ] && break
      sleep 0.5
    done
  fi
  if [ "$rc" -ne 0 ]; then
    for f in log/slurmctld.log log/slurmd.log munge/munged.log work/job.out; do
      [ -f "$tmp/$f" ] && { echo "---- $f (last 40 lines)"; tail -n 40 "$tmp/$f"; }
    done
  fi
  for d in slurmd slurmctld munged; do
    local pid
    pid=$(cat "$tmp/run/$d.pid" 2>/dev/null) || continue
    kill "$pid" 2>/dev/null || continue
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  done
  if [ "${SR_KEEP_TMP:-0}" = 1 ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "FAIL: interrupted" >&2; exit 1' INT TERM HUP

# Ports nobody listens on, so that a Slurm already running on this machine is left alone.
free_port() {
  local p=$1
  while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
  echo "$p"
}
ctld_port=$(free_port 16817)
slurmd_port=$(free_port $((ctld_port + 1)))

# --- munge, with its own key and socket --------------------------------------------------------
if command -v mungekey >/dev/null; then
  mungekey --create --keyfile="$tmp/munge/munge.key" >/dev/null
else
  dd if=/dev/urandom of="$tmp/munge/munge.key" bs=1024 count=1 status=none
fi
chmod 600 "$tmp/munge/munge.key"
sock=$tmp/run/munge.sock
munged --socket="$sock" --key-file="$tmp/munge/munge.key" --pid-file="$tmp/run/munged.pid" \
  --log-file="$tmp/munge/munged.log" --seed-file="$tmp/munge/munged.seed" ||
  fail "munged did not start (see munge/munged.log below)"
munge -n -S "$sock" | unmunge -S "$sock" >/dev/null || fail "munge credentials do not round-trip"

# --- Slurm ---------------------------------------------------------------------------------------
host=$(hostname -s)
# The CPUs slurmd detects (nproc would follow OMP_NUM_THREADS, which ctest sets to 1).
cpus=$(slurmd -C 2>/dev/null | grep -o 'CPUs=[0-9]*' | head -n 1 | cut -d= -f2)
[ -n "$cpus" ] || cpus=$(nproc --all)
[ "$cpus" -ge 2 ] || fail "the Slurm test runs 2 tasks and needs 2 CPUs; slurmd sees ${cpus}"
mem_mb=$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 * 0.9 }' /proc/meminfo)
mpi_default=none
compgen -G "/usr/lib/*/slurm*/mpi_pmix.so" >/dev/null || compgen -G "/usr/lib*/slurm*/mpi_pmix.so" >/dev/null &&
  mpi_default=pmix
cat > "$tmp/slurm.conf" <<EOF
ClusterName=srtest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire also delays a requeued job's restart (default 120 s).
AuthInfo=socket=$sock,cred_expire=10
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/run/slurmctld.pid
SlurmdPidFile=$tmp/run/slurmd.pid
SlurmctldLogFile=$tmp/log/slurmctld.log
SlurmdLogFile=$tmp/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1,bf_interval=1
MpiDefault=$mpi_default
JobRequeue=1
ReturnToService=2
KillWait=30
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$tmp/slurm.conf
slurmctld -f "$SLURM_CONF" || fail "slurmctld did not start (see log/slurmctld.log below)"
slurmd -f "$SLURM_CONF" || fail "slurmd did not start (see log/slurmd.log below)"
say "slurm: controller port $ctld_port, node $host with $cpus CPUs, MpiDefault=$mpi_default"

node_idle=0
for _ in $(seq 60); do
  if [ "$(sinfo -h -n "$host" -o %T 2>/dev/null)" = idle ]; then node_idle=1; break; fi
  sleep 0.5
done
[ "$node_idle" -eq 1 ] || fail "node $host did not become idle: $(sinfo -h -N -o '%N %T %E' 2>&1)"
out=$(timeout 60 srun --mpi=pmix -N1 -n2 hostname 2>&1) ||
  fail "srun --mpi=pmix -n2 hostname failed: $out"
[ "$(echo "$out" | grep -c .)" -eq 2 ] || fail "srun -n2 hostname printed '$out', expected 2 lines"
say "slurm is up: srun --mpi=pmix ran 2 tasks"

# --- the training job ----------------------------------------------------------------------------
work=$tmp/work
"$SR_BIN" data from-text /usr/share/common-licenses/* --out "$work/data.h5" --sample-tokens 512 \
  >/dev/null || fail "could not build the dataset"
run=$work/run
metrics=$run/metrics.jsonl
job_out=$work/job.out
export CONFIG=$SR_SOURCE_DIR/configs/train/demo-cpu.ini SMOOTHREAD_BIN=$SR_BIN
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
train_args=(--data.path "$work/data.h5" --train.steps "$steps" --train.global_batch_tokens 2048
            --train.micro_batch_tokens 1024 --train.threads 1 --train.log_every 20
            --checkpoint.every 25)
jobid=$(sbatch --parsable -N1 -n2 -D "$work" -o "$job_out" \
  "$SR_SOURCE_DIR/launch/slurm/train.sbatch" "${train_args[@]}" --train.out_dir "$run") ||
  fail "sbatch failed"
jobid=${jobid%%;*}
say "submitted job $jobid ($steps steps)"

job_field() { scontrol show job "$jobid" 2>/dev/null | grep -o "$1=[^ ]*" | head -n 1 | cut -d= -f2; }
last_step() { tail -n 1 "$metrics" 2>/dev/null | sed -n 's/.*"step": *\([0-9]*\).*/\1/p'; }
# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND until it succeeds.
wait_for() {
  local limit=$1 what=$2; shift 2
  local end=$((SECONDS + limit))
  until "$@"; do
    [ "$SECONDS" -lt "$end" ] || fail "timed out after ${limit}s waiting for $what (job state: $(job_field JobState))"
    sleep 0.5
  done
}
past_step() { local s; s=$(last_step); [ -n "$s" ] && [ "$s" -ge "$1" ]; }
count_in_output() { grep -c -- "$1" "$job_out" 2>/dev/null || true; }
output_has() { [ "$(count_in_output "$2")" -ge "$1" ]; }
job_gone() { [ -z "$(squeue -h -j "$jobid" 2>/dev/null)" ]; }
running_restart() { [ "$(job_field JobState)" = RUNNING ] && [ "$(job_field Restarts)" = "$1" ]; }

# Preemption 1: the signal Slurm sends before a time limit; the script requeues the job.
wait_for 90 "the first steps" past_step 20
say "at step $(last_step): scancel --signal=USR1 --batch $jobid"
scancel --signal=USR1 --batch "$jobid"
wait_for 60 "the batch script to requeue the job" output_has 1 "requeueing job $jobid"
wait_for 60 "the requeued job to run again" running_restart 1
wait_for 60 "the resumed run" output_has 1 "resumed from"
resume1=$(grep -m 1 "resumed from" "$job_out")
say "restart 1: $resume1"

# Preemption 2: Slurm requeues the job itself (SIGTERM); the script must not requeue again.
first_resume_step=$(echo "$resume1" | grep -o 'step [0-9]*' | tail -n 1 | cut -d' ' -f2)
wait_for 90 "steps after the first resume" past_step $((first_resume_step + 40))
say "at step $(last_step): scontrol requeue $jobid"
scontrol requeue "$jobid" || fail "scontrol requeue $jobid failed"
wait_for 60 "the requeued job to run again" running_restart 2
wait_for 60 "the second resumed run" output_has 2 "resumed from"
say "restart 2: $(grep "resumed from" "$job_out" | tail -n 1)"

wait_for 180 "the job to finish" job_gone
state=$(job_field JobState) exit_code=$(job_field ExitCode) restarts=$(job_field Restarts)
say "job $jobid: $state, exit code $exit_code, $restarts restarts"

# --- checks --------------------------------------------------------------------------------------
[ "$state:$exit_code" = COMPLETED:0:0 ] ||
  fail "job ended $state with exit code $exit_code, expected COMPLETED 0:0"
[ "$restarts" = 2 ] || fail "job restarted $restarts times, expected 2"
[ "$(count_in_output 'got SIGUSR1, sending SIGUSR1')" -eq 1 ] ||
  fail "the batch script did not forward the USR1 preemption to srun exactly once"
[ "$(count_in_output 'got SIGTERM, sending SIGUSR1')" -ge 1 ] ||
  fail "the batch script did not forward Slurm's SIGTERM to srun"
[ "$(count_in_output 'smoothread exited with 75')" -eq 2 ] ||
  fail "expected two runs ending with exit code 75 (checkpointed)"
[ "$(count_in_output "checkpointed: requeueing job $jobid")" -eq 1 ] ||
  fail "the batch script should requeue its job exactly once (after USR1)"
[ "$(count_in_output 'not requeueing it again')" -eq 1 ] ||
  fail "after Slurm's own requeue the batch script should not requeue again"
[ "$(count_in_output 'smoothread exited with 0')" -eq 1 ] || fail "the last run did not exit with 0"

# The same run without interruption, through the mpirun wrapper: resume is exact on CPU.
say "reference run without preemption: launch/smoothread-mpirun -n 2"
"$SR_SOURCE_DIR/launch/smoothread-mpirun" -n 2 train --config "$CONFIG" "${train_args[@]}" \
  --train.out_dir "$work/ref" --checkpoint.resume none > "$work/ref.out" 2>&1 ||
  { tail -n 20 "$work/ref.out"; fail "the uninterrupted reference run failed"; }

grep "resumed from" "$job_out" | grep -o 'step [0-9]*' | cut -d' ' -f2 > "$work/resumes"
"$python" - "$metrics" "$steps" "$work/resumes" "$work/ref/metrics.jsonl" <<'EOF' ||
import json, sys
metrics, steps, resumes = sys.argv[1], int(sys.argv[2]), [int(s) for s in open(sys.argv[3])]
rows = [json.loads(line) for line in open(metrics)]
ref = {r["step"]: r["loss"] for r in map(json.loads, open(sys.argv[4]))}
seq = [r["step"] for r in rows]
loss = {r["step"]: r["loss"] for r in rows}
print(f"metrics: {len(rows)} lines, steps {seq[0]}..{seq[-1]}, resumed at steps {resumes}")
ok = True
def check(cond, msg):
    global ok
    if not cond:
        print("  " + msg); ok = False
check(len(resumes) == 2, f"expected 2 resumes, found {resumes}")
check(seq[-1] == steps, f"last step {seq[-1]}, expected train.steps = {steps}")
# Each resume continues at the checkpointed step + 1: no gap and no step done twice.
check(seq == list(range(1, steps + 1)), "steps are not exactly 1..N once each: "
      + str([(a, b) for a, b in zip(seq, seq[1:]) if b != a + 1]))
check(all(0 < r < steps for r in resumes) and resumes == sorted(set(resumes)),
      f"resume steps {resumes} are not increasing steps inside the run")
# The loss right after each resume continues the uninterrupted run's curve (the curve itself
# falls by more than 0.5 per step early on, so the uninterrupted run is the yardstick).
for r in resumes:
    if r + 1 in loss and r + 1 in ref:
        print(f"  step {r}: {loss.get(r, float('nan')):.6f}; step {r + 1} after the resume: "
              f"{loss[r + 1]:.6f}, uninterrupted: {ref[r + 1]:.6f}")
        check(abs(loss[r + 1] - ref[r + 1]) < 0.05, f"the loss jumps at the resume from step {r}")
diff = [(s, loss[s] - ref.get(s, float("nan"))) for s in sorted(loss)]
worst = max(diff, key=lambda d: abs(d[1]) if d[1] == d[1] else float("inf"))
print(f"  largest loss difference to the uninterrupted run: {worst[1]:.2e} at step {worst[0]}")
check(len(ref) == steps and abs(worst[1]) <= 1e-5,
      f"preempted run differs from the uninterrupted one (step {worst[0]}: {worst[1]:.2e})")
sys.exit(0 if ok else 1)
EOF
  fail "metrics.jsonl does not continue across the resumes as the uninterrupted run does"
say "PASS: job $jobid was preempted twice, requeued, resumed and finished all $steps steps"
