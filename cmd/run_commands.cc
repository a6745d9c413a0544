// `torc worker run` (inside an allocation, or anywhere) and `torc run` (a
// whole workflow on this machine with a private server).
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <string>
#include <thread>

#include <CLI/CLI.hpp>

#include "cmd/client_support.h"
#include "cmd/commands.h"
#include "cmd/progress.h"
#include "cmd/rerun_client.h"
#include "cmd/slurm_setup.h"
#include "cmd/workflow_file.h"
#include "server/advertise.h"
#include "server/client/client.h"
#include "server/util/data_dir.h"
#include "server/embedded.h"
#include "server/sbatch_script.h"
#include "server/slurm.h"
#include "spec/plan.h"
#include "spec/units.h"
#include "worker/log_cap.h"
#include "worker/worker.h"

namespace torc::cmd {
namespace {

/// Signals the worker handles itself (through a signalfd) must be blocked in
/// every thread, so block them before any thread starts.
void BlockWorkerSignals() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGUSR1}) sigaddset(&set, s);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

struct ResourceFlags {
  int64_t cpus = 0;
  std::string memory, time_limit;
  int64_t gpus = -1;
};

void AddResourceFlags(CLI::App* app, ResourceFlags* f) {
  app->add_option("--cpus", f->cpus, "CPUs per node to use (default: all)");
  app->add_option("--memory", f->memory, "Memory per node to use, e.g. 64g (default: all)");
  app->add_option("--gpus", f->gpus, "Number of GPUs per node (default: found ones)");
  app->add_option("--time-limit", f->time_limit,
                  "Stop claiming jobs that do not fit in this time, e.g. PT2H or 02:00:00");
}

bool ApplyResourceFlags(const ResourceFlags& f, worker::DiscoveryOptions* d, std::string* error) {
  if (f.cpus > 0) d->cpus = f.cpus;
  if (f.gpus >= 0) d->gpus = f.gpus;
  if (!f.memory.empty()) {
    int64_t bytes = 0;
    if (!spec::ParseMemory(f.memory, &bytes, error)) return false;
    d->memory_bytes = bytes;
  }
  if (!f.time_limit.empty()) {
    int64_t seconds = 0;
    if (!spec::ParseIsoDuration(f.time_limit, &seconds, error) &&
        !spec::ParseSlurmWalltime(f.time_limit, &seconds, error)) {
      *error = "--time-limit '" + f.time_limit + "' is neither ISO-8601 (PT2H) nor HH:MM:SS";
      return false;
    }
    d->time_limit_seconds = static_cast<double>(seconds);
  }
  return true;
}

std::string AbsolutePath(const std::string& p) { return p.empty() || p[0] == '/' ? p : CurrentDirectory() + "/" + p; }

/// One line of progress on a terminal (rewritten in place), nothing when piped.
class ProgressLine {
 public:
  explicit ProgressLine(bool tty) : tty_(tty), start_(std::chrono::steady_clock::now()) {}
  void Show(const nlohmann::json& counts, int64_t total) {
    if (!tty_) return;
    double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    std::fprintf(stderr, "\r\033[K%s  [%.0fs]", ProgressText(counts, total, 20, false).c_str(), elapsed);
    std::fflush(stderr);
  }
  void Done() {
    if (tty_) std::fprintf(stderr, "\n");
  }

 private:
  bool tty_;
  std::chrono::steady_clock::time_point start_;
};

/// Finds the workflow this file created in an earlier `torc run` of the same
/// output directory, to resume it; 0 when there is none.
int64_t FindPrevious(server::ApiClient& client, const std::string& file) {
  auto r = client.Call("GET", "/workflows");
  if (!r.ok()) return 0;
  int64_t found = 0;
  for (const auto& w : r.body["workflows"])
    if (w["file_name"] == file) found = w["workflow_id"];
  return found;
}

/// Where `torc run` stands once it knows its workflow: run it, stop with 0 (a dry run was
/// told), or stop with 1 (told why).
enum class RunStart { kRun, kDone, kFailed };

