// Executes the actions that become due: `schedule_nodes` writes the sbatch
// script and submits it num_allocations times (an elastic one, as many times as
// server/elastic.h says, then again while ready jobs wait); `run_commands` runs the
// commands in the workflow's directory. Also scancels the allocations of
// canceled workflows and, on a slow timer, reconciles every allocation with
// one squeue call. Runs on the server's timer thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "server/sbatch_script.h"
#include "server/service.h"
#include "server/slurm.h"

namespace torc::server {

/// torc's allocation state ("pending", "running", "done", "canceled", "preempted", "failed") for a state
/// squeue prints; "" for one it does not know (the allocation keeps its state).
std::string AllocationState(const std::string& slurm_state);

/// What the action runner needs from the server: what its batch scripts are told (binary,
/// API URL, data directory), how often to reconcile, and whose workflows it acts for.
struct ActionRunnerOptions {
  std::string torc_binary;
  std::string api_url;
  std::string data_dir;
  double reconcile_seconds = 30;  // how often squeue is asked about live allocations
  /// How often the elastic actions are looked at (server/elastic.h).
  double elastic_seconds = 1;
  /// Multi-user mode: the server's own user. Actions (commands, sbatch) of a
  /// workflow another user owns would run as the server's account, so they
  /// fail without running anything. Empty: every workflow's actions run.
  std::string only_owner;
};

/// Lets the action thread sleep until there is work (Notify, e.g. from
/// Service::SetActionWakeup) or its poll interval has passed.
class Wakeup {
 public:
  void Notify();
  /// Returns when notified (clearing it) or after `max`, whichever is first.
  void Wait(std::chrono::milliseconds max);
  /// Ends every Wait at once, now and later (shutdown).
  void Close();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool notified_ = false;
  bool closed_ = false;
};

/// What one batch of allocations is: of which scheduler, how many, and how the workers run.
struct AllocationOrder {
  uint32_t scheduler = 0;  // index into the plan's schedulers
  int64_t count = 1;
  bool one_worker_per_node = false;
  int64_t idle_timeout_seconds = 0;  // the workers' --idle-timeout (0: their default)
  int64_t max_parallel_jobs = 0;     // the workers' --max-parallel-jobs (0: no cap)
  std::string script_name;           // torc_output/<id>/slurm/<name>.sh
};

/// Carries out the server's side effects on Slurm and the shell (see the top of this file).
/// It takes its work from the Service and reports back to it; RunServer calls Tick on one
/// thread of its own, so a slow command does not hold up lease expiry.
class ActionRunner {
 public:
  ActionRunner(Service* service, SlurmClient slurm, ActionRunnerOptions options)
      : service_(service), slurm_(std::move(slurm)), options_(std::move(options)) {}

  /// Does whatever is due now.
  void Tick(double now);
  /// Reconciles the live allocations with one squeue call now.
  void Reconcile(double now);

 private:
  void Execute(const DueAction& due, double now);
  /// Writes the script and submits it `count` times; the Slurm job ids, or
  /// false with *error (ids submitted before the error stay in *ids).
  bool SubmitAllocations(const DueAction& due, const AllocationOrder& order, double now,
                         std::string* ids, std::string* error);
  /// Submits what the elastic actions ask for now.
  void RequestElastic(double now);
  std::string OutputDir(const DueAction& due) const;
  /// True (with *why) when this server must not act for the workflow's owner.
  bool Refused(const DueAction& due, std::string* why) const;

  Service* service_;
  SlurmClient slurm_;
  ActionRunnerOptions options_;
  double next_reconcile_ = 0;
  double next_elastic_ = 0;
  std::vector<double> followups_;  // quick reconciliations after a requested one
};

}  // namespace torc::server
