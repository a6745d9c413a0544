// The sbatch script of one allocation: the scheduler's options as #SBATCH
// lines (whole nodes, so parallel job steps fit), output under the workflow's
// output directory, and the worker(s) to start. A pure function: `torc slurm
// script` prints it, the action runner submits it.
#pragma once

#include <string>

#include "spec/plan.h"

namespace torc::server {

/// Where things are, for the script.
struct ScriptContext {
  std::string torc_binary;   // absolute path of the torc binary the server runs
  std::string api_url;
  std::string data_dir;      // the server's data directory (token), shared with compute nodes
  int64_t workflow_id = 0;
  std::string output_dir;    // the workflow's output directory (absolute)
  std::string working_dir;
  bool one_worker_per_node = false;
  std::string srun = "srun";
  int64_t idle_timeout_seconds = 0;  // the workers' --idle-timeout (0: their default)
  int64_t max_parallel_jobs = 0;     // the workers' --max-parallel-jobs (0: no cap)
  /// How many allocations are asked for together with this script (all of one action's, or
  /// one elastic request's): with staggered_start, their workers' start-up window grows with it.
  int64_t allocations = 1;
};

/// Torc's start-up window for `runners` workers starting together (staggered_start): 0 for
/// one, N s for 2 to 10, 10 + (N - 10) * 50 / 90 s (whole seconds) for 11 to 100, else
/// kMaxStartupWindowSeconds.
int64_t StartupWindowSeconds(int64_t runners);
inline constexpr int64_t kMaxStartupWindowSeconds = 60;

/// How long before the allocation's end Slurm sends the worker its warning signal
/// (`#SBATCH --signal=B:USR1@<lead>`): the workflow's stop lead
/// (`execution_config.sigterm_lead_seconds` plus `sigkill_headroom_seconds`), at least 60 s (Slurm checks for due signals about
/// once a minute, so a shorter lead may come too late), at most half the walltime (a short
/// allocation is not told to stop at its start) and at most Slurm's 65535 s.
int64_t WarningLeadSeconds(const spec::Plan& plan, const spec::SlurmScheduler& scheduler);

std::string SbatchScript(const spec::Plan& plan, const spec::SlurmScheduler& scheduler,
                         const ScriptContext& context);

/// Quotes a string for bash (single quotes).
std::string ShellQuote(const std::string& s);

}  // namespace torc::server