/// `torc run` again: the file as it is now updates the workflow of the earlier run, so that
/// the jobs it makes out of date run again (docs/rerun.md). *as_new when the file has other
/// jobs or dependencies and must be started as a new workflow.
RunStart UpdatePrevious(server::ApiClient& client, int64_t wf, const std::string& abs_file,
                        const std::string& text, const spec::Plan& plan, const std::string& out,
                        bool dry_run, bool hash, bool* as_new) {
  auto r = SendUpdate(client, wf, text, abs_file, plan, CurrentDirectory(), dry_run, hash);
  if (IsOutOfScope(r)) {
    std::cerr << "torc: " << r.error << "\ntorc: " << (dry_run ? "`torc run` would start" : "starting")
              << " it as a new workflow in " << Printable(out) << "\n";
    *as_new = true;
    return dry_run ? RunStart::kDone : RunStart::kRun;
  }
  if (!r.ok()) {
    Warn(client.Describe(r));
    return RunStart::kFailed;
  }
  std::cerr << "torc: " << DescribeUpdate(r.body);
  return dry_run ? RunStart::kDone : RunStart::kRun;
}

/// The workflow of `torc run`: the one an earlier run of the same file in this output
/// directory created, updated from the file as it is now (docs/rerun.md), else a new one from
/// `text` and its `"@file"` parameter files. With `dry_run`, only says what would run.
RunStart ResumeOrSubmit(server::ApiClient& client, const std::string& abs_file,
                        const std::string& text, const spec::Plan& plan, const std::string& out,
                        bool dry_run, bool hash, int64_t* wf) {
  *wf = FindPrevious(client, abs_file);
  bool as_new = false;
  if (*wf) {
    // Resume: the previous run's worker is gone; give back whatever it held.
    auto status = client.Call("GET", "/workflows/" + std::to_string(*wf));
    for (const auto& w : status.body["workers"])
      client.Call("DELETE", "/workflows/" + std::to_string(*wf) + "/workers/" +
                                std::to_string(w["worker_id"].get<int64_t>()));
    RunStart start = UpdatePrevious(client, *wf, abs_file, text, plan, out, dry_run, hash, &as_new);
    if (start != RunStart::kRun) return start;
    if (!as_new) {
      status = client.Call("GET", "/workflows/" + std::to_string(*wf));
      std::cerr << "torc: resuming workflow " << *wf << " from " << Printable(out) << " ("
                << status.body["counts"]["completed"] << " of " << status.body["total"]
                << " jobs already completed)\n";
      return RunStart::kRun;
    }
  } else if (dry_run) {
    std::cerr << "torc: no earlier run of " << Printable(abs_file) << " in " << Printable(out)
              << ": all " << plan.jobs.size() << " jobs would run\n";
    return RunStart::kDone;
  }
  const char* user = std::getenv("USER");
  nlohmann::json request = {{"spec_text", text},
                            {"file_name", abs_file},
                            {"working_dir", CurrentDirectory()},
                            {"owner", user ? user : ""},
                            {"input_stamps", InputStamps(plan, CurrentDirectory(), hash)}};
  if (!plan.parameter_files.empty()) request["parameter_files"] = plan.parameter_files;
  auto r = client.Call("POST", "/workflows", request);
  if (!r.ok()) {
    Warn(client.Describe(r));
    return RunStart::kFailed;
  }
  *wf = r.body["workflow_id"];
  return RunStart::kRun;
}

