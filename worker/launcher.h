// How a job's process is started on the nodes it was placed on: slurm mode wraps it in srun
// (SrunLauncher), direct mode runs it on this node (DirectLauncher). The rules that differ
// between the two modes live here, so that the worker loop asks its launcher instead of
// branching on the mode.
#pragma once

#include <signal.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "worker/allocation.h"
#include "worker/command.h"
#include "worker/ledger.h"
#include "worker/process.h"

namespace torc::worker {

/// What a launcher needs to know of the worker and its workflow.
struct LaunchSettings {
  int64_t workflow_id = 0;
  std::string job_output_dir;  // TORC_OUTPUT_DIR of the jobs; direct mode's hostfiles go below
  std::string api_url;         // TORC_API_URL of the jobs
  std::string working_dir;     // where jobs start ("": the worker's directory)
  Allocation allocation;       // the worker's nodes
  uint32_t own_node = 0;       // the node of the allocation this worker runs on
  SrunOptions srun;            // slurm mode: the srun line
  double launch_interval_seconds = 0;  // slurm mode: at most one srun per this many seconds
  bool limit_resources = true;         // direct mode: enforce jobs' memory requests
};

/// Starts jobs in one mode, and answers the questions whose answer depends on the mode.
class Launcher {
 public:
  virtual ~Launcher() = default;
  /// "slurm" or "direct", for messages.
  virtual const char* mode() const = 0;
  /// The node a job must be placed on when the mode requires one; nullopt: any node.
  virtual std::optional<uint32_t> RequiredNode(const JobNeeds& needs) const = 0;
  /// Seconds to leave between two launches; 0: no pacing.
  virtual double launch_interval() const = 0;
  /// A job's command started `latency` seconds after its launch (slurm mode: job-exec's start
  /// minus srun's): the pacing may adapt to it.
  virtual void ObserveStepStart(double /*latency*/) {}
  /// Whether torc's stop ends with SIGINT to the launched process before SIGKILL (srun
  /// --quit-on-interrupt cancels its step and waits for Slurm to end it).
  virtual bool interrupts_before_kill() const { return false; }
  /// The signal that tells the launched process to stop its job with `term_signal`.
  virtual int StopSignal(int term_signal) const { return term_signal; }
  /// Whether the worker itself measures jobs' memory against their requests.
  virtual bool checks_memory() const = 0;
  /// Whether the jobs are measured where they run (`torc job-exec` in the step), not by the
  /// worker.
  virtual bool measures_in_step() const = 0;
  /// Whether a job's failure (`e`: exit code != 0) inside Slurm may be the allocation going
  /// away, so that the worker waits a moment before reporting it (Worker::OnExit).
  virtual bool FailureMayBeAllocationEnding(const ProcessExit& e) const = 0;
  /// What to start for `job` on `placement`: argv, environment and working directory (the
  /// output files are the caller's).
  virtual LaunchSpec JobSpec(const JobToRun& job, const Placement& placement) = 0;
  /// What to start for a failed job's recovery `script`: bash on this node, in either mode.
  virtual LaunchSpec RecoverySpec(const JobToRun& job, const Placement& placement,
                                  const std::string& script) const = 0;
};

/// Slurm mode: every job is an `srun` step on its placed nodes (SrunArgs); Slurm enforces its
/// resources, and the sruns are paced (launch_interval_seconds, longer while steps are slow to
/// start: ObserveStepStart).
class SrunLauncher : public Launcher {
 public:
  explicit SrunLauncher(LaunchSettings settings) : s_(std::move(settings)) {}
  const char* mode() const override { return "slurm"; }
  /// Any node: srun starts the job where it was placed.
  std::optional<uint32_t> RequiredNode(const JobNeeds&) const override { return std::nullopt; }
  /// The configured interval, or while steps start slowly their mean start latency over
  /// kStepsInFlight (at most 2 s): about that many step creations in flight at once. 0 stays 0
  /// (pacing turned off).
  double launch_interval() const override;
  /// Keeps a moving mean of the step start latency (weight 0.3 for the newest).
  void ObserveStepStart(double latency) override;
  bool interrupts_before_kill() const override { return true; }
  /// SIGUSR2 when srun would end the step on `term_signal` (job-exec relays it: SrunOptions).
  int StopSignal(int term_signal) const override {
    return s_.srun.stop_via_usr2 && term_signal == s_.srun.term_signal ? SIGUSR2 : term_signal;
  }
  /// Above this mean latency steps count as slow to start.
  static constexpr double kSlowStepStartSeconds = 0.5;
  /// While steps start slowly, the interval is their mean start latency over this: about this
  /// many step creations in flight at once (docs/worker.md).
  static constexpr double kStepsInFlight = 16;
  /// `torc job-exec` enforces memory in the step (and Slurm's cgroups, where configured).
  bool checks_memory() const override { return false; }
  bool measures_in_step() const override { return !s_.srun.job_exec.empty(); }
  /// Any failure: an srun started as the allocation ends fails at once (exit 1).
  bool FailureMayBeAllocationEnding(const ProcessExit&) const override { return true; }
  LaunchSpec JobSpec(const JobToRun& job, const Placement& placement) override;
  LaunchSpec RecoverySpec(const JobToRun& job, const Placement& placement,
                          const std::string& script) const override;

 private:
  LaunchSettings s_;
  double mean_latency_ = 0;
  bool latency_seen_ = false;
};

/// Direct mode: jobs are processes of this node (DirectArgs). Inside Slurm a job sees its own
/// nodes as its allocation (DirectSlurmEnvironment and a hostfile), so that an srun or mpirun
/// of its own runs there.
class DirectLauncher : public Launcher {
 public:
  /// `log` receives problems worth a line (a hostfile that cannot be written).
  DirectLauncher(LaunchSettings settings, std::function<void(const std::string&)> log)
      : s_(std::move(settings)), log_(std::move(log)) {}
  const char* mode() const override { return "direct"; }
  /// A single-node job of a multi-node allocation runs on this node (a multi-node job holds
  /// whole nodes and runs its command once, here, e.g. mpirun spreading it).
  std::optional<uint32_t> RequiredNode(const JobNeeds& needs) const override;
  double launch_interval() const override { return 0; }
  bool checks_memory() const override { return s_.limit_resources; }
  bool measures_in_step() const override { return false; }
  /// A death by signal only: a job's own failure exit is not the allocation's doing.
  bool FailureMayBeAllocationEnding(const ProcessExit& e) const override {
    return e.exit_code >= 128 || e.signal != 0;
  }
  LaunchSpec JobSpec(const JobToRun& job, const Placement& placement) override;
  LaunchSpec RecoverySpec(const JobToRun& job, const Placement& placement,
                          const std::string& script) const override;

 private:
  /// The SLURM_HOSTFILE of a placement (written once per node set).
  std::string Hostfile(const Placement& placement);

  LaunchSettings s_;
  std::function<void(const std::string&)> log_;
  std::set<std::string> hostfiles_;  // written so far (see Hostfile)
};

/// The launcher of the mode `requested` (--mode: auto, slurm or direct; auto follows the
/// workflow's `workflow_mode`, and auto there means slurm inside Slurm, else direct). Slurm
/// mode outside Slurm falls back to direct mode, saying so through `log`.
std::unique_ptr<Launcher> MakeLauncher(const std::string& requested,
                                       const std::string& workflow_mode, LaunchSettings settings,
                                       std::function<void(const std::string&)> log);

}  // namespace torc::worker
