// Preemption: SIGUSR1 or SIGTERM (Slurm's warning signal, scancel, a requeue) only sets a flag;
// the trainer makes every rank agree on it at the next step boundary, checkpoints, and exits
// with kExitRequeue (75) so that the batch script requeues the job.
#pragma once

namespace sr {

void install_preemption_handlers();
// True once this process has received SIGUSR1 or SIGTERM.
bool preemption_signalled();

}  // namespace sr