/// The end of `torc run`: the counts per state and the failed jobs with where their logs
/// are. Returns the exit code: the worker's when it failed, else 0 only if every job completed.
int PrintRunSummary(server::ApiClient& client, int64_t wf, const std::string& name, int64_t total,
                    const std::string& out, int worker_rc) {
  auto s = client.Call("GET", "/workflows/" + std::to_string(wf) + "/status");
  if (!s.ok()) return 1;
  const auto& counts = s.body["counts"];
  std::printf("workflow %lld (%s): %lld jobs\n", static_cast<long long>(wf),
              Printable(name).c_str(), static_cast<long long>(total));
  for (const auto& [state, n] : counts.items())
    if (n.get<int64_t>() > 0) std::printf("  %-11s %lld\n", state.c_str(), n.get<long long>());
  auto failed =
      client.Call("GET", "/workflows/" + std::to_string(wf) + "/jobs?status=failed&limit=20");
  if (failed.ok())
    for (const auto& j : PrintableCopy(failed.body["jobs"]))
      std::printf(
          "  failed: %s (exit code %s) — logs in %s/%lld/%s.%u.*\n",
          j["name"].get<std::string>().c_str(),
          j["exit_code"].is_null() ? "?" : std::to_string(j["exit_code"].get<int>()).c_str(),
          Printable(out).c_str(), static_cast<long long>(wf), j["name"].get<std::string>().c_str(),
          j["attempt"].get<unsigned>());
  bool all = counts["completed"].get<int64_t>() == total;
  if (worker_rc != 0) return worker_rc;
  return all ? 0 : 1;
}

int RunLocally(const std::string& file, const std::string& output_dir,
               const worker::DiscoveryOptions& discovery, int64_t max_log_bytes, bool strict,
               bool input_check, bool dry_run, bool hash) {
  std::string text;
  auto local = LoadWorkflowFile(file, &text);
  if (!local.ok()) {
    PrintFileErrors(local.errors);
    Warn(ErrorCount(local.errors.size()) + " in " + file + "; nothing was run");
    return 1;
  }
  // Here the Slurm setup does not matter: only the keys torc does not act on are warned of.
  if (!ReportWarnings(*local.plan, strict, true)) {
    Warn("nothing was run");
    return 1;
  }
  if (input_check && !CheckInputsExist(*local.plan, file)) {
    Warn("nothing was run");
    return 1;
  }
  BlockWorkerSignals();
  std::string out = AbsolutePath(output_dir), error;
  auto server = server::EmbeddedServer::Start(out + "/.torc", &error);
  if (!server) {
    std::cerr << "torc: cannot start the private server: " << error << "\n";
    return 1;
  }
  server::ClientOptions co;
  co.url = server->url();
  co.token = server->token();
  auto client = server::ApiClient::Connect(co, &error);
  int64_t wf = 0;
  RunStart start = ResumeOrSubmit(*client, AbsolutePath(file), text, *local.plan, out, dry_run, hash, &wf);
  if (start != RunStart::kRun) return start == RunStart::kDone ? 0 : 1;
  worker::WorkerOptions wo;
  wo.workflow_id = wf;
  wo.mode = "direct";
  wo.output_dir = out;
  wo.discovery = discovery;
  wo.exit_when_stuck = true;
  wo.idle_timeout_seconds = 1e9;
  wo.leave_at_completion = true;  // even with compute_node_ignore_workflow_completion
  wo.quiet = true;
  wo.max_log_bytes = max_log_bytes;
  ProgressLine progress(isatty(2));
  int64_t total = static_cast<int64_t>(local.plan->jobs.size());
  auto last = std::chrono::steady_clock::now() - std::chrono::seconds(1);
  wo.on_progress = [&](int, int64_t) {
    auto now = std::chrono::steady_clock::now();
    if (now - last < std::chrono::milliseconds(250)) return;
    last = now;
    server->Tick();
    auto s = client->Call("GET", "/workflows/" + std::to_string(wf) + "/status");
    if (s.ok()) progress.Show(s.body["counts"], total);
  };
  int rc = worker::RunWorker(*client, wo);
  progress.Done();
  return PrintRunSummary(*client, wf, local.plan->name, total, out, rc);
}

}  // namespace

void AddScheduleCommand(CLI::App* slurm);

