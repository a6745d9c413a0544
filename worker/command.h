// How a job becomes a process: the argv (bash -c, or srun wrapping it), the
// environment it sees and where its output goes. Pure functions, tested
// against the exact command lines.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "server/protocol/messages.h"
#include "server/protocol/output_paths.h"
#include "worker/ledger.h"

namespace torc::worker {

/// A claimed job as the worker runs it.
struct JobToRun {
  uint32_t id = 0;
  std::string name;
  uint32_t attempt = 1;
  std::string command;
  std::string invocation_script;
  std::map<std::string, std::string> env;
  JobNeeds needs;
  int64_t runtime_seconds = 3600;
  std::vector<uint32_t> suggested_nodes;
  std::string stdio_mode = "separate";  // separate, combined, no_stdout, no_stderr, none
  bool delete_on_success = false;
  int failure_handler = -1;
  bool has_dependents = false;  // other jobs wait for its result: it is reported at once
};

/// The job a claim (or the server's list of held jobs) handed over, as the worker runs it.
JobToRun JobFromClaim(const protocol::ClaimedJob& claimed);

/// The shell text: the invocation script, then the command.
std::string ShellScript(const JobToRun& job);

/// Options of slurm mode's srun line.
struct SrunOptions {
  std::string srun = "srun";
  std::string workflow_name;
  std::string signal;    // execution_config.srun_termination_signal, e.g. "TERM@120"
  bool cpu_bind = false; // execution_config.enable_cpu_bind
  std::string mpi;       // execution_config.srun_mpi: --mpi=<mpi> ("": Slurm's MpiDefault)
  /// What runs the command in the step and measures it (worker/job_exec.h): the small
  /// `torc-job-exec` executable, or a torc binary whose hidden `job-exec` does the same
  /// (JobExecWords); "" runs the command alone (nothing measured).
  std::string job_exec;
  std::string job_output_dir;      // where job-exec leaves its figures (UsageReportPrefix)
  bool limit_memory = false;       // job-exec kills a job over its memory request
  int64_t oom_exit_code = 137;     // and exits with this
  int64_t sample_interval_seconds = 0;  // a time series sample every this many seconds (0: none)
  int term_signal = 15;                 // job-exec's runtime limit: this signal first
  int64_t kill_after_seconds = 30;      // then SIGKILL this much later
  /// torc stops a job by sending srun SIGUSR2 (forwarded to job-exec, which gives the job
  /// term_signal): srun does not forward SIGTERM, SIGINT, SIGHUP or SIGQUIT but ends the step.
  bool stop_via_usr2 = false;
};

/// The words that start job-exec from `job_exec` (SrunOptions): the executable alone when it is
/// a `torc-job-exec`, else `<torc> job-exec`.
std::vector<std::string> JobExecWords(const std::string& job_exec);

/// What a worker running as the torc binary `torc` gives its steps to run: the
/// `torc-job-exec` beside it when that is executable (it starts in ~1/3 of torc's time, see
/// docs/benchmarks.md, "Session 17"), else `torc` itself.
std::string FindJobExec(const std::string& torc);

/// Whether srun would end the step on `signal` rather than forward it to the tasks (measured:
/// a job ignoring SIGTERM was gone 1.5 s after srun got SIGTERM).
bool SrunEndsStepOn(int signal);

/// `srun --nodes=N --ntasks=N --ntasks-per-node=1 --cpus-per-task=C --mem=M --exact
///  --nodelist=<nodes> --job-name=<workflow>_<job>_<attempt>
///  --export=ALL --quit-on-interrupt [--gpus-per-node=G | --gres=none] [--time=T] [--signal=S] [--mpi=P]
///  [--cpu-bind=cores] [<JobExecWords> --report <prefix> --runtime-limit R --term-signal N
///  --kill-after K [--memory-limit B --oom-exit-code C] [--sample-interval S] --]
///  bash -c '<script>'`; documented in docs/worker.md.
std::vector<std::string> SrunArgs(const JobToRun& job, const Placement& placement,
                                  const std::vector<NodeInfo>& nodes, const SrunOptions& options);

/// The command split into words when it has no shell syntax at all (plain words of
/// [A-Za-z0-9_./,:=+@%-], first word neither an assignment nor a bash builtin/keyword other
/// than true/false), so it can be executed without a shell; nullopt otherwise.
std::optional<std::vector<std::string>> SimpleArgv(const std::string& command);

/// Direct mode: the command's words executed as they are when SimpleArgv accepts it and there
/// is no invocation script (saves a bash start per job), else `bash -c '<script>'`.
std::vector<std::string> DirectArgs(const JobToRun& job);

/// The variables a job sees on top of the worker's environment.
struct JobContext {
  int64_t workflow_id = 0;
  std::string output_dir;
  std::string api_url;
  bool direct = true;        // set CUDA_VISIBLE_DEVICES / ROCR_VISIBLE_DEVICES from the placement
  bool node_has_gpus = false;
};
std::map<std::string, std::string> JobEnvironment(const JobToRun& job, const Placement& placement,
                                                  const JobContext& context);

/// Direct mode inside Slurm: the variables of the worker's own step (its task identity, its
/// task layout, MPI wire-up) a job must not inherit. A trailing '*' makes a name a prefix.
const std::vector<std::string>& InheritedStepVariables();
/// Direct mode inside Slurm: the job's nodes presented as its allocation, so that an `srun` or
/// `mpirun` in the command runs on the nodes torc reserved for it: SLURM_JOB_NODELIST,
/// SLURM_NODELIST, SLURM_JOB_NUM_NODES, SLURM_NNODES, SLURM_JOB_CPUS_PER_NODE,
/// SLURM_TASKS_PER_NODE, SLURM_HOSTFILE=`hostfile` (HostfileText) and SLURM_OVERLAP=1 (the
/// worker's own step holds the CPUs). Documented in docs/worker.md.
std::map<std::string, std::string> DirectSlurmEnvironment(const Placement& placement,
                                                          const std::vector<NodeInfo>& nodes,
                                                          const std::string& hostfile);
/// The hostfile of a placement: its nodes round robin, one line per CPU held on each.
std::string HostfileText(const Placement& placement, const std::vector<NodeInfo>& nodes);

/// The attempt's output files (server/protocol/output_paths.h) in `job_output_dir`.
protocol::AttemptOutputs OutputsFor(const JobToRun& job, const std::string& job_output_dir);

/// "n[1-2]"-style names are not needed here: a comma list of the placed nodes.
std::string NodeListOf(const Placement& placement, const std::vector<NodeInfo>& nodes);

}  // namespace torc::worker
