// The Slurm setup torc derives from a workflow's jobs (`torc slurm generate`, `torc submit
// --slurm`, `torc slurm plan`): for each job with no scheduler, a partition whose nodes hold its
// request within the partition's MaxTime; the jobs grouped by dependency stage, stage 0
// allocated when the workflow starts and each later stage when its jobs are ready; nodes and
// walltime sized from the jobs' counts and runtimes; and, for planning, what one large
// allocation costs against many small ones. Pure: the cluster comes in as data
// (spec/slurm/cluster.h). docs/slurm.md, "Generated setup", states the rules.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "spec/plan.h"
#include "spec/slurm/cluster.h"

namespace torc::spec::slurm {

/// What the user chose on the command line.
struct SetupOptions {
  std::string account;    // written into every scheduler ("" : none)
  std::string partition;  // only this partition ("" : the best that fits each job)
  /// Most nodes one stage's allocations of one scheduler hold together (0: the partition's).
  int64_t max_nodes = 0;
  /// Walltime = waves of jobs x their longest runtime x this (capped at the partition's MaxTime).
  double walltime_multiplier = 1.5;
  /// Elastic actions (max_allocations; docs/slurm.md "Elastic allocations") instead of a fixed
  /// num_allocations. A stage that one walltime cannot finish is elastic either way.
  bool elastic = false;
  /// Plan every job, also those that name a scheduler (`torc slurm plan`); generate leaves
  /// those alone.
  bool all_jobs = false;
};

/// A scheduler the setup adds: allocations of `nodes` whole nodes of `partition`.
struct SetupScheduler {
  std::string name;
  std::string partition;
  std::string account;
  std::string gres;     // "gpu:N" for GPU jobs (N: the node's GPUs; allocations are exclusive)
  std::string mem;      // set only when some nodes of the partition have less than the jobs need
  std::string extra;    // "--mincpus=N" likewise for CPUs
  int64_t nodes = 1;
  int64_t walltime_seconds = 0;
  std::string why;      // one line for the comment above it
};

/// The jobs of one dependency stage that one scheduler runs, and what they are given.
struct StageGroup {
  int stage = 0;             // 0: jobs with no dependencies; k: longest path of k parents
  size_t scheduler = 0;      // into Setup::schedulers
  std::vector<Index> jobs;   // into Plan::jobs, sorted
  int64_t jobs_per_node = 1; // per block of num_nodes nodes for multi-node jobs
  int64_t num_nodes = 1;     // nodes per job
  int64_t runtime_seconds = 0;  // the longest runtime requested
  int64_t blocks = 1;        // allocations (many small) of num_nodes nodes each
  int64_t waves = 1;         // rounds of jobs on those allocations
  int64_t walltime_seconds = 0;
  bool elastic = false;
  bool walltime_capped = false;  // the partition's MaxTime is shorter than the waves need
  /// From the requested runtimes (longest first onto the free slots): when the last job ends,
  /// and node-seconds of N allocations of one block each (each ends with its last job) against
  /// one allocation of all blocks (held until the last job ends).
  int64_t makespan_seconds = 0;
  int64_t many_small_node_seconds = 0;
  int64_t one_large_node_seconds = 0;
};

/// Everything the setup adds to a workflow.
struct Setup {
  std::vector<SetupScheduler> schedulers;
  std::vector<StageGroup> groups;  // by stage, then scheduler
  /// Per entry of the file's `jobs` list: the scheduler name it gets ("" : left alone).
  std::vector<std::string> entry_scheduler;
  std::vector<std::string> notes;  // what the user should know (capped walltimes, ...)
};

/// Derives the setup for `plan` on `cluster`. False with *error when a job fits no partition
/// (the message names the job, its request and the largest node) or the options name a
/// partition the cluster does not have.
bool PlanSetup(const Plan& plan, const Cluster& cluster, const SetupOptions& options,
               Setup* setup, std::string* error);

/// The workflow file's text with the setup written in: the schedulers appended to
/// `slurm_schedulers`, one `schedule_nodes` action per group appended to `actions`, and each
/// entry's `scheduler`, with comments saying why (YAML), or as JSON when `json`. The text is
/// the file `plan` was read from. False with *error when the text cannot be re-read.
bool WriteSetup(const std::string& text, const Plan& plan, const Setup& setup, bool json,
                std::string* out, std::string* error);

/// `torc slurm plan --json`: every group with its allocations, node-hours of both strategies,
/// totals and a recommendation with its reason.
std::string SetupPlanJson(const Plan& plan, const Cluster& cluster, const Setup& setup);
/// The same for people.
std::string SetupPlanText(const Plan& plan, const Cluster& cluster, const Setup& setup);

}  // namespace torc::spec::slurm