void AddSlurmCommands(CLI::App& app) {
  auto* slurm = app.add_subcommand("slurm", "Slurm helpers");
  slurm->require_subcommand(1);
  slurm->footer("Example:\n  torc slurm script examples/sweep_pipeline.yaml");
  auto file = std::make_shared<std::string>();
  auto scheduler = std::make_shared<std::string>();
  auto* script = slurm->add_subcommand("script", "Print the sbatch script an allocation would use");
  script->add_option("file", *file, "Workflow file")->required();
  script->add_option("--scheduler", *scheduler, "Slurm scheduler (default: the first one)");
  script->footer("Example:\n  torc slurm script examples/sweep_pipeline.yaml --scheduler multi_node");
  script->callback([file, scheduler] {
    auto loaded = LoadWorkflowFile(*file);
    if (!loaded.ok()) {
      PrintFileErrors(loaded.errors);
      throw CLI::RuntimeError(1);
    }
    const spec::Plan& plan = *loaded.plan;
    if (plan.schedulers.empty()) {
      Warn(*file + " has no slurm_schedulers");
      throw CLI::RuntimeError(1);
    }
    const spec::SlurmScheduler* s = &plan.schedulers[0];
    if (!scheduler->empty()) {
      s = nullptr;
      for (const auto& x : plan.schedulers)
        if (x.name == *scheduler) s = &x;
      if (!s) {
        Warn("no slurm scheduler '" + *scheduler + "' in " + *file);
        throw CLI::RuntimeError(1);
      }
    }
    bool per_node = false;
    const spec::Action* action = nullptr;  // the first schedule_nodes action of the scheduler
    for (const auto& a : plan.actions)
      if (a.scheduler != spec::kNone && &plan.schedulers[a.scheduler] == s) {
        per_node = per_node || a.start_one_worker_per_node;
        if (!action && a.type == spec::ActionType::kScheduleNodes) action = &a;
      }
    char self[4096] = {};
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    server::ScriptContext ctx;
    ctx.torc_binary = len > 0 ? std::string(self, static_cast<size_t>(len)) : "torc";
    ctx.data_dir = util::ResolveDataDir("");
    std::string url_error;
    if (!util::ReadServerUrl(ctx.data_dir, &ctx.api_url, &url_error))
      std::cerr << "torc: WARNING: " << url_error << "\n";
    if (ctx.api_url.empty()) ctx.api_url = "http://127.0.0.1:8080";
    if (server::IsLoopbackHost(server::UrlHost(ctx.api_url)))
      std::cerr << "torc: WARNING: workers will read the server URL " << ctx.api_url
                << " from " << ctx.data_dir << "/server.url"
                << ", a loopback address: on a compute node that is the node itself, not this "
                   "server. Start the server with --host 0.0.0.0 (or --advertise-url URL) so "
                   "that the nodes can reach it (docs/slurm.md)\n";
    ctx.workflow_id = 0;
    ctx.working_dir = CurrentDirectory();
    ctx.output_dir = CurrentDirectory() + "/torc_output/<workflow id>";
    ctx.one_worker_per_node = per_node;
    if (action) {
      ctx.max_parallel_jobs = action->max_parallel_jobs;
      // An elastic action asks for its allocations one request at a time.
      ctx.allocations = action->elastic() ? 1 : action->num_allocations;
    }
    ctx.srun = server::SlurmPaths::FromEnvironment().srun;
    std::cout << server::SbatchScript(plan, *s, ctx);
  });
  AddScheduleCommand(slurm);
  AddSetupCommands(slurm);
}

