#include "worker/command.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <set>
#include <string_view>

#include "spec/plan.h"
#include "worker/usage.h"

namespace torc::worker {
namespace {
// The small executable cmd/job_exec_main.cc builds, installed beside torc.
constexpr std::string_view kJobExecName = "torc-job-exec";
}  // namespace

std::string ShellScript(const JobToRun& job) {
  if (job.invocation_script.empty()) return job.command;
  std::string s = job.invocation_script;
  if (s.back() != '\n') s += '\n';
  return s + job.command;
}

std::string NodeListOf(const Placement& placement, const std::vector<NodeInfo>& nodes) {
  std::string out;
  for (uint32_t n : placement.nodes) out += (out.empty() ? "" : ",") + nodes[n].name;
  return out;
}

bool SrunEndsStepOn(int signal) {
  return signal == SIGTERM || signal == SIGINT || signal == SIGHUP || signal == SIGQUIT ||
         signal == SIGKILL;
}

std::vector<std::string> SrunArgs(const JobToRun& job, const Placement& placement,
                                  const std::vector<NodeInfo>& nodes, const SrunOptions& options) {
  const int64_t n = static_cast<int64_t>(placement.nodes.size());
  const int64_t mem_mb = std::max<int64_t>(1, (placement.memory_per_node + (1 << 20) - 1) >> 20);
  std::vector<std::string> args = {
      options.srun,
      "--nodes=" + std::to_string(n),
      "--ntasks=" + std::to_string(n),
      "--ntasks-per-node=1",
      "--cpus-per-task=" + std::to_string(placement.cpus_per_node),
      placement.whole_nodes ? std::string("--mem=0") : "--mem=" + std::to_string(mem_mb),
      "--exact",
      "--nodelist=" + NodeListOf(placement, nodes),
      "--job-name=" + options.workflow_name + "_" + job.name + "_" + std::to_string(job.attempt),
      // Sites set SBATCH_EXPORT=NONE, which steps inherit: the job sees the worker's environment.
      "--export=ALL",
      // torc's stop ends with SIGINT to srun once the grace is over: srun then cancels the
      // step and waits for Slurm to end it, instead of asking whether to (Worker::Terminate).
      "--quit-on-interrupt",
  };
  if (job.needs.gpus > 0 || (placement.whole_nodes && !placement.gpus.empty() &&
                             !placement.gpus[0].empty()))
    args.push_back("--gpus-per-node=" +
                   std::to_string(placement.gpus.empty() ? job.needs.gpus
                                                         : static_cast<int64_t>(placement.gpus[0].size())));
  else
    // A step that asks for no GRES gets all of the job's: in a GPU allocation, CPU jobs would
    // hold every GPU and run one after another with the GPU jobs.
    args.push_back("--gres=none");
  // Slurm ends the step a little after torc's own runtime limit, as a backstop.
  args.push_back("--time=" + std::to_string((job.runtime_seconds + 59) / 60 + 1));
  if (!options.signal.empty()) args.push_back("--signal=" + options.signal);
  if (options.cpu_bind) args.push_back("--cpu-bind=cores");
  if (!options.mpi.empty()) args.push_back("--mpi=" + options.mpi);
  if (!options.job_exec.empty()) {
    for (auto& w : JobExecWords(options.job_exec)) args.push_back(std::move(w));
    args.insert(args.end(),
                {"--report", UsageReportPrefix(options.job_output_dir, job.id, job.attempt)});
    // The runtime counts from the command's start in the step, not from srun's call (a slow
    // step creation is not the job's time).
    args.insert(args.end(), {"--runtime-limit", std::to_string(job.runtime_seconds),
                             "--term-signal", std::to_string(options.term_signal),
                             "--kill-after", std::to_string(options.kill_after_seconds)});
    if (options.stop_via_usr2) args.push_back("--stop-via-usr2");
    if (options.limit_memory && job.needs.memory_bytes > 0)
      args.insert(args.end(), {"--memory-limit", std::to_string(job.needs.memory_bytes),
                               "--oom-exit-code", std::to_string(options.oom_exit_code)});
    if (options.sample_interval_seconds > 0)
      args.insert(args.end(),
                  {"--sample-interval", std::to_string(options.sample_interval_seconds)});
    args.push_back("--");
    // job-exec starts the command on the node as direct mode does: a plain command without
    // bash (a bash start costs each step ~10 ms of CPU on the saturated 64-node lab).
    for (auto& a : DirectArgs(job)) args.push_back(std::move(a));
    return args;
  }
  args.push_back("bash");
  args.push_back("-c");
  args.push_back(ShellScript(job));
  return args;
}

std::vector<std::string> JobExecWords(const std::string& job_exec) {
  const size_t slash = job_exec.rfind('/');
  const std::string_view name =
      std::string_view(job_exec).substr(slash == std::string::npos ? 0 : slash + 1);
  if (name == kJobExecName) return {job_exec};
  return {job_exec, "job-exec"};
}

std::string FindJobExec(const std::string& torc) {
  const size_t slash = torc.rfind('/');
  if (slash == std::string::npos) return torc;
  std::string beside = torc.substr(0, slash + 1) + std::string(kJobExecName);
  return access(beside.c_str(), X_OK) == 0 ? beside : torc;
}

std::optional<std::vector<std::string>> SimpleArgv(const std::string& command) {
  // Words of these characters mean the same to bash as to execvp: no quoting, expansion,
  // redirection, globbing, grouping or comments.
  auto plain = [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) || std::strchr("_./,:=+@%-", ch);
  };
  std::vector<std::string> words;
  std::string word;
  for (char ch : command) {
    if (ch == ' ' || ch == '\t') {
      if (!word.empty()) words.push_back(std::move(word));
      word.clear();
    } else if (ch != '\0' && plain(ch)) {
      word += ch;
    } else {
      return std::nullopt;
    }
  }
  if (!word.empty()) words.push_back(std::move(word));
  if (words.empty()) return std::nullopt;
  const std::string& first = words[0];
  // An assignment (`X=1 prog`) or a bash builtin/keyword needs the shell. `true` and `false`
  // are the exceptions: the programs behave exactly as the builtins.
  static const std::set<std::string> kShellWords = {
      "alias", "bg", "bind", "break", "builtin", "caller", "case", "cd", "command", "compgen",
      "complete", "compopt", "continue", "coproc", "declare", "dirs", "disown", "do", "done",
      "echo", "elif", "else", "enable", "esac", "eval", "exec", "exit", "export", "fc", "fg",
      "fi", "for", "function", "getopts", "hash", "help", "history", "if", "in", "jobs", "kill",
      "let", "local", "logout", "mapfile", "popd", "printf", "pushd", "pwd", "read", "readarray",
      "readonly", "return", "select", "set", "shift", "shopt", "source", "suspend", "test",
      "then", "time", "times", "trap", "type", "typeset", "ulimit", "umask", "unalias",
      "unset", "until", "wait", "while", "."};
  if (first.find('=') != std::string::npos || kShellWords.count(first)) return std::nullopt;
  return words;
}

