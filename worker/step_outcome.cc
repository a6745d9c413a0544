#include "worker/step_outcome.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <string_view>

namespace torc::worker {
namespace {

using Kind = StepOutcome::Kind;

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

bool Contains(std::string_view s, std::string_view part) {
  return s.find(part) != std::string_view::npos;
}

// `slurmstepd: ...` or `slurmstepd-n1: ...`: the step daemon's lines.
bool IsStepdLine(std::string_view line) {
  if (!StartsWith(line, "slurmstepd")) return false;
  const size_t colon = line.find(": ");
  return colon != std::string_view::npos && line.substr(0, colon).find(' ') == std::string_view::npos;
}

// After "srun: error: ": "NODE: task 0: ...", "NODE: tasks 0-3,5: ..."; returns what follows
// the task range ("Exited with exit code 3", "Killed", "Out Of Memory"), or nullopt-like "".
bool TaskMessage(std::string_view error, std::string_view* rest) {
  const size_t colon = error.find(": ");
  if (colon == std::string_view::npos || colon == 0 ||
      error.substr(0, colon).find(' ') != std::string_view::npos)
    return false;
  std::string_view after = error.substr(colon + 2);
  if (StartsWith(after, "tasks ")) after.remove_prefix(6);
  else if (StartsWith(after, "task ")) after.remove_prefix(5);
  else return false;
  size_t i = 0;
  while (i < after.size() && (std::isdigit(static_cast<unsigned char>(after[i])) ||
                              after[i] == ',' || after[i] == '-'))
    ++i;
  if (i == 0 || after.substr(i, 2) != ": ") return false;
  *rest = after.substr(i + 2);
  return true;
}

constexpr std::string_view kSrunError = "srun: error: ";

// srun's message without the wrapper that only says where it happened: "Unable to create step
// for job 12: Step limit reached for this job" -> "Step limit reached for this job".
std::string SlurmCause(std::string_view message) {
  for (std::string_view wrapper : {"Unable to create step for job ", "Task launch for ",
                                   "Application launch failed: "}) {
    if (!StartsWith(message, wrapper)) continue;
    const size_t colon = message.rfind(": ");
    if (colon != std::string_view::npos && colon + 2 < message.size())
      return std::string(message.substr(colon + 2));
  }
  return std::string(message);
}

// What Slurm's own lines in a step's stderr say.
struct SlurmSays {
  bool out_of_memory = false;
  bool cancelled = false;
  std::string cancel_cause;  // "PREEMPTION", "TIME LIMIT", ... ("" when none given)
  bool node_failure = false;
  std::string failed_node, node_message;
  std::string failure;  // the first srun error that is not about a task's end
};

void ReadStepdLine(std::string_view line, SlurmSays* says) {
  if (Contains(line, "oom-kill event") || Contains(line, "oom_kill event") ||
      Contains(line, "Out Of Memory"))
    says->out_of_memory = true;
  // "*** STEP 12.3 ON n1 CANCELLED AT 2026-12-06T18:24:21 [DUE TO PREEMPTION] ***"
  const size_t stars = line.find("*** ");
  if (stars == std::string_view::npos || !Contains(line, " CANCELLED AT ")) return;
  says->cancelled = true;
  const size_t due = line.find(" DUE TO ");
  if (due == std::string_view::npos) return;
  std::string_view cause = line.substr(due + 8);
  cause = cause.substr(0, std::min(cause.find(" ***"), cause.find(',')));
  says->cancel_cause = std::string(cause);
  if (cause == "NODE FAILURE") {
    says->node_failure = true;
    if (says->node_message.empty()) says->node_message = "Node failure";
  }
}

void ReadSrunError(std::string_view error, SlurmSays* says) {
  std::string_view task;
  if (TaskMessage(error, &task)) {
    if (StartsWith(task, "Out Of Memory")) says->out_of_memory = true;
    return;
  }
  if (StartsWith(error, "Node failure on ")) {
    says->node_failure = true;
    says->failed_node = std::string(error.substr(16));
    says->node_message = std::string(error);
    return;
  }
  if (Contains(error, "Out Of Memory") || Contains(error, "oom-kill")) says->out_of_memory = true;
  if (says->failure.empty()) says->failure = SlurmCause(error);
}

SlurmSays ReadSlurmLines(const std::string& text) {
  SlurmSays says;
  size_t from = 0;
  while (from < text.size()) {
    size_t end = text.find('\n', from);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + from, end - from);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (StartsWith(line, kSrunError)) ReadSrunError(line.substr(kSrunError.size()), &says);
    else if (IsStepdLine(line)) ReadStepdLine(line, &says);
    from = end + 1;
  }
  return says;
}

}  // namespace