void AddScheduleCommand(CLI::App* slurm) {
  auto wf = std::make_shared<std::string>();
  auto scheduler = std::make_shared<std::string>();
  auto num = std::make_shared<int64_t>(1);
  auto per_node = std::make_shared<bool>(false);
  auto where = std::make_shared<Connection>();
  auto* cmd = slurm->add_subcommand(
      "schedule", "Ask Slurm for allocations for a workflow now; exit 1 with Slurm's message when "
                  "sbatch refuses");
  cmd->add_option("workflow", *wf, "Workflow id (default: your newest workflow, else the newest)");
  cmd->add_option("--scheduler", *scheduler, "Slurm scheduler (default: the first one)");
  cmd->add_option("--num-allocations", *num, "How many allocations (default 1)");
  cmd->add_flag("--one-worker-per-node", *per_node, "Start one worker per node (direct mode)");
  AddConnectionFlags(cmd, where.get());
  cmd->footer("Example:\n  torc slurm schedule 3 --scheduler multi_node --num-allocations 2");
  cmd->callback([=] {
    auto client = Connect(*where);
    nlohmann::json body = {{"num_allocations", *num}, {"start_one_worker_per_node", *per_node}};
    if (!scheduler->empty()) body["scheduler"] = *scheduler;
    int64_t id = WorkflowArgument(*client, *wf, "torc slurm schedule [WF]");
    auto r = client->Call("POST", "/workflows/" + std::to_string(id) + "/allocations", body);
    if (!r.ok()) {
      // 502: Slurm refused (the message is sbatch's own).
      Warn((r.status == 502 ? "allocation request failed: " : "") + client->Describe(r));
      throw CLI::RuntimeError(1);
    }
    std::string what = std::to_string(*num) + (*num == 1 ? " allocation" : " allocations");
    if (r.body.is_object() && r.body.value("pending", false)) {
      std::cout << "requested " << what << "; sbatch has not answered yet (see torc status and "
                << "the workflow's events)\n";
      return;
    }
    std::string ids;
    if (r.body.is_object() && r.body.contains("slurm_job_ids") && r.body["slurm_job_ids"].is_array())
      for (const auto& id : r.body["slurm_job_ids"])
        if (id.is_string()) ids += (ids.empty() ? "" : " ") + id.get<std::string>();
    std::cout << "submitted " << what << ": Slurm job " << ids << "\n";
  });
}

