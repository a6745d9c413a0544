// The worker's side of the conversation with its server: claims carrying results and start
// notices, flushes, heartbeats, a lost lease, cancels, a server that refuses the worker or is in
// trouble, and taking back jobs a lost answer held. Part of the loop in worker_internal.h.
#include <signal.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "server/client/client.h"
#include "server/protocol/messages.h"
#include "worker/worker_internal.h"

namespace torc::worker::internal {
namespace {

// The id and attempt of a start notice or result, for messages.
template <typename Item>
std::string JobAttempt(const Item& item) {
  return "job " + std::to_string(item.id) + " attempt " + std::to_string(item.attempt);
}

}  // namespace

// ---- talking to the server ----------------------------------------------------------
Worker::Capacity Worker::ClaimCapacity() const {
  std::vector<NodeFree> free = ledger_->Free();
  Capacity c;
  for (const auto& f : free) {
    c.nodes.push_back({f.free_cpus, f.free_memory_bytes, f.free_gpus, f.total_cpus,
                       f.total_memory_bytes, f.total_gpus, f.idle});
    c.free_cpus += f.free_cpus;
    c.total_cpus += f.total_cpus;
  }
  // Jobs of seconds: also claim ahead (kept in a local queue), so that a slot that frees up
  // is refilled at once instead of after a round trip, and one request carries the news and
  // the next jobs of many slots. One round of the nodes' whole capacity, more for jobs under
  // 0.2 s (about 0.2 s of work). Only once a few jobs showed how long they take, and never
  // more than this worker's share of the ready jobs (by its part of all live workers' CPUs):
  // workers must not hoard each other's work, nor leave the last jobs queued behind one
  // worker's while others idle. Longer jobs are claimed as slots free: their requests are
  // few, and a job held in a queue for minutes could run on an allocation that starts later.
  if (Holding() || !ClaimsAhead()) return c;
  const int rounds =
      static_cast<int>(std::clamp(0.2 / std::max(mean_job_seconds_, 1e-3), 1.0, 16.0));
  const int64_t all = std::max(c.total_cpus, last_worker_cpus_);
  const auto share = static_cast<int64_t>(static_cast<double>(last_ready_) *
                                          static_cast<double>(c.total_cpus) /
                                          static_cast<double>(std::max<int64_t>(all, 1)));
  c.ahead = std::min(share, rounds * c.total_cpus);
  if (c.ahead <= 0) return c;
  for (int k = 0; k < rounds; ++k)
    for (const auto& f : free)
      c.nodes.push_back({f.total_cpus, f.total_memory_bytes, f.total_gpus, f.total_cpus,
                         f.total_memory_bytes, f.total_gpus, false});
  return c;
}

void Worker::Claim(double now) {
  // News a claim could not carry go first, on their own.
  if (news_alone_) {
    Flush();
    if (offline_ || Interrupted() || now < retry_at_) return;
  }
  if (StepLimitReached()) {
    next_claim_ = 1e300;  // never again: the loop ends once the jobs ended (Finished)
    if (FlushDue(now)) Flush();
    return;
  }
  protocol::ClaimRequest req;
  Capacity capacity = ClaimCapacity();
  req.nodes = std::move(capacity.nodes);
  req.total_cpus = capacity.total_cpus;
  const int64_t cpus = capacity.free_cpus + capacity.ahead;
  if (cpus <= 0) {
    next_claim_ = 1e300;  // wait for an exit
    if (FlushDue(now)) Flush();
    return;
  }
  const int64_t room = ParallelRoom();
  if (room <= 0) {
    next_claim_ = 1e300;  // at --max-parallel-jobs: wait for an exit
    if (FlushDue(now)) Flush();
    return;
  }
  req.worker_id = worker_id_;
  req.max_jobs =
      static_cast<uint32_t>(std::min<int64_t>({cpus, 1000, steps_left_.value_or(1000), room}));
  if (!news_alone_) {
    req.results = results_;
    req.started = started_;
  }
  req.scheduler = o_.scheduler;
  // One rule with validate and the server (docs/worker.md): the runtime must fit the time
  // left, with the allocation's start-up forgiven, so that runtime == walltime runs.
  if (alloc_.end_time)
    req.remaining_seconds = ClaimableRuntime(alloc_, now, kStartupAllowanceSeconds);
  // Idle, with nothing to report, after a claim that got nothing: the server holds this one
  // until a job is ready or the workflow completes (or a few seconds pass), instead of the
  // worker asking again and again. Not past the idle timeout.
  if (got_nothing_ && req.results.empty() && req.started.empty() && running_.empty() &&
      !Holding() && deferred_.empty() && !workflow_complete_) {
    const double idle_left = idle_since_ + o_.idle_timeout_seconds - now;
    if (idle_left >= 1) req.wait_seconds = std::min(kClaimWaitSeconds, std::floor(idle_left));
  }
  if (capacity.ahead > 0) ++claims_ahead_;
  auto r = api_.Claim(req);
  if (r.transient() || r.status == 409) {
    // The server may have handed out jobs whose answer never arrived (it died after
    // committing, the connection broke, the answer was garbled): find out before claiming
    // again. (409: no lease; the next heartbeat says so and the worker registers again.)
    if (r.status == 0 || r.status >= 500 || r.malformed()) resync_ = true;
    ServerTrouble(r.error);
    return;
  }
  if (!r.ok()) {
    if (r.status == 404 || r.status == 401 || r.status == 403)
      return Unwelcome(r.status, r.error);
    // Refused for good. Nothing of it was applied; if it carried news, one of them may be what
    // the server refuses: they go on their own (Deliver finds and drops the culprit) and the
    // claim is made again without them. Refused without news, the claim itself is refused.
    if (req.results.empty() && req.started.empty())
      return Unwelcome(r.status, "its claim was refused: " + r.error);
    Log("the server refused a claim carrying " + std::to_string(req.results.size()) +
        " result(s) and " + std::to_string(req.started.size()) + " start notice(s) (" + r.error +
        "); sending them on their own");
    news_alone_ = true;
    next_claim_ = 0;
    return;
  }
  ServerOk();
  if (!news_alone_) {
    results_.clear();
    started_.clear();
    first_pending_ = 0;
    urgent_news_ = false;
  }
  for (const auto& x : r.value->rejected)
    Log("the server rejected the result of " + JobAttempt(x) + ": " + x.reason);
  OnClaimAnswer(*r.value, now);
  // A claim the server held a while was the wait: the next one goes at once. (A server that
  // does not hold claims answers at once, and the backoff stands.)
  if (req.wait_seconds > 0 && r.value->jobs.empty() && Now() - now >= 1) {
    ++claims_waited_;
    next_claim_ = Now();
  }
}

int64_t Worker::ParallelRoom() const {
  if (o_.max_parallel_jobs <= 0) return INT64_MAX;
  // Claimed jobs count as soon as they are here: launched, placed or waiting in the queue.
  const auto here = static_cast<int64_t>(running_.size() + placed_.size() + queue_.size());
  return o_.max_parallel_jobs - here;
}

void Worker::OnClaimAnswer(const protocol::ClaimAnswer& answer, double now) {
  workflow_complete_ = answer.workflow_complete;
  last_ready_ = answer.ready;
  last_worker_cpus_ = answer.worker_cpus;
  // Nothing (more) is ready: the claim got nothing, or got the last ready jobs with nothing
  // blocked behind others either (the tail of a sweep). Exits then do not claim at once.
  nothing_ready_ = answer.ready == 0 && (answer.jobs.empty() || answer.blocked == 0);
  got_nothing_ = answer.jobs.empty();
  ++claims_;
  if (answer.jobs.empty()) ++claims_empty_;
  CountSteps(static_cast<int64_t>(answer.jobs.size()));
  for (const auto& j : answer.jobs) queue_.push_back(JobFromClaim(j));
  LaunchQueued();
  bool idle = answer.jobs.empty() && running_.empty() && !Holding();
  stuck_ = idle && answer.unfinished > 0;
  // A complete workflow has no job left that could fit: that is no reason to leave (a worker
  // that stays at completion waits for restarted jobs).
  nothing_fits_ = idle && answer.runnable.value_or(1) == 0 && !answer.workflow_complete;
  if (answer.jobs.empty()) {
    // Nothing ready and nothing waiting for others while jobs of its own run (the tail of a
    // sweep): only a retry, a restart or a rerun can make a job ready, so the claims slow down
    // at once; the last of its jobs to end claims again at once (WaitAndHandle). An idle
    // worker keeps the short backoff: it learns soon that the workflow is complete.
    // Busy at the tail, the wait doubles from 2 s up to 30 s: an idle worker's claim waits at
    // the server and takes a restarted job at once, and a retry is the failed job's own
    // worker's (its result rides on the claim that takes the retry).
    claim_backoff_ = answer.ready == 0 && answer.blocked == 0 && !running_.empty()
                         ? std::clamp(claim_backoff_ * 2, kMaxClaimBackoffSeconds,
                                      kBusyTailBackoffSeconds)
                         : std::min(kMaxClaimBackoffSeconds, std::max(0.05, claim_backoff_ * 2));
    next_claim_ = now + claim_backoff_;
  } else if (answer.ready == 0 && answer.blocked == 0 && !running_.empty()) {
    // It got the last ready jobs: another claim now would get nothing.
    claim_backoff_ = kMaxClaimBackoffSeconds;
    next_claim_ = now + claim_backoff_;
  } else {
    claim_backoff_ = 0;
    next_claim_ = now;  // there may be more that fits
  }
}

/// Results and start notices wait for a claim to carry them, unless nothing else is going on
/// or they have waited NewsHold(): jobs' news travel together, in few requests.
bool Worker::FlushDue(double now) {
  if (results_.empty()) urgent_news_ = false;
  if (results_.empty() && started_.empty()) return false;
  if (running_.empty() || results_.size() >= 256) return true;
  if (first_pending_ == 0) first_pending_ = now;
  return now - first_pending_ >= NewsHold();
}

void Worker::Flush() {
  first_pending_ = 0;
  ++flushes_;
  if (!results_.empty() && !news_alone_ && !offline_) {
    // One request: the start notices travel with the results (applied first).
    auto r = api_.Complete({worker_id_, results_, started_});
    if (r.ok() || r.status == 409) {
      if (r.status == 409) Log("the server rejected some results: " + r.error);
      if (r.ok() && r.value->workflow_complete) workflow_complete_ = true;
      results_.clear();
      started_.clear();
      urgent_news_ = false;
      return ServerOk();
    }
    if (!RequestRefused(r)) return;
    ServerOk();
    news_alone_ = true;  // apart, then one at a time (Deliver finds what it refuses)
  }
  if (!started_.empty())
    Deliver(started_, "start notice", [this](const std::vector<protocol::StartNotice>& s) {
      return api_.Start({worker_id_, s});
    });
  if (!results_.empty() && !offline_)
    Deliver(results_, "result", [this](const std::vector<protocol::AttemptReport>& s) {
      return api_.Complete({worker_id_, s, {}});
    });
  if (results_.empty() && started_.empty()) news_alone_ = false;
}

template <typename T>
bool Worker::RequestRefused(const server::ApiAnswer<T>& r) {
  if (r.transient()) {
    ServerTrouble(r.error);
    return false;
  }
  if (r.status == 404 || r.status == 401 || r.status == 403) {
    Unwelcome(r.status, r.error);
    return false;
  }
  return true;
}

template <typename Item, typename Send>
void Worker::Deliver(std::vector<Item>& items, const char* what, Send send) {
  // 409 (results): some were rejected (stale: this worker lost them; or contradicting a
  // recorded report); the others were recorded. Either way they are done with.
  auto r = send(items);
  if (r.ok() || r.status == 409) {
    if (r.status == 409) Log("the server rejected some " + std::string(what) + "s: " + r.error);
    items.clear();
    return ServerOk();
  }
  if (!RequestRefused(r)) return;
  ServerOk();  // it answers: no backoff
  if (items.size() > 1)
    Log("the server refused " + std::to_string(items.size()) + " " + what + "s together (" +
        r.error + "); sending them one at a time");
  for (bool first = true; !items.empty() && !offline_; first = false) {
    if (!first && Interrupted()) return;  // the loop comes back for the rest
    BoundCallTime();
    auto one = items.size() == 1 && first ? r : send(std::vector<Item>{items.front()});
    if (one.status == 409)
      Log("the server rejected the " + std::string(what) + " of " + JobAttempt(items.front()) +
          ": " + one.error);
    else if (!one.ok() && !RequestRefused(one)) return;
    else if (!one.ok())
      Log("dropped the " + std::string(what) + " of " + JobAttempt(items.front()) +
          ": the server refuses it: " + one.error);
    items.erase(items.begin());
  }
}

void Worker::Heartbeat() {
  auto r = api_.Heartbeat(worker_id_);
  if (r.status == 409) return OnLeaseLost();
  if (r.transient()) return ServerTrouble(r.error);
  if (!r.ok()) return Unwelcome(r.status, r.error);
  ServerOk();
  workflow_complete_ = r.value->workflow_complete;
  for (uint32_t id : r.value->stop_jobs) CancelJob(id);
}

void Worker::OnLeaseLost() {
  // The lease expired (the server was unreachable too long): the jobs were
  // given to others, so ours must not go on. Start over.
  Log("lease lost; stopping this worker's jobs and registering again");
  // Their results are reported all the same (the server rejects them as stale), but no
  // recovery script runs for a job that is someone else's now.
  for (auto& [pid, run] : running_) {
    if (run.end_reason.empty()) run.end_reason = "lease lost";
    if (run.recovery_pid > 0) procs_.Signal(run.recovery_pid, SIGKILL);
    else if (!deferred_.count(pid)) procs_.Signal(pid, SIGKILL);  // (a held one has ended)
  }
  // Those not started yet were given to others too.
  queue_.clear();
  DropPlaced();
  Register();
}

void Worker::CancelJob(uint32_t id) {
  for (auto& [pid, run] : running_)
    if (run.job.id == id) Terminate(run, "canceled", 5);
  // A canceled job not started yet is reported canceled at once.
  auto queued = std::find_if(queue_.begin(), queue_.end(),
                             [id](const JobToRun& j) { return j.id == id; });
  if (queued != queue_.end()) {
    ReportUnstarted(*queued, protocol::AttemptStatus::kCanceled, "canceled");
    queue_.erase(queued);
  }
  auto placed = std::find_if(placed_.begin(), placed_.end(),
                             [id](const Placed& p) { return p.job.id == id; });
  if (placed != placed_.end()) {
    ledger_->Release(placed->placement);
    ReportUnstarted(placed->job, protocol::AttemptStatus::kCanceled, "canceled");
    placed_.erase(placed);
  }
}

void Worker::Unwelcome(int status, const std::string& error) {
  const std::string wf = "workflow " + std::to_string(o_.workflow_id);
  if (status == 404)
    GiveUp(wf + " is gone from the server at " + api_.url() + " (" + error +
           "; deleted, or not this token's)");
  else if (status == 401 || status == 403)
    GiveUp("the server at " + api_.url() + " refuses this worker's token (HTTP " +
           std::to_string(status) + ": " + error + ")");
  else
    GiveUp("the server at " + api_.url() + " refuses this worker (HTTP " +
           std::to_string(status) + ": " + error + ")");
}

void Worker::GiveUp(const std::string& why) {
  if (offline_) return;
  offline_ = true;
  stop_code_ = 1;
  Log(why + "; stopping this worker's " + std::to_string(running_.size()) +
      " running job(s) and leaving");
  results_.clear();
  started_.clear();
  queue_.clear();
  resync_ = false;
  Stop("stopped");
}

int Worker::LeaveAtStopDeadline() {
  size_t killed = 0;
  for (auto& [pid, run] : running_) {
    if (deferred_.count(pid)) continue;  // its process has ended
    procs_.Signal(run.recovery_pid > 0 ? run.recovery_pid : pid, SIGKILL);
    ++killed;
  }
  const size_t unreported = offline_ ? 0 : results_.size() + running_.size();
  Log("the stop lead is over: leaving" +
      (killed ? ", " + std::to_string(killed) + " job(s) killed" : std::string()) +
      (unreported ? ", the results of " + std::to_string(unreported) +
                        " job(s) not reported (the server gives their jobs to others)"
                  : std::string()));
  return stop_code_;
}

void Worker::ServerTrouble(const std::string& error) {
  // Keep running jobs and their results; try again later, backing off.
  if (!trouble_logged_) Log("server trouble, will retry: " + error);
  trouble_logged_ = true;
  trouble_backoff_ = std::clamp(trouble_backoff_ * 2, 0.25, 5.0);
  const double jitter = 0.8 + 0.4 * (static_cast<double>(std::rand()) / RAND_MAX);
  retry_at_ = Now() + trouble_backoff_ * jitter;
}

void Worker::Resync() {
  auto r = api_.HeldJobs(worker_id_);
  if (r.transient()) return ServerTrouble(r.error);
  if (r.status == 404 || r.status == 401 || r.status == 403) return Unwelcome(r.status, r.error);
  if (!r.ok()) {
    // 409: no lease any more: the heartbeat will find out and register again.
    if (r.status != 409) Log("cannot ask which jobs this worker holds: " + r.error);
    resync_ = false;
    return;
  }
  ServerOk();
  resync_ = false;
  int taken = 0;
  for (const auto& j : r.value->jobs) {
    if (j.status != "claimed" || Knows(j.id, j.attempt)) continue;
    queue_.push_back(JobFromClaim(j));
    ++taken;
  }
  CountSteps(taken);
  if (taken > 0) Log("took back " + std::to_string(taken) + " job(s) claimed in a lost answer");
  LaunchQueued();
}

bool Worker::Knows(uint32_t id, uint32_t attempt) const {
  for (const auto& [pid, run] : running_)
    if (run.job.id == id && run.job.attempt == attempt) return true;
  for (const auto& q : queue_)
    if (q.id == id && q.attempt == attempt) return true;
  for (const auto& p : placed_)
    if (p.job.id == id && p.job.attempt == attempt) return true;
  for (const auto& res : results_)
    if (res.id == id && res.attempt == attempt) return true;
  return false;
}

void Worker::ServerOk() {
  if (trouble_logged_) Log("the server answers again");
  trouble_logged_ = false;
  trouble_backoff_ = 0;
  retry_at_ = 0;
}

server::ApiAnswer<protocol::RegistrationAnswer> Worker::RegisterWithRetries(
    const protocol::Registration& m) {
  server::ApiAnswer<protocol::RegistrationAnswer> r;
  for (int attempt = 0; attempt < 30; ++attempt) {
    r = api_.Register(m);
    // Retried: no answer, a server error or one still starting, 408, 429. Not a malformed
    // answer: the server may have registered the worker, and would again.
    if (!r.transient() || r.malformed()) return r;
    Stash(procs_.WaitForEvent(std::min(5.0, 0.1 * (1 << std::min(attempt, 5)))));
    if (stashed_.signal) {
      r.error = "stopped by a signal while registering (last error: " + r.error + ")";
      return r;
    }
  }
  return r;
}

}  // namespace torc::worker::internal