StepOutcome ClassifyStep(const StepEvidence& ev) {
  StepOutcome out;
  out.exit_code = ev.srun_exit_code;
  // The job's own exit, from the nodes that reported it: the first failure, else 0 when every
  // node of the step reported 0. Older reports have no exit code: srun's stands.
  bool all_known = ev.reports.size() >= ev.nodes;
  int own = 0;
  bool memory = false, runtime = false, signalled = false;
  for (const auto& r : ev.reports) {
    memory = memory || r.memory_killed;
    runtime = runtime || r.runtime_killed;
    signalled = signalled || r.slurm_signal != 0;
    if (r.exit_code < 0) all_known = false;
    else if (own == 0) own = r.exit_code;
  }
  if (own != 0 || all_known) out.exit_code = own;
  if (memory) return out.kind = Kind::kMemory, out;
  if (runtime) return out.kind = Kind::kRuntime, out;
  // The command ended well on every node.
  if (out.exit_code == 0 && all_known) return out;
  // srun says 0 but a node did not report: srun exits 0 after a node failure too (measured on
  // the lab: "srun: error: Node failure on n3", exit 0, the job killed there). Slurm's lines
  // decide; without any, srun's 0 stands (a report may be late on a shared file system).
  const SlurmSays says = ReadSlurmLines(ev.stderr_tail);
  if (says.out_of_memory) return out.kind = Kind::kMemory, out;
  if (says.node_failure) {
    out.kind = Kind::kNodeFailure;
    out.node = says.failed_node;
    out.message = says.node_message;
    return out;
  }
  if (says.cancelled || signalled) {
    out.kind = Kind::kCancelled;
    out.message = says.cancel_cause;
    return out;
  }
  // srun's own trouble counts only when the command did not run everywhere: a job that ran
  // and failed is the job's failure, whatever srun added.
  if (!says.failure.empty() && ev.reports.size() < ev.nodes) {
    out.kind = Kind::kSlurmFailure;
    out.message = says.failure;
    return out;
  }
  if (out.exit_code == 0) out.exit_code = ev.srun_exit_code;
  return out;
}

bool IsSrunTaskLine(const std::string& text) {
  std::string_view line(text);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (StartsWith(line, "srun: launch/slurm: _step_signal: ")) return true;
  if (!StartsWith(line, kSrunError)) return false;
  std::string_view task;
  if (!TaskMessage(line.substr(kSrunError.size()), &task)) return false;
  // "Exited with exit code N", or a signal's name ("Killed", "Terminated", "Aborted (core
  // dumped)"); "Out Of Memory" stays: it says why.
  return !StartsWith(task, "Out Of Memory");
}

bool StripSrunTaskLines(const std::string& path, size_t window) {
  const int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st {};
  if (fstat(fd, &st) != 0 || st.st_size == 0) {
    close(fd);
    return st.st_size == 0;
  }
  const off_t size = st.st_size;
  off_t from = size > static_cast<off_t>(window) ? size - static_cast<off_t>(window) : 0;
  std::string tail(static_cast<size_t>(size - from), '\0');
  const ssize_t n = pread(fd, tail.data(), tail.size(), from);
  if (n != static_cast<ssize_t>(tail.size())) {
    close(fd);
    return false;
  }
  // Start at a line's beginning: a partial first line is the job's text, left alone.
  size_t start = 0;
  if (from > 0) {
    start = tail.find('\n');
    start = start == std::string::npos ? tail.size() : start + 1;
  }
  std::string kept = tail.substr(0, start);
  bool removed = false;
  for (size_t at = start; at < tail.size();) {
    size_t end = tail.find('\n', at);
    const bool whole = end != std::string::npos;
    end = whole ? end + 1 : tail.size();
    const std::string line = tail.substr(at, end - at - (whole ? 1 : 0));
    if (IsSrunTaskLine(line)) removed = true;
    else kept.append(tail, at, end - at);
    at = end;
  }
  bool ok = true;
  if (removed) {
    ok = pwrite(fd, kept.data(), kept.size(), from) == static_cast<ssize_t>(kept.size()) &&
         ftruncate(fd, from + static_cast<off_t>(kept.size())) == 0;
  }
  close(fd);
  return ok;
}

void CombineNodeUsage(const std::vector<NodeUsageReport>& nodes, double attempt_start,
                      protocol::AttemptReport* a) {
  if (nodes.empty()) return;
  a->peak_rss_bytes = -1;
  a->cpu_seconds = -1;
  size_t longest = 0;
  for (const auto& n : nodes) {
    a->node_usage.push_back({n.node, n.peak_rss_bytes, n.cpu_seconds});
    a->peak_rss_bytes = std::max(a->peak_rss_bytes, n.peak_rss_bytes);
    if (n.cpu_seconds >= 0) a->cpu_seconds = std::max(0.0, a->cpu_seconds) + n.cpu_seconds;
    longest = std::max(longest, n.samples.size());
  }
  for (size_t i = 0; i < longest; ++i) {
    protocol::ResourceSample sum;
    bool timed = false;
    for (const auto& n : nodes) {
      if (i >= n.samples.size()) continue;
      if (!timed) sum.t = n.samples[i].t + (n.started_at > 0 ? n.started_at - attempt_start : 0);
      timed = true;
      sum.cpu_percent += n.samples[i].cpu_percent;
      sum.rss_bytes += n.samples[i].rss_bytes;
    }
    a->samples.push_back(sum);
  }
  a->samples = protocol::ThinSamples(std::move(a->samples));
}

}  // namespace torc::worker