namespace {

// torc worker run
void AddWorkerRunCommand(CLI::App& app) {
  auto* worker_cmd = app.add_subcommand("worker", "Run a worker (inside an allocation or anywhere)");
  worker_cmd->require_subcommand(1);
  worker_cmd->footer("Example:\n  torc worker run --workflow 3");
  auto wo = std::make_shared<worker::WorkerOptions>();
  auto where = std::make_shared<Connection>();
  auto res = std::make_shared<ResourceFlags>();
  auto this_node = std::make_shared<bool>(false);
  auto* run = worker_cmd->add_subcommand("run", "Claim and run the jobs of a workflow until it is done");
  run->add_option("--workflow", wo->workflow_id, "Workflow id")->required();
  AddConnectionFlags(run, where.get());
  run->add_option("--mode", wo->mode, "slurm (srun per job), direct, or auto (slurm inside Slurm)")
      ->check(CLI::IsMember({"auto", "slurm", "direct"}));
  run->add_option("--output-dir", wo->output_dir, "Where job stdout/stderr go (default torc_output)");
  run->add_option("--scheduler", wo->scheduler, "The slurm scheduler this allocation was made for");
  run->add_option("--idle-timeout", wo->idle_timeout_seconds, "Stop after this many idle seconds");
  run->add_option("--max-parallel-jobs", wo->max_parallel_jobs,
                  "Run at most this many jobs at once (an action's max_parallel_jobs; jobs still "
                  "fit the resources; default: as many as they hold)")
      ->check(CLI::Range(int64_t{1}, int64_t{100000}));
  run->add_option("--startup-delay", wo->startup_delay_seconds,
                  "Before anything else, wait a delay of its own in [0, SECONDS), from a hash of "
                  "host, Slurm job, node and pid (staggered_start); a stop signal ends the wait")
      ->check(CLI::Range(int64_t{0}, int64_t{86400}));
  run->add_option("--connect-timeout", wo->connect_timeout_seconds,
                  "Exit non-zero when the server cannot be reached at all for this many seconds "
                  "from the start (default 300), so that an allocation does not idle")
      ->check(CLI::PositiveNumber);
  run->add_option("--max-log-bytes", wo->max_log_bytes,
                  "Cut each job's stdout/stderr file at this size, with a note (default "
                  "1073741824, 1 GiB; 0: no limit)");
  run->add_option("--srun", wo->srun, "Path of srun (default: srun on PATH)");
  run->add_option("--squeue", wo->discovery.squeue, "Path of squeue (default: squeue on PATH)");
  run->add_flag("--this-node-only", *this_node, "Use only this node of the allocation (one worker per node)");
  AddResourceFlags(run, res.get());
  run->footer("Example:\n  torc worker run --workflow 3 --mode direct --cpus 8");
  run->callback([wo, where, res, this_node] {
    std::string error;
    if (!ApplyResourceFlags(*res, &wo->discovery, &error)) {
      std::cerr << "torc: " << error << "\n";
      throw CLI::RuntimeError(1);
    }
    wo->discovery.this_node_only = *this_node;
    wo->output_dir = AbsolutePath(wo->output_dir);
    BlockWorkerSignals();
    server::ClientOptions co;
    co.url = where->url;
    co.data_dir = where->data_dir;
    co.ca_file = where->ca_file;
    auto client = server::ApiClient::Connect(co, &error);
    if (!client) {
      std::cerr << "torc: " << error << "\n";
      throw CLI::RuntimeError(1);
    }
    int rc = worker::RunWorker(*client, *wo);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

// torc run FILE
void AddRunFileCommand(CLI::App& app) {
  auto file = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>("torc_output");
  auto rres = std::make_shared<ResourceFlags>();
  auto max_log = std::make_shared<int64_t>(worker::kDefaultMaxLogBytes);
  auto strict = std::make_shared<bool>(false);
  auto no_input_check = std::make_shared<bool>(false);
  auto dry_run = std::make_shared<bool>(false);
  auto hash = std::make_shared<bool>(false);
  auto* r = app.add_subcommand(
      "run", "Run a whole workflow on this machine; run again, only what the changes made out of "
             "date runs (docs/rerun.md)");
  r->add_flag("--strict", *strict, "Refuse a file with keys torc does not act on: nothing runs");
  r->add_flag("--dry-run", *dry_run,
              "List the jobs that would run again and why (changed definition, input file, "
              "missing output, upstream job); run nothing");
  r->add_flag("--hash", *hash,
              "Compare input files by a hash of their content, not their modification time (a "
              "touch or an identical copy is no change; every input file is read)");
  r->add_option("file", *file, "Workflow file (YAML or JSON)")->required();
  r->add_flag("--no-input-check", *no_input_check,
              "Do not refuse the file when a job's input file that no job produces does not "
              "exist (something makes it after the start)");
  r->add_option("--output-dir", *out, "Database and job logs (default ./torc_output)");
  AddResourceFlags(r, rres.get());
  r->add_option("--max-log-bytes", *max_log,
                "Cut each job's stdout/stderr file at this size, with a note (default "
                "1073741824, 1 GiB; 0: no limit)");
  r->footer("Example:\n  torc run examples/sweep_pipeline.yaml --cpus 4\n"
            "Example (what would run again, and why):\n"
            "  torc run examples/sweep_pipeline.yaml --dry-run");
  r->callback([file, out, rres, max_log, strict, no_input_check, dry_run, hash] {
    worker::DiscoveryOptions d;
    d.ignore_slurm = true;  // `torc run` is this machine, even inside an allocation
    std::string error;
    if (!ApplyResourceFlags(*rres, &d, &error)) {
      std::cerr << "torc: " << error << "\n";
      throw CLI::RuntimeError(1);
    }
    int rc = RunLocally(*file, *out, d, *max_log, *strict, !*no_input_check, *dry_run, *hash);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace

void AddRunCommands(CLI::App& app) {
  AddSlurmCommands(app);
  AddWorkerRunCommand(app);
  AddRunFileCommand(app);
}

}  // namespace torc::cmd
