// The life of a job on this worker: placing and launching it, enforcing its
// runtime and memory limits, stopping it, its exit (deferred or followed by a
// recovery script) and the result it reports. The loop and the server
// communication are in worker.cc.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string_view>

#include "server/protocol/messages.h"
#include "spec/plan.h"
#include "worker/allocation.h"
#include "worker/command.h"
#include "worker/launcher.h"
#include "worker/ledger.h"
#include "worker/log_cap.h"
#include "worker/process.h"
#include "worker/worker_internal.h"

namespace torc::worker::internal {

using protocol::AttemptStatus;

// A job that fails on its own may be the allocation going away (scancel,
// walltime): Slurm signals the steps and the worker at about the same time, and
// an srun started just after the allocation began ending fails at once ("Unable
// to create step ... already completing", exit 1). So in slurm mode every
// failure, and in direct mode a death by signal, waits a moment (the launcher says
// which: Launcher::FailureMayBeAllocationEnding); if the worker is stopped meanwhile
// the job is reported as terminated (requeued, no retry used), not as failed.
// Otherwise it ends as any failure does (recovery script first). Outside Slurm
// nothing signals the jobs and the worker together: no wait.
bool Worker::MayBeAllocationEnding(const Running& r, const ProcessExit& e) const {
  if (!alloc_.in_slurm || !r.end_reason.empty() || draining_ || e.exit_code == 0) return false;
  return launcher_->FailureMayBeAllocationEnding(e);
}

bool Worker::FinishDeferred(double now) {
  bool concluded = false;
  for (auto it = deferred_.begin(); it != deferred_.end();) {
    auto r = running_.find(it->first);
    if (r == running_.end()) {  // cannot happen: only this erases a held job
      it = deferred_.erase(it);
      continue;
    }
    if (draining_ && r->second.end_reason.empty()) r->second.end_reason = stop_reason_;
    // Canceled or stopped while held: no need to wait longer.
    if (!r->second.end_reason.empty() || now >= it->second.deadline) {
      Conclude(r, it->second.exit);
      it = deferred_.erase(it);
      concluded = true;
    } else {
      ++it;
    }
  }
  return concluded;
}

void Worker::LaunchQueued() {
  // A finishing worker starts nothing more either: what it claimed goes back when it leaves.
  if (draining_ || !finishing_reason_.empty()) return DropPlaced();
  for (auto it = queue_.begin(); it != queue_.end();) {
    if (!ledger_->CanEverFit(it->needs)) {
      // Not the job's fault when a node of the allocation was lost since it was claimed.
      if (ledger_->any_lost())
        ReportUnstarted(*it, AttemptStatus::kTerminated,
                        "slurm: does not fit the nodes left after a node failure");
      else
        ReportUnstarted(*it, AttemptStatus::kFailed, "does not fit this worker's nodes");
      it = queue_.erase(it);
      continue;
    }
    Placement p;
    // The mode may require a node (direct mode runs a single-node job here).
    std::optional<uint32_t> required = launcher_->RequiredNode(it->needs);
    std::vector<uint32_t> preferred =
        required ? std::vector<uint32_t>{*required} : it->suggested_nodes;
    if (!ledger_->Place(it->needs, preferred, &p)) {
      ++it;
      continue;
    }
    if (required && p.nodes[0] != *required) {
      ledger_->Release(p);
      ++it;
      continue;
    }
    placed_.push_back({std::move(*it), p});
    it = queue_.erase(it);
  }
  StartPlaced(Now());
}

// Slurm mode paces its sruns: a burst of them at once (an allocation's first jobs, or a
// round of equal jobs ending together) loads slurmctld and the nodes with all their
// step set-ups at the same moment, and every one of them starts later than when they
// come one after another (docs/worker.md).
void Worker::StartPlaced(double now) {
  while (!placed_.empty()) {
    if (const double interval = launcher_->launch_interval(); interval > 0) {
      if (now < next_launch_at_) return;
      next_launch_at_ = now + interval;
    }
    Placed next = std::move(placed_.front());
    placed_.pop_front();
    uint32_t id = next.job.id, attempt = next.job.attempt;
    std::string nodes = NodeListOf(next.placement, alloc_.nodes);
    if (Launch(std::move(next.job), next.placement))
      started_.push_back({id, attempt, nodes});
    now = Now();
  }
}

/// A stopping worker starts nothing more: the placed jobs' resources are freed, and the
/// server gives the jobs to others when this worker leaves.
void Worker::DropPlaced() {
  for (const auto& p : placed_) ledger_->Release(p.placement);
  placed_.clear();
}

bool Worker::Launch(JobToRun job, const Placement& placement) {
  Running r;
  double now = Now();
  r.placement = placement;
  r.nodes = NodeListOf(r.placement, alloc_.nodes);
  r.outputs = OutputsFor(job, job_output_dir_);
  LaunchSpec spec = launcher_->JobSpec(job, r.placement);
  spec.stdout_path = r.outputs.out;
  spec.stderr_path = r.outputs.err;
  std::string error;
  r.pid = procs_.Start(spec, &error);
  r.start_time = now;
  if (sampling_) r.usage.Begin(now, static_cast<double>(monitor_.sample_interval_seconds));
  r.launched_at = now;
  r.runtime_deadline = now + static_cast<double>(job.runtime_seconds);
  // job-exec enforces the runtime from the command's start; the worker's deadline is a
  // backstop for a step that never started or a job-exec that never ended.
  if (launcher_->measures_in_step())
    r.runtime_deadline += static_cast<double>(KillAfterSeconds()) + kStepStartAllowanceSeconds;
  r.job = std::move(job);
  if (r.pid < 0) {
    Log("cannot start " + r.job.name + ": " + error);
    ledger_->Release(r.placement);
    Report(r.job, AttemptStatus::kFailed, 127, 0, "could not start: " + error, now, now, r);
    return false;
  }
  running_[r.pid] = std::move(r);
  return true;
}

// ---- limits, signals, exits ------------------------------------------------------
void Worker::Terminate(Running& r, const std::string& reason, double grace) {
  // A failure whose recovery script runs stays a failure (the script is short; Slurm
  // ends it with the allocation).
  if (!r.end_reason.empty() || r.recovery_pid > 0) return;
  r.end_reason = reason;
  // An exit held for the allocation-ending check takes the reason (canceled, stopped) for
  // its report, but is not signalled: its process has ended and its group may be gone.
  if (deferred_.count(r.pid)) return;
  procs_.Signal(r.pid, reason == "memory" ? SIGKILL : launcher_->StopSignal(term_signal_));
  r.stopping = Running::Stopping::kSignalled;
  r.kill_at = Now() + grace;
}

// srun forwards the termination signal to the job. When the grace is over, SIGINT makes srun
// (--quit-on-interrupt) cancel the step and wait until Slurm ended it, so that the job's remote
// processes are gone before its resources are used again; SIGKILL would leave the step to
// Slurm's own cleanup while the next job already starts there. srun still running 10 s later is
// killed.
void Worker::Escalate(Running& r, double now) {
  if (r.kill_at <= 0 || now < r.kill_at) return;
  if (launcher_->interrupts_before_kill() && r.stopping == Running::Stopping::kSignalled) {
    procs_.Signal(r.pid, SIGINT);
    r.stopping = Running::Stopping::kInterrupted;
    r.kill_at = now + kStepEndSeconds;
    return;
  }
  if (r.stopping == Running::Stopping::kInterrupted)
    Log("job " + r.job.name + ": srun has not ended " +
        std::to_string(static_cast<int>(kStepEndSeconds)) +
        " s after SIGINT: killing it (Slurm ends the step's processes on its own)");
  procs_.Signal(r.pid, SIGKILL);
  r.stopping = Running::Stopping::kKilled;
  r.kill_at = now + 1;  // again while it has not been reaped
}

void Worker::CheckLimits(double now) {
  // sigkill_headroom_seconds keeps the allocation's last seconds free: the stop comes that
  // much earlier and the worker is gone by then.
  const auto lead = execution_.sigterm_lead_seconds + execution_.sigkill_headroom_seconds;
  bool walltime_near = alloc_.end_time && now >= *alloc_.end_time - lead;
  if (walltime_near && !draining_) {
    Log("the allocation ends in " + std::to_string(static_cast<int>(*alloc_.end_time - now)) +
        " s: stopping jobs");
    Stop("walltime");
  }
  // Memory is read from /proc at most every 0.5 s, for all jobs at once (a full pass over /proc
  // only every few seconds: GroupUsageReader); so are the samples of a time series (direct mode:
  // slurm mode samples in the step).
  std::map<pid_t, GroupUsage> usage;
  const bool memory_due = launcher_->checks_memory() && now >= next_memory_check_;
  if (memory_due) next_memory_check_ = now + 0.5;
  if (memory_due || SampleDue(now)) {
    std::vector<pid_t> groups;
    groups.reserve(running_.size());
    for (const auto& [pid, r] : running_) groups.push_back(pid);
    usage = procs_.UsageByGroup(groups, now);
  }
  CapOutputs(now);
  for (auto& [pid, r] : running_) {
    if (r.recovery_pid > 0 || deferred_.count(pid)) continue;  // the job's process has ended
    if (r.end_reason.empty() && now >= r.runtime_deadline)
      Terminate(r, "runtime", static_cast<double>(KillAfterSeconds()));
    auto used = usage.find(pid);
    if (used == usage.end()) {
      Escalate(r, now);
      continue;
    }
    r.usage.Observe(now, used->second);
    if (launcher_->checks_memory() && r.end_reason.empty() && r.job.needs.memory_bytes > 0 &&
        used->second.rss_bytes > r.job.needs.memory_bytes)
      Terminate(r, "memory", 0);
    Escalate(r, now);
  }
}

bool Worker::SampleDue(double now) const {
  if (!sampling_) return false;
  for (const auto& [pid, r] : running_)
    if (r.usage.SampleDue(now)) return true;
  return false;
}

// Output files over the cap are cut back (worker/log_cap.h), every 0.5 s.
void Worker::CapOutputs(double now) {
  if (o_.max_log_bytes <= 0 || now < next_log_check_) return;
  next_log_check_ = now + 0.5;
  for (auto& [pid, r] : running_)
    for (const std::string* path : {&r.outputs.out, &r.outputs.err})
      if (CapOutputFile(*path, o_.max_log_bytes))
        Log("job " + r.job.name + ": " + *path + " reached " + std::to_string(o_.max_log_bytes) +
            " bytes (--max-log-bytes); later output dropped");
}

// The worker leaves within its stop lead (`sigterm_lead_seconds`, at least 2 s, never past the
// allocation's end): its jobs get the termination signal now and SIGKILL after a grace time
// inside the lead, their results have what is left of it, and no call to the server waits
// longer than that for its answer (BoundCallTime). What is still running or unreported at the
// deadline is killed or left unreported (LeaveAtStopDeadline).
void Worker::Stop(const std::string& reason) {
  draining_ = true;
  stop_reason_ = reason;
  DropPlaced();
  const double now = Now();
  const double lead = std::max<double>(2, static_cast<double>(execution_.sigterm_lead_seconds));
  // The allocation's end less the headroom the workflow keeps free (sigkill_headroom_seconds).
  std::optional<double> end;
  if (alloc_.end_time)
    end = *alloc_.end_time - static_cast<double>(execution_.sigkill_headroom_seconds);
  double exit_by = now + lead;
  if (end) exit_by = std::min(exit_by, std::max(now + 2, *end));
  // The loop ends half a second before: the unregistering call waits at most that long.
  const double deadline = exit_by - kLeaveCallSeconds;
  if (stop_deadline_ == 0 || deadline < stop_deadline_) stop_deadline_ = deadline;
  double grace = end ? std::min(lead - 5, *end - now - 5) : std::min(10.0, lead - 5);
  grace = std::max(1.0, std::min(grace, stop_deadline_ - now - 1));
  for (auto& [pid, r] : running_) Terminate(r, reason, grace);
}

// SIGUSR1 is Slurm's --signal warning (the walltime, or a preemption with PreemptParameters=
// send_user_signal). A SIGTERM near the known end is the walltime. Anything else is "stopped"
// (scancel, ^C) unless Slurm says it preempted the allocation or hit its time limit (it can be
// changed after the worker asked: scontrol update TimeLimit). Slurm is asked after the jobs
// were signalled, so a slow scontrol never delays stopping them.
void Worker::OnStopSignal(int signal) {
  if (draining_) return;  // already stopping: a second signal changes nothing
  const auto lead = execution_.sigterm_lead_seconds + execution_.sigkill_headroom_seconds;
  bool at_end = alloc_.end_time && Now() >= *alloc_.end_time - lead - 60;
  Stop(signal == SIGUSR1 || at_end ? "walltime" : "stopped");
  if (!alloc_.in_slurm || (signal != SIGTERM && signal != SIGUSR1)) return;
  const std::string why = SlurmStopReason(env_, o_.discovery, alloc_.slurm_job_id);
  if (why.empty() || why == stop_reason_) return;
  Log("Slurm says the allocation ends: " + why);
  for (auto& [pid, r] : running_)
    if (r.end_reason == stop_reason_) r.end_reason = why;
  stop_reason_ = why;
}

void Worker::OnExit(const ProcessExit& exit) {
  // The job's end is when it ended, not when it is reported (a held failure, a recovery
  // script): its duration is its own run time.
  ProcessExit e = exit;
  if (e.ended_at == 0) e.ended_at = Now();
  // A recovery script finished: now the failure is reported.
  for (auto it = running_.begin(); it != running_.end(); ++it) {
    if (it->second.recovery_pid == e.pid) {
      Finish(it->second, it->second.exit);
      running_.erase(it);
      return;
    }
  }
  auto it = running_.find(e.pid);
  if (it == running_.end()) return;
  if (launcher_->mode() == std::string_view("slurm")) CollectStep(it->second, &e);
  if (MayBeAllocationEnding(it->second, e)) {
    deferred_[e.pid] = {e, Now() + kAllocationEndingWaitSeconds};
    return;
  }
  Conclude(it, e);
}

void Worker::CollectStep(Running& r, ProcessExit* e) {
  if (launcher_->measures_in_step()) {
    const std::string prefix = UsageReportPrefix(job_output_dir_, r.job.id, r.job.attempt);
    for (uint32_t n : r.placement.nodes) {
      const std::string path = UsageReportPath(prefix, alloc_.nodes[n].name);
      if (auto report = ReadNodeUsageReport(path)) r.node_reports.push_back(std::move(*report));
      unlink(path.c_str());
    }
  }
  StepEvidence evidence;
  evidence.srun_exit_code = e->exit_code;
  evidence.nodes = r.placement.nodes.size();
  evidence.reports = r.node_reports;
  // Slurm's lines are read before srun's task lines are taken out; a successful step needs
  // neither (and its stderr is not touched).
  const std::string& err = r.outputs.err.empty() ? r.outputs.out : r.outputs.err;
  const bool unreported =
      launcher_->measures_in_step() && r.node_reports.size() < r.placement.nodes.size();
  if (!err.empty() && (e->exit_code != 0 || unreported)) {
    evidence.stderr_tail = FileTail(err, 16 * 1024);
    StripSrunTaskLines(err);
  }
  r.step = ClassifyStep(evidence);
  e->exit_code = r.step->exit_code;
  // The attempt ran from its command's start (the earliest node's), not from srun's call: a
  // slow step creation is not the job's time. The pacing learns from that delay.
  double started = 0;
  for (const auto& n : r.node_reports)
    if (n.started_at > 0 && (started == 0 || n.started_at < started)) started = n.started_at;
  if (started > 0) {
    launcher_->ObserveStepStart(started - r.launched_at);
    r.start_time = started;
  }
  if (!r.end_reason.empty()) return;  // torc stopped it: its reason stands
  if (r.step->kind == StepOutcome::Kind::kMemory) r.end_reason = "memory";
  else if (r.step->kind == StepOutcome::Kind::kRuntime) r.end_reason = "runtime";
}

void Worker::TakeStepOutcome(Running& r) {
  const StepOutcome& step = *r.step;
  switch (step.kind) {
    case StepOutcome::Kind::kExited:
    case StepOutcome::Kind::kMemory:
    case StepOutcome::Kind::kRuntime:
      // The command ran: Slurm runs steps again (there).
      if (!r.node_reports.empty() || step.exit_code == 0) {
        slurm_failures_in_row_ = 0;
        for (uint32_t n : r.placement.nodes) node_incidents_.erase(n);
      }
      return;
    case StepOutcome::Kind::kCancelled:
      return OnStepCancelled(r);
    case StepOutcome::Kind::kNodeFailure: {
      // ("Node failure on n3"; slurmstepd's "DUE TO NODE FAILURE" names no node)
      r.end_reason = "slurm: " + step.message + (step.node.empty() ? ", on " + r.nodes : "");
      for (uint32_t n = 0; n < alloc_.nodes.size(); ++n)
        if (alloc_.nodes[n].name == step.node && ledger_->MarkLost(n))
          Log("node " + step.node + " failed (" + step.message +
              "): nothing more is started there; job " + r.job.name + " is requeued");
      if (ledger_->all_lost() && finishing_reason_.empty()) {
        finishing_reason_ = "every node of this allocation failed, the last with \"" +
                            step.message + "\": this allocation takes no more jobs";
        Log(finishing_reason_ + "; finishing the running jobs, then leaving");
      }
      return;
    }
    case StepOutcome::Kind::kSlurmFailure:
      break;
  }
  // srun's message seldom names the node ("Communication connection failure", "Unable to get
  // address: ..." for a node that died under it): the reason says where the step was.
  r.end_reason = "slurm: " + step.message + ", on " + r.nodes;
  Log("job " + r.job.name + ": Slurm could not run its step on " + r.nodes + " (" +
      step.message + "); it is requeued");
  CountSlurmFailure(r, step.message);
}

void Worker::CountSlurmFailure(const Running& r, const std::string& message) {
  const double now = Now();
  if (r.placement.nodes.size() == 1) {
    const uint32_t n = r.placement.nodes[0];
    auto& [count, at] = node_incidents_.try_emplace(n, 0, -1e300).first->second;
    // (a step launched at the very moment a failure was counted came after it)
    if (r.launched_at >= at) {
      at = now;
      if (++count >= kMaxNodeIncidents && ledger_->MarkLost(n)) {
        Log("node " + alloc_.nodes[n].name + ": Slurm failed " + std::to_string(count) +
            " steps there in a row, the last with \"" + message +
            "\": nothing more is started there");
        if (ledger_->all_lost() && finishing_reason_.empty()) {
          finishing_reason_ = "Slurm failed " + std::to_string(count) +
                              " steps in a row on every node of this allocation, the last with "
                              "\"" + message + "\": this allocation takes no more jobs";
          Log(finishing_reason_ + "; finishing the running jobs, then leaving");
        }
      }
    }
  }
  if (r.launched_at < last_slurm_incident_at_) return;  // the same incident
  last_slurm_incident_at_ = now;
  if (++slurm_failures_in_row_ < kMaxSlurmFailuresInRow || !finishing_reason_.empty()) return;
  finishing_reason_ = "Slurm failed " + std::to_string(slurm_failures_in_row_) +
                      " steps in a row, the last with \"" + message +
                      "\": this allocation takes no more jobs";
  Log(finishing_reason_ + "; finishing the running jobs, then leaving");
}

// Slurm cancelled the step and torc did not ask for it: an `scancel JOB.STEP` (this job is
// "stopped", the worker goes on), or the allocation being preempted or at its time limit while
// the worker itself got no signal (PreemptMode=CANCEL with GraceTime signals only the steps).
void Worker::OnStepCancelled(Running& r) {
  const std::string why =
      alloc_.in_slurm ? SlurmStopReason(env_, o_.discovery, alloc_.slurm_job_id) : "";
  if (why.empty()) {
    r.end_reason = "stopped";
    Log("job " + r.job.name + ": Slurm cancelled its step; it is requeued");
    return;
  }
  r.end_reason = why;
  Log("job " + r.job.name + ": Slurm cancelled its step; Slurm says the allocation ends: " + why);
  if (!draining_) Stop(why);
}

/// The process of a running job ended: a failure runs its recovery script first,
/// anything else is reported now.
void Worker::Conclude(std::map<pid_t, Running>::iterator it, const ProcessExit& e) {
  Running& r = it->second;
  // A step whose node failed died of that, even when the worker was stopping anyway (Slurm
  // requeues an allocation that lost a node, signalling the worker as its steps die): the node
  // failure is its reason.
  if (r.step && r.step->kind == StepOutcome::Kind::kNodeFailure && r.end_reason == stop_reason_ &&
      draining_)
    r.end_reason.clear();
  if (r.end_reason.empty() && r.step) TakeStepOutcome(r);
  // A kill for memory is a failure with the workflow's oom_exit_code (137) in either mode, so
  // that a rule keyed on 137 runs its recovery script as for the job's own exit 137.
  const bool memory = r.end_reason == "memory";
  ProcessExit failure = e;
  if (memory) failure.exit_code = static_cast<int>(execution_.oom_exit_code);
  if ((memory || (r.end_reason.empty() && e.exit_code != 0)) && StartRecovery(r, failure))
    return;
  Finish(r, e);
  running_.erase(it);
}

bool Worker::StartRecovery(Running& r, const ProcessExit& e) {
  if (r.job.failure_handler < 0 || static_cast<size_t>(r.job.failure_handler) >= handlers_.size())
    return false;
  const spec::FailureRule* rule = handlers_[r.job.failure_handler].Match(e.exit_code);
  if (!rule || rule->recovery_script.empty()) return false;
  LaunchSpec spec = launcher_->RecoverySpec(r.job, r.placement, rule->recovery_script);
  spec.env["TORC_EXIT_CODE"] = std::to_string(e.exit_code);
  spec.stdout_path = spec.stderr_path = r.outputs.recovery_log;
  std::string error;
  r.recovery_pid = procs_.Start(spec, &error);
  if (r.recovery_pid < 0) return false;
  r.exit = e;
  return true;
}

void Worker::Finish(Running& r, const ProcessExit& e) {
  double now = Now();
  ledger_->Release(r.placement);
  // What the job wrote since the last 0.5 s check is cut too.
  for (const std::string* path : {&r.outputs.out, &r.outputs.err})
    CapOutputFile(*path, o_.max_log_bytes);
  AttemptStatus status = AttemptStatus::kCompleted;
  int exit_code = e.exit_code;
  if (r.end_reason == "memory") {
    status = AttemptStatus::kFailed;
    exit_code = static_cast<int>(execution_.oom_exit_code);
  } else if (r.end_reason == "runtime") {
    status = AttemptStatus::kTerminated;
    exit_code = static_cast<int>(execution_.timeout_exit_code);
  } else if (r.end_reason == "walltime" || r.end_reason == "stopped" ||
             r.end_reason == "preempted" || r.end_reason.rfind("slurm: ", 0) == 0) {
    status = AttemptStatus::kTerminated;
  } else if (r.end_reason == "canceled") {
    status = AttemptStatus::kCanceled;
  } else if (e.exit_code != 0) {
    status = AttemptStatus::kFailed;
  }
  double end = e.ended_at > 0 ? e.ended_at : now;
  Report(r.job, status, exit_code, e.signal, r.end_reason, r.start_time, end, r, &e);
  double took = end - r.start_time;
  mean_job_seconds_ = jobs_measured_++ == 0 ? took : 0.8 * mean_job_seconds_ + 0.2 * took;
  if (status == AttemptStatus::kCompleted && r.job.delete_on_success) {
    if (!r.outputs.out.empty()) unlink(r.outputs.out.c_str());
    if (!r.outputs.err.empty()) unlink(r.outputs.err.c_str());
  }
  ++done_;
}

void Worker::ReportUnstarted(const JobToRun& job, AttemptStatus status,
                             const std::string& reason) {
  const double now = Now();
  Report(job, status, 1, 0, reason, now, now, Running{});
}

void Worker::Report(const JobToRun& job, AttemptStatus status, int exit_code, int signal,
                    const std::string& reason, double start, double end, const Running& r,
                    const ProcessExit* e) {
  if (job.has_dependents) urgent_news_ = true;
  protocol::AttemptReport a;
  a.id = job.id;
  a.attempt = job.attempt;
  a.status = status;
  a.exit_code = status == AttemptStatus::kCompleted ? 0 : (exit_code ? exit_code : 1);
  a.signal = signal;
  a.reason = reason;  // cut to kMaxReasonBytes when encoded (protocol::FitText)
  a.start_time = start;
  a.end_time = end;
  a.nodes = r.nodes;
  if (e && monitor_.enabled) {
    if (launcher_->measures_in_step()) {
      // The figures of srun itself are not the job's: nothing when no node reported.
      CombineNodeUsage(r.node_reports, start, &a);
    } else if (launcher_->mode() == std::string_view("direct")) {
      a.peak_rss_bytes = std::max(e->peak_rss_bytes, r.usage.peak_rss_bytes());
      a.cpu_seconds = e->cpu_seconds;
      a.node_usage.push_back({alloc_.nodes[own_node_].name, a.peak_rss_bytes, a.cpu_seconds});
      a.samples = protocol::ThinSamples(r.usage.samples());
    }
  }
  results_.push_back(std::move(a));
}

}  // namespace torc::worker::internal
