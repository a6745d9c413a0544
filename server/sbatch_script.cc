#include "server/sbatch_script.h"

#include <algorithm>
#include <cctype>
#include <sstream>

#include "spec/units.h"

namespace torc::server {

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

namespace {
/// `text` for a comment line of the script: a control character (a workflow name may hold a
/// line break) would end the comment and start a command, so each becomes '?'.
std::string CommentSafe(std::string text) {
  for (char& c : text)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = '?';
  return text;
}
// Whether the workflow's own options already ask for a signal (`--signal` in the scheduler's
// `extra` or in the plan's Slurm defaults): then torc adds none.
bool AsksForSignal(const spec::Plan& plan, const spec::SlurmScheduler& s) {
  for (const auto& [key, value] : plan.slurm_defaults) {
    std::string name = key.substr(key.find_first_not_of('-') == std::string::npos
                                      ? key.size() : key.find_first_not_of('-'));
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (name == "signal") return true;
  }
  std::istringstream words(s.extra);
  std::string w;
  while (words >> w)
    if (w == "--signal" || w.rfind("--signal=", 0) == 0) return true;
  return false;
}
}  // namespace

int64_t WarningLeadSeconds(const spec::Plan& plan, const spec::SlurmScheduler& s) {
  int64_t lead = std::max<int64_t>(
      60, plan.execution.sigterm_lead_seconds + plan.execution.sigkill_headroom_seconds);
  if (s.walltime_seconds > 0) lead = std::min(lead, std::max<int64_t>(1, s.walltime_seconds / 2));
  return std::min<int64_t>(lead, 65535);
}

int64_t StartupWindowSeconds(int64_t runners) {
  if (runners <= 1) return 0;
  if (runners <= 10) return runners;
  if (runners <= 100) return 10 + (runners - 10) * 50 / 90;
  return kMaxStartupWindowSeconds;
}

std::string SbatchScript(const spec::Plan& plan, const spec::SlurmScheduler& s,
                         const ScriptContext& c) {
  std::ostringstream o;
  auto opt = [&](const std::string& name, const std::string& value) {
    if (!value.empty()) o << "#SBATCH --" << name << "=" << value << "\n";
  };
  o << "#!/bin/bash\n";
  // The scheduler's fields were checked to hold no control character (spec, BatchScriptLineProblem).
  o << "# torc allocation for workflow " << c.workflow_id << " (" << CommentSafe(plan.name)
    << "), scheduler " << s.name << "\n";
  opt("job-name", "torc_" + std::to_string(c.workflow_id) + "_" + s.name);
  opt("account", s.account);
  opt("partition", s.partition);
  opt("qos", s.qos);
  opt("nodes", std::to_string(s.nodes));
  opt("time", spec::FormatSlurmWalltime(s.walltime_seconds));
  // The worker (the batch shell: it is exec'd below; srun forwards the signal to one worker
  // per node) takes SIGUSR1 as the allocation ending: the walltime, or a preemption on a
  // cluster with PreemptParameters=send_user_signal (docs/slurm.md, "Preemption").
  if (!AsksForSignal(plan, s)) opt("signal", "B:USR1@" + std::to_string(WarningLeadSeconds(plan, s)));
  // Whole nodes: every CPU, and all memory unless the scheduler says otherwise,
  // so the worker's job steps can run side by side.
  o << "#SBATCH --exclusive\n";
  opt("mem", s.mem.empty() ? "0" : s.mem);
  opt("gres", s.gres);
  if (s.ntasks_per_node) opt("ntasks-per-node", std::to_string(*s.ntasks_per_node));
  opt("tmp", s.tmp);
  opt("output", c.output_dir + "/slurm/%j.out");
  opt("error", c.output_dir + "/slurm/%j.err");
  opt("chdir", c.working_dir);
  for (const auto& [key, value] : plan.slurm_defaults)
    o << "#SBATCH --" << key << (value.empty() ? "" : "=" + value) << "\n";
  if (!s.extra.empty()) {
    std::istringstream words(s.extra);
    std::string w;
    while (words >> w) o << "#SBATCH " << w << "\n";
  }
  // Sites set SBATCH_EXPORT=NONE, and steps inherit it: every srun here and in the worker
  // passes the environment on.
  o << "\nexport SLURM_EXPORT_ENV=ALL\n";
  // Workers find the server through the data directory's server.url (the token is there too),
  // so a server restarted elsewhere is followed; the URL below is only what it was.
  o << "# server: " << CommentSafe(c.api_url) << "\n";
  o << "export TORC_DATA_DIR=" << ShellQuote(c.data_dir) << "\n";
  std::string worker = ShellQuote(c.torc_binary) + " worker run --workflow " +
                       std::to_string(c.workflow_id) + " --output-dir " +
                       ShellQuote(c.output_dir) + " --scheduler " + ShellQuote(s.name);
  // The action's idle_timeout: its idle workers leave, and the allocation ends with them.
  if (c.idle_timeout_seconds > 0)
    worker += " --idle-timeout " + std::to_string(c.idle_timeout_seconds);
  // The action's max_parallel_jobs: each worker (one per node, too) runs at most this many.
  if (c.max_parallel_jobs > 0)
    worker += " --max-parallel-jobs " + std::to_string(c.max_parallel_jobs);
  // staggered_start: every worker of this request waits a moment of its own before its first
  // call, so that many allocations starting together do not reach the server at once.
  if (plan.execution.staggered_start) {
    const int64_t runners = c.allocations * (c.one_worker_per_node ? s.nodes : 1);
    if (const int64_t window = StartupWindowSeconds(runners); window > 0)
      worker += " --startup-delay " + std::to_string(window);
  }
  if (c.one_worker_per_node) {
    // What Slurm says of the allocation (its end, its memory), read once here for all the
    // workers: each would otherwise ask slurmctld itself, all at the same moment (one RPC per
    // node, and a second of start-up each on a busy controller; docs/benchmarks.md). A worker
    // whose variable is empty or names another job asks on its own.
    const size_t slash = c.srun.rfind('/');
    const std::string scontrol =
        slash == std::string::npos ? "scontrol" : c.srun.substr(0, slash + 1) + "scontrol";
    o << "export TORC_SLURM_JOB=\"$(" << ShellQuote(scontrol)
      << " show job -o \"$SLURM_JOB_ID\" 2>/dev/null)\"\n";
    // One worker per node, each owning its node's CPUs, memory and GPUs: with
    // cgroup task plugins a step given one CPU would squeeze its jobs onto it.
    o << "exec " << ShellQuote(c.srun) << " --nodes=" << s.nodes << " --ntasks=" << s.nodes
      << " --ntasks-per-node=1 --cpus-per-task=\"$SLURM_CPUS_ON_NODE\" --mem=0"
      << " ${SLURM_GPUS_ON_NODE:+--gpus-per-node=$SLURM_GPUS_ON_NODE}"
      << " --kill-on-bad-exit=0"
      // A node's worker that is done early must not get the others killed (a site's
      // WaitTime), and the workers need no MPI wire-up (a site's MpiDefault) unless the
      // workflow's srun_mpi asks for one (Torc's meaning of the key: this srun's --mpi).
      << " --wait=0 --mpi="
      << (plan.execution.srun_mpi.empty() ? std::string("none") : plan.execution.srun_mpi)
      << " --export=ALL " << worker << " --mode direct --this-node-only\n";
  } else {
    o << "exec " << worker << "\n";
  }
  return o.str();
}

}  // namespace torc::server
