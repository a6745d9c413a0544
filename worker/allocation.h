// What a worker has to run jobs on: the nodes of its Slurm allocation (or
// this machine), their CPUs, memory and GPUs, and when the allocation ends.
// Discovery reads the environment and runs at most one Slurm command (squeue,
// for the end time) through a seam, so it is unit-tested without Slurm.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace torc::worker {

/// One node the worker may place jobs on.
struct NodeInfo {
  std::string name;          // Slurm node name ("n3") or this machine's hostname
  int64_t cpus = 1;
  int64_t memory_bytes = 0;
  std::vector<int> gpus;     // device indices usable on this node (CUDA_VISIBLE_DEVICES values)
};

/// The allocation a worker runs in.
struct Allocation {
  bool in_slurm = false;
  std::string slurm_job_id;      // "" outside Slurm
  std::vector<NodeInfo> nodes;   // at least one
  std::optional<double> end_time;  // seconds since the epoch; nullopt: no limit
  std::optional<double> start_time;  // when Slurm started it (seconds since the epoch), if known
  /// How often Slurm requeued this allocation before this run (SLURM_RESTART_COUNT; 0 when
  /// unset or not a number): a preemption with PreemptMode=REQUEUE, a node failure, scontrol
  /// requeue.
  uint32_t restart_count = 0;
};

/// The runtime a job may have to start now in an allocation (docs/worker.md, "Runtime and
/// walltime"): the time left to the end, plus what has passed since the allocation started up
/// to `startup_allowance` seconds, so that a job as long as the whole walltime starts in a fresh
/// allocation. Infinite when the allocation has no end.
double ClaimableRuntime(const Allocation& allocation, double now, double startup_allowance);

/// Expands a Slurm hostlist expression ("n[1-4]", "gpu[01-02,05],login1",
/// "a[1-2]b[3-4]") into host names in order. False with *error when malformed
/// or when it would expand to more than 100,000 hosts.
bool ExpandHostlist(std::string_view expr, std::vector<std::string>* hosts, std::string* error);

/// Expands Slurm's per-node count lists ("4(x2),2" -> 4,4,2), as in
/// SLURM_JOB_CPUS_PER_NODE.
bool ExpandCountList(std::string_view text, std::vector<int64_t>* counts, std::string* error);

/// Parses squeue's end time ("2026-11-22T05:10:00", local time) to epoch seconds;
/// nullopt for "N/A", "UNLIMITED", "NONE" or empty.
std::optional<double> ParseSlurmTime(std::string_view text);

/// The side effects discovery needs, replaceable in tests.
struct DiscoveryEnv {
  /// getenv; returns nullptr when unset.
  std::function<const char*(const char*)> getenv;
  /// Runs argv, returns its exit code (-1 when it could not start) and stdout in *out.
  std::function<int(const std::vector<std::string>& argv, std::string* out)> run;
  /// This machine: logical CPUs, total memory in bytes, hostname.
  std::function<int64_t()> machine_cpus;
  std::function<int64_t()> machine_memory_bytes;
  std::function<std::string()> hostname;
  /// The real thing (environment, fork/exec, sysconf, /proc/meminfo).
  static DiscoveryEnv Real();
};

/// What the user overrides on the command line.
struct DiscoveryOptions {
  std::optional<int64_t> cpus;            // --cpus (per node)
  std::optional<int64_t> memory_bytes;    // --memory (per node)
  std::optional<int64_t> gpus;            // --gpus (count: indices 0..N-1)
  std::optional<double> time_limit_seconds;  // --time-limit, from now
  /// Only this node (direct mode inside Slurm: one worker per node).
  bool this_node_only = false;
  std::string squeue = "squeue";          // path of squeue
  std::string scontrol = "scontrol";      // path of scontrol
  /// This machine only, even inside a Slurm allocation (`torc run`).
  bool ignore_slurm = false;
};

/// Discovers the allocation. Inside Slurm (SLURM_JOB_ID set): nodes from
/// SLURM_JOB_NODELIST (or only SLURMD_NODENAME when this_node_only), CPUs from
/// SLURM_JOB_CPUS_PER_NODE / SLURM_CPUS_ON_NODE, memory from SLURM_MEM_PER_NODE
/// (MB) or SLURM_MEM_PER_CPU x CPUs, else the machine's; GPUs from SLURM_JOB_GPUS,
/// else CUDA_VISIBLE_DEVICES; start and end time from one `squeue -h -j ID -o "%S %e"` call
/// (or the `scontrol show job` call that also gives the memory of a --mem=0 allocation).
/// Outside Slurm: this machine, GPUs from CUDA_VISIBLE_DEVICES or none.
/// Options override what was found. False with *error when something is malformed.
bool DiscoverAllocation(const DiscoveryEnv& env, const DiscoveryOptions& options, double now,
                        Allocation* out, std::string* error);

/// Why Slurm is ending (or ended) allocation `job_id`, from one `scontrol show job -o ID` call:
/// "preempted" when PreemptTime is set or the job is PREEMPTED, REQUEUED or back to PENDING
/// (a preempting job took its nodes, with or without GraceTime and PreemptParameters=
/// send_user_signal; measured: PreemptTime is set from the moment the tasks get SIGTERM, while
/// the job still reads RUNNING during GraceTime), or when its Restarts count is above this run's
/// SLURM_RESTART_COUNT (PreemptMode=REQUEUE: COMPLETING, PreemptTime=None, Restarts=1 by the time
/// the batch shell is signalled); "walltime" when its time limit is hit (Reason
/// TimeLimit, or TIMEOUT); "" otherwise (an scancel, a job still running) or when Slurm cannot
/// be asked.
std::string SlurmStopReason(const DiscoveryEnv& env, const DiscoveryOptions& options,
                            const std::string& job_id);

/// How many job steps an allocation may still start under Slurm's MaxStepCount.
struct StepLimit {
  /// Slurm's MaxStepCount (40000, Slurm's default, when it cannot be read).
  int64_t max_steps = 40000;
  /// Steps of the allocation before this worker's own: its SLURM_STEP_ID + 1 when the worker
  /// runs in a numbered step, 0 in the batch script (step ids count from 0).
  int64_t steps_before = 0;
  /// Whether max_steps is what Slurm said (false: the default, scontrol failed or said none).
  bool from_slurm = false;
};

/// Slurm's limit on the steps of one allocation, from one `scontrol show config` call (its line
/// "MaxStepCount = 25"), and the steps started before this worker (SLURM_STEP_ID). Past the
/// limit every srun fails with "Step limit reached for this job"; Slurm numbers the steps
/// 0, 1, ... and refuses step MaxStepCount.
StepLimit SlurmStepLimit(const DiscoveryEnv& env, const DiscoveryOptions& options);

}  // namespace torc::worker