JobToRun JobFromClaim(const protocol::ClaimedJob& c) {
  JobToRun job;
  job.id = c.id;
  job.name = c.name;
  job.attempt = c.attempt;
  job.command = c.command;
  job.invocation_script = c.invocation_script;
  job.env = c.env;
  job.needs = {c.num_cpus, c.memory_bytes, c.num_gpus, c.num_nodes};
  job.runtime_seconds = c.runtime_seconds;
  job.suggested_nodes = c.nodes;
  job.stdio_mode = spec::ToString(c.stdio_mode);
  job.delete_on_success = c.delete_on_success;
  job.failure_handler = static_cast<int>(c.failure_handler);
  job.has_dependents = c.has_dependents;
  return job;
}

std::vector<std::string> DirectArgs(const JobToRun& job) {
  if (job.invocation_script.empty())
    if (auto argv = SimpleArgv(job.command)) return *argv;
  return {"bash", "-c", ShellScript(job)};
}

std::map<std::string, std::string> JobEnvironment(const JobToRun& job, const Placement& placement,
                                                  const JobContext& context) {
  std::map<std::string, std::string> env = job.env;
  env["TORC_WORKFLOW_ID"] = std::to_string(context.workflow_id);
  env["TORC_JOB_ID"] = std::to_string(job.id);
  env["TORC_JOB_NAME"] = job.name;
  env["TORC_ATTEMPT"] = std::to_string(job.attempt);
  env["TORC_OUTPUT_DIR"] = context.output_dir;
  env["TORC_API_URL"] = context.api_url;
  if (context.direct && context.node_has_gpus) {
    std::string ids;
    if (!placement.gpus.empty())
      for (int g : placement.gpus[0]) {
        if (!ids.empty()) ids.push_back(',');
        ids.append(std::to_string(g));
      }
    env["CUDA_VISIBLE_DEVICES"] = ids;
    env["ROCR_VISIBLE_DEVICES"] = ids;
  }
  return env;
}

const std::vector<std::string>& InheritedStepVariables() {
  static const std::vector<std::string> kNames = {
      "SLURM_STEP_*",     "SLURM_STEPID",       "SLURM_PROCID",       "SLURM_LOCALID",     "SLURM_NODEID",
      "SLURM_GTIDS",      "SLURM_TASK_PID",     "SLURM_CPUS_PER_TASK", "SLURM_TRES_PER_TASK",
      "SLURM_NTASKS*",    "SLURM_NPROCS",       "SLURM_CPU_BIND*",   "SLURM_DISTRIBUTION",
      "SLURM_SRUN_COMM_*", "SLURM_LAUNCH_NODE_IPADDR", "SLURM_UMASK", "SLURM_PRIO_PROCESS",
      "SLURM_GPUS_PER_NODE", "SLURM_TASKS_PER_NODE", "SLURM_MPI_TYPE", "PMI*", "PMIX*",
      "OMPI_MCA_*",       "TORC_SLURM_JOB"};
  return kNames;
}

std::map<std::string, std::string> DirectSlurmEnvironment(const Placement& placement,
                                                          const std::vector<NodeInfo>& nodes,
                                                          const std::string& hostfile) {
  const std::string list = NodeListOf(placement, nodes);
  const std::string count = std::to_string(placement.nodes.size());
  const std::string per_node =
      std::to_string(placement.cpus_per_node) + "(x" + count + ")";
  return {{"SLURM_JOB_NODELIST", list},   {"SLURM_NODELIST", list},
          {"SLURM_JOB_NUM_NODES", count}, {"SLURM_NNODES", count},
          {"SLURM_JOB_CPUS_PER_NODE", per_node}, {"SLURM_TASKS_PER_NODE", per_node},
          {"SLURM_HOSTFILE", hostfile},   {"SLURM_OVERLAP", "1"}};
}

std::string HostfileText(const Placement& placement, const std::vector<NodeInfo>& nodes) {
  // Round robin, one line per CPU: `srun -N2 -n2` reads the first two lines (one task per
  // node) and `srun -n8` on 2 x 4 CPUs the first eight.
  std::string out;
  for (int64_t c = 0; c < std::max<int64_t>(1, placement.cpus_per_node); ++c)
    for (uint32_t n : placement.nodes) out += nodes[n].name + "\n";
  return out;
}

protocol::AttemptOutputs OutputsFor(const JobToRun& job, const std::string& dir) {
  return protocol::AttemptOutputPaths(dir, job.name, job.attempt,
                                      spec::StdioModeNamed(job.stdio_mode));
}

}  // namespace torc::worker
