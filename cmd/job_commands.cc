// Jobs of a workflow: `torc jobs list|show`, `torc logs`, `torc cancel`,
// `torc restart`. Output formats and JSON schemas: docs/cli.md.
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <thread>

#include "cmd/attempt_samples.h"
#include "cmd/client_support.h"
#include "cmd/commands.h"
#include "server/protocol/output_paths.h"
#include "server/report/report.h"
#include "spec/plan.h"

namespace torc::cmd {
namespace {

std::string Str(const nlohmann::json& v, const char* fallback = "-") {
  if (v.is_string()) return v.get<std::string>().empty() ? fallback : v.get<std::string>();
  if (v.is_null()) return fallback;
  return v.dump();
}

/// What the "[WF] JOB" arguments of `jobs show` and `logs` name: with one argument, a
/// job of the newest workflow (DefaultWorkflow).
struct JobTarget {
  int64_t workflow = 0;
  std::string job;
  std::string not_found_hint;  // added to "no job ..." when the workflow was not given
};

JobTarget ResolveJobTarget(server::ApiClient& client, const std::string& first,
                           const std::string& second, const std::string& command) {
  JobTarget t;
  if (second.empty()) {
    if (first.empty()) Die("which job? usage: " + command + " [WF] JOB");
    t.workflow = DefaultWorkflow(client);
    t.job = first;
    t.not_found_hint = " in workflow " + std::to_string(t.workflow) +
                       " (your newest; for another workflow: " + command + " WF " + first + ")";
    return t;
  }
  t.workflow = WorkflowArgument(client, first, command + " [WF] JOB");
  t.job = second;
  return t;
}

/// The job detail of the API, plus `log_paths` ({"stdout", "stderr"}, null for a
/// stream the job's stdio mode does not write) on every attempt and, for the
/// attempt a worker holds now, on `current`.
nlohmann::json JobWithLogs(server::ApiClient& client, const JobTarget& t) {
  const int64_t wf = t.workflow;
  server::ApiResult r = client.Call("GET", WorkflowPath(wf) + "/jobs/" + server::UrlEncode(t.job));
  if (!r.ok()) DieOfCall(client, r, r.status == 404 ? t.not_found_hint : "");
  nlohmann::json j = std::move(r.body);
  std::string fallback;  // workers that did not report their output directory
  auto paths = [&](const nlohmann::json& attempt_obj, uint32_t attempt) {
    std::string dir = Str(attempt_obj.value("output_dir", nlohmann::json()), "");
    if (dir.empty()) {
      if (fallback.empty()) {
        auto w = CallOrDie(client, "GET", WorkflowPath(wf));
        fallback = protocol::DefaultJobOutputDir(Str(w.value("working_dir", nlohmann::json()), ""), wf);
      }
      dir = fallback;
    }
    std::string mode = "separate";
    if (j.contains("stdio") && j["stdio"].is_object()) mode = j["stdio"].value("mode", "separate");
    auto o = protocol::AttemptOutputPaths(dir, j["name"].get<std::string>(), attempt,
                                          spec::StdioModeNamed(mode));
    auto or_null = [](const std::string& p) {
      return p.empty() ? nlohmann::json() : nlohmann::json(p);
    };
    return nlohmann::json{{"stdout", or_null(o.out)}, {"stderr", or_null(o.err)}};
  };
  for (auto& a : j["attempts"]) a["log_paths"] = paths(a, a["attempt"].get<uint32_t>());
  if (j.contains("current") && j["current"].is_object())
    j["current"]["log_paths"] = paths(j["current"], j["current"]["attempt"].get<uint32_t>());
  return j;
}

/// An attempt's request ("request": memory, runtime, CPUs per node) in a few words; "-"
/// from an older server that does not record it.
std::string RequestText(const nlohmann::json& a) {
  if (!a.contains("request") || !a["request"].is_object()) return "-";
  const auto& r = a["request"];
  int64_t memory = r.value("memory_bytes", int64_t{-1});
  double runtime = r.value("runtime_seconds", -1.0);
  std::string text = memory > 0 ? FormatBytes(memory) : memory == 0 ? "per-CPU memory" : "? memory";
  text += ", ";
  text += runtime > 0 ? FormatSeconds(runtime) : std::string("? runtime");
  text += ", ";
  text += std::to_string(r.value("num_cpus", int64_t{0}));
  text += " CPU";
  return text;
}

/// The attempts of `torc jobs show`, one row each: what it asked for (REQUESTED, when the
/// server records it) and its true figures.
void PrintAttemptTable(const nlohmann::json& attempts, bool color) {
  bool requests = false;
  for (const auto& a : attempts) requests = requests || a.contains("request");
  std::vector<std::string> header = {"ATTEMPT", "STATUS", "EXIT",     "SIGNAL",   "REASON",
                                     "NODES",   "START",  "DURATION", "PEAK RSS", "CPU"};
  if (requests) header.push_back("REQUESTED");
  Table t(header);
  for (const auto& a : attempts) {
    double start = a.value("start_time", 0.0), end = a.value("end_time", 0.0);
    int sig = a.value("signal", 0);
    std::vector<Table::Cell> row = {
        {std::to_string(a["attempt"].get<unsigned>()), ""},
        {a["status"].get<std::string>(), a["status"].get<std::string>()},
        {Str(a["exit_code"]), ""},
        {sig ? std::to_string(sig) : "-", ""},
        {Str(a["reason"]), ""},
        {Str(a["nodes"]), ""},
        {FormatTime(start), ""},
        {start > 0 && end >= start ? FormatSeconds(end - start) : "-", ""},
        {FormatBytes(a.value("peak_rss_bytes", int64_t{-1})), ""},
        {FormatSeconds(a.value("cpu_seconds", -1.0)), ""}};
    if (requests) row.push_back({RequestText(a), ""});
    t.Row(std::move(row));
  }
  t.Print(stdout, color, "    ");
}

/// Under the attempt table: each node's figures of an attempt on several nodes, and the
/// summary of an attempt's samples with a sparkline of its RSS.
void PrintAttemptUsage(const nlohmann::json& attempts, bool color) {
  for (const auto& a : attempts) {
    unsigned n = a["attempt"].get<unsigned>();
    const auto& nodes = a.contains("node_usage") && a["node_usage"].is_array()
                            ? a["node_usage"]
                            : nlohmann::json::array();
    if (nodes.size() > 1) {
      std::printf("  attempt %u per node:\n", n);
      Table t({"NODE", "PEAK RSS", "CPU"});
      for (const auto& u : nodes)
        t.Row({{Str(u.value("node", nlohmann::json())), ""},
               {FormatBytes(u.value("peak_rss_bytes", int64_t{-1})), ""},
               {FormatSeconds(u.value("cpu_seconds", -1.0)), ""}});
      t.Print(stdout, color, "    ");
    }
    if (!HasSamples(a)) continue;
    if (!a.contains("sample_series") || !a["sample_series"].is_object()) {
      std::printf("  attempt %u samples: %s (not served)\n", n, Str(a["samples"]).c_str());
      continue;
    }
    const auto& s = a["sample_series"];
    std::printf("  attempt %u samples: %lld every %s over %s; peak RSS %s, peak CPU %.0f%%\n", n,
                s.value("count", 0LL), FormatSeconds(s.value("interval_seconds", -1.0)).c_str(),
                FormatSeconds(s.value("duration_seconds", -1.0)).c_str(),
                FormatBytes(s.value("peak_rss_bytes", int64_t{-1})).c_str(),
                s.value("peak_cpu_percent", 0.0));
    server::SampleSeries series = server::ReadSampleSeries(s);
    if (series.size() >= 2)
      std::printf("    RSS %s\n", server::Sparkline(series.rss_bytes, 40).c_str());
  }
}

/// The log files of every attempt of job `j`, the one a worker holds now included.
void PrintLogPaths(const nlohmann::json& j) {
  std::vector<const nlohmann::json*> with_logs;
  for (const auto& a : j["attempts"]) with_logs.push_back(&a);
  if (j.contains("current") && j["current"].is_object()) with_logs.push_back(&j["current"]);
  if (!with_logs.empty()) std::printf("  logs:\n");
  for (const auto* a : with_logs) {
    const auto& lp = (*a)["log_paths"];
    std::string out = Str(lp["stdout"], "(none)"), err = Str(lp["stderr"], "(none)");
    if (lp["stdout"].is_null() && lp["stderr"].is_null())
      std::printf("    %u: no files (stdio mode none)\n", (*a)["attempt"].get<unsigned>());
    else if (out == err)
      std::printf("    %u: %s (stdout and stderr)\n", (*a)["attempt"].get<unsigned>(), out.c_str());
    else
      std::printf("    %u: %s\n       %s\n", (*a)["attempt"].get<unsigned>(), out.c_str(),
                  err.c_str());
  }
}

/// `torc jobs show`: `j` is the PrintableCopy of JobWithLogs's answer.
void PrintJob(const nlohmann::json& j, int64_t wf, bool color) {
  std::printf("job %u '%s' of workflow %lld: %s, attempt %u\n", j["id"].get<unsigned>(),
              j["name"].get<std::string>().c_str(), static_cast<long long>(wf),
              Paint(color, j["status"].get<std::string>(), j["status"].get<std::string>()).c_str(),
              j["attempt"].get<unsigned>());
  std::printf("  command:    %s\n", j["command"].get<std::string>().c_str());
  int64_t nodes = j.value("num_nodes", int64_t{1});
  std::printf("  resources:  %lld CPU, %s, %lld GPU, %lld node%s, runtime %s (per node)\n",
              j.value("num_cpus", 1LL),
              j.value("memory_bytes", int64_t{0}) > 0
                  ? FormatBytes(j["memory_bytes"].get<int64_t>()).c_str()
                  : "memory: a per-CPU share",
              j.value("num_gpus", 0LL), static_cast<long long>(nodes), nodes == 1 ? "" : "s",
              FormatSeconds(j.value("runtime_seconds", 0.0)).c_str());
  if (!j["depends_on"].empty()) {
    std::string deps;
    for (const auto& d : j["depends_on"])
      deps.append(deps.empty() ? "" : ", ").append(d.get<std::string>());
    if (j.value("depends_on_count", size_t{0}) > j["depends_on"].size()) deps.append(", ...");
    std::printf("  depends on: %s\n", deps.c_str());
  }
  if (j.contains("current") && j["current"].is_object()) {
    // Where the attempt runs is its node list; the worker's host is only where the worker
    // runs (in an allocation: the batch host, which may not be one of the job's nodes).
    const auto& c = j["current"];
    std::string nodes = Str(j.value("nodes", nlohmann::json()), "");
    if (!nodes.empty())
      std::printf("  now:        attempt %u running on %s (worker %s)\n",
                  c["attempt"].get<unsigned>(), nodes.c_str(), Str(c["worker"]).c_str());
    else
      std::printf("  now:        attempt %u %s, its node not reported yet (worker %s on %s)\n",
                  c["attempt"].get<unsigned>(), j["status"] == "claimed" ? "starting" : "running",
                  Str(c["worker"]).c_str(), Str(c["hostname"], "?").c_str());
  }
  if (!j["attempts"].empty()) {
    std::printf("  attempts:\n");
    PrintAttemptTable(j["attempts"], color);
    PrintAttemptUsage(j["attempts"], color);
  }
  PrintLogPaths(j);
}

// ---- torc logs ----------------------------------------------------------------
struct LogsOptions {
  std::string first, second;  // [WF] JOB
  uint32_t attempt = 0;  // 0: the current or latest
  bool stderr_stream = false;
  bool follow = false;
};

bool AttemptActive(const nlohmann::json& j, uint32_t attempt) {
  return j.contains("current") && j["current"].is_object() &&
         j["current"]["attempt"].get<uint32_t>() == attempt;
}

/// Copies what `in` has beyond `*offset` to stdout.
void Pump(std::ifstream& in, std::streamoff* offset) {
  in.clear();
  in.seekg(*offset);
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    std::fwrite(buf, 1, static_cast<size_t>(in.gcount()), stdout);
    *offset += in.gcount();
    if (in.eof()) break;
  }
  std::fflush(stdout);
}

/// The attempt of job `j` whose logs `torc logs` prints: `attempt`, or with 0 the one a
/// worker holds now, else the latest. Dies when there is none.
const nlohmann::json* ChooseAttempt(const nlohmann::json& j, uint32_t attempt) {
  const std::string name = j["name"].get<std::string>();
  const nlohmann::json* chosen = nullptr;
  if (j.contains("current") && j["current"].is_object() &&
      (attempt == 0 || attempt == j["current"]["attempt"].get<uint32_t>()))
    chosen = &j["current"];
  for (const auto& a : j["attempts"])
    if (!chosen && (attempt == 0 || a["attempt"].get<uint32_t>() == attempt)) {
      if (attempt == 0 && &a != &j["attempts"].back()) continue;  // the latest
      chosen = &a;
    }
  if (!chosen) {
    if (attempt == 0)
      Die("job '" + name + "' has not run yet (it is " + j["status"].get<std::string>() + ")");
    Die("job '" + name + "' has no attempt " + std::to_string(attempt) + " (its attempts: 1.." +
        std::to_string(j["attempt"].get<unsigned>()) + ", recorded or running: " +
        std::to_string(j["attempts"].size() + (j.contains("current") && j["current"].is_object())) +
        ")");
  }
  return chosen;
}

void ShowLogs(const Connection& conn, const LogsOptions& o) {
  auto client = Connect(conn);
  JobTarget target = ResolveJobTarget(*client, o.first, o.second, "torc logs");
  auto j = JobWithLogs(*client, target);
  std::string name = j["name"].get<std::string>();
  target.job = name;
  const int64_t workflow = target.workflow;
  // --follow of a job that has not started yet (e.g. just restarted): wait for it.
  auto waiting = [&] {
    std::string st = j["status"].get<std::string>();
    return o.attempt == 0 && (st == "blocked" || st == "ready" || st == "claimed") &&
           !(j.contains("current") && j["current"].is_object());
  };
  if (o.follow && waiting()) {
    std::cerr << "torc: waiting for job '" << Printable(name) << "' to start (it is "
              << j["status"].get<std::string>() << ")\n";
    while (waiting()) {
      std::this_thread::sleep_for(std::chrono::seconds(1));
      j = JobWithLogs(*client, target);
    }
  }
  const nlohmann::json* chosen = ChooseAttempt(j, o.attempt);
  uint32_t attempt = (*chosen)["attempt"].get<uint32_t>();
  const char* stream = o.stderr_stream ? "stderr" : "stdout";
  const auto& p = (*chosen)["log_paths"][stream];
  std::string mode = j.contains("stdio") ? j["stdio"].value("mode", "separate") : "separate";
  if (!p.is_string())
    Die("job '" + name + "' writes no " + stream + " file (stdio mode " + mode + ")");
  std::string path = p.get<std::string>();
  if (o.stderr_stream && mode == "combined")
    std::cerr << "torc: stdio mode combined: stderr is in " << Printable(path) << " with stdout\n";
  bool active = AttemptActive(j, attempt);
  std::ifstream in;
  auto last_check = std::chrono::steady_clock::now();
  std::streamoff offset = 0;
  while (true) {
    if (!in.is_open()) in.open(path, std::ios::binary);
    if (in.is_open()) Pump(in, &offset);
    if (!o.follow || !active) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    if (std::chrono::steady_clock::now() - last_check > std::chrono::seconds(1)) {
      last_check = std::chrono::steady_clock::now();
      auto r = client->Call("GET", WorkflowPath(workflow) + "/jobs/" + server::UrlEncode(name));
      if (r.ok()) active = AttemptActive(r.body, attempt);  // a lost server: keep tailing
    }
    if (!active && in.is_open()) Pump(in, &offset);
    if (!active) break;
  }
  if (!in.is_open()) {
    std::string why = active ? "it has not started yet"
                      : j.contains("stdio") && j["stdio"].value("delete_on_success", false)
                          ? "stdio delete_on_success removes the logs of completed attempts"
                          : "not written, deleted, or on another machine's disk";
    Die("no " + std::string(stream) + " file for attempt " + std::to_string(attempt) + " of job '" +
        name + "' at " + path + " (" + why + ")");
  }
}

void AddLogsCommand(CLI::App& app) {
  auto conn = std::make_shared<Connection>();
  auto o = std::make_shared<LogsOptions>();
  auto* logs = app.add_subcommand(
      "logs", "Print a job's stdout (or stderr) file; --follow tails a running attempt");
  logs->add_option("workflow", o->first,
                   "Workflow id (default: your newest workflow; one argument is the job)");
  logs->add_option("job", o->second, "Job name (or index); required");
  logs->add_option("--attempt", o->attempt, "Attempt number (default: the running or latest one)")
      ->check(CLI::PositiveNumber);
  logs->add_flag("--stderr", o->stderr_stream, "The stderr file instead of stdout");
  logs->add_flag("-f,--follow", o->follow, "Keep printing what is written until the attempt ends");
  AddConnectionFlags(logs, conn.get());
  logs->footer(
      "Logs are read from the files the worker writes (<output-dir>/<workflow "
      "id>/<job>.<attempt>.out\n"
      "and .err), so run it where those files are (the same machine or a shared filesystem).\n"
      "With one argument it is the job, in your newest workflow: 'torc logs train_07' is\n"
      "'torc logs 7 train_07' when 7 is that workflow.\n\n"
      "Examples:\n  torc logs 3 train_07 --stderr\n  torc logs 3 train_07 --attempt 1\n"
      "  torc logs train_07 -f   # a job of your newest workflow");
  logs->callback([conn, o] { ShowLogs(*conn, *o); });
}

// ---- jobs list / show -------------------------------------------------------------------
bool Ended(const std::string& status) {
  return status == "completed" || status == "failed" || status == "canceled" ||
         status == "terminated";
}

/// Sets `nodes` on every job row: where a running job runs (the list has it once the worker
/// reported the start), where an ended job's last attempt ran (GET /attempts over the rows'
/// index range), else null.
void AddNodes(server::ApiClient& client, int64_t wf, nlohmann::json* jobs) {
  int64_t lo = -1, hi = -1;
  for (auto& j : *jobs) {
    std::string nodes = j["status"] == "running" ? Str(j.value("nodes", nlohmann::json()), "") : "";
    j["nodes"] = nodes.empty() ? nlohmann::json() : nlohmann::json(nodes);
    if (!Ended(j["status"].get<std::string>()) || j["exit_code"].is_null()) continue;  // never ran
    int64_t id = j["id"].get<int64_t>();
    lo = lo < 0 ? id : std::min(lo, id);
    hi = std::max(hi, id);
  }
  if (lo < 0) return;
  std::map<int64_t, std::string> last;  // job id -> its last attempt's nodes
  constexpr int64_t kPage = 20000;
  for (int64_t offset = lo; offset <= hi; offset += kPage) {
    int64_t limit = std::min(kPage, hi - offset + 1);
    auto page = CallOrDie(client, "GET",
                          WorkflowPath(wf) + "/attempts?offset=" + std::to_string(offset) +
                              "&limit=" + std::to_string(limit));
    for (const auto& job : page["jobs"])
      if (!job["attempts"].empty())
        last[job["id"].get<int64_t>()] =
            Str(job["attempts"].back().value("nodes", nlohmann::json()), "");
    if (page["jobs"].size() < static_cast<size_t>(limit)) break;
  }
  for (auto& j : *jobs) {
    if (!Ended(j["status"].get<std::string>())) continue;
    auto it = last.find(j["id"].get<int64_t>());
    if (it != last.end() && !it->second.empty()) j["nodes"] = it->second;
  }
}

/// The table of `torc jobs list` (colour mode `color`), or a line saying there are no jobs
/// (in `status`, when given). NODES: where a running job runs, or where an ended job's last
/// attempt ran (every attempt: `torc jobs show`). EXIT: only for a job that ended (otherwise
/// the API's exit_code is an earlier attempt's).
void PrintJobTable(const nlohmann::json& all, const std::string& status, const std::string& color) {
  Table t({"ID", "NAME", "STATUS", "ATTEMPT", "EXIT", "NODES"});
  for (const auto& j : all) {
    std::string st = j["status"].get<std::string>();
    t.Row({{std::to_string(j["id"].get<unsigned>()), ""},
           {j["name"].get<std::string>(), ""},
           {st, st},
           {std::to_string(j["attempt"].get<unsigned>()), ""},
           {Ended(st) ? Str(j["exit_code"]) : "-", ""},
           {Str(j["nodes"]), ""}});
  }
  if (t.empty() && status.empty())
    std::printf("no jobs\n");
  else if (t.empty())
    std::printf("no %s jobs\n", Printable(status).c_str());
  else
    t.Print(stdout, UseColor(color, stdout));
}

// torc jobs list [WF]
void AddJobsListCommand(CLI::App* jobs) {
  auto conn = std::make_shared<Connection>();
  auto wf = std::make_shared<std::string>();
  auto status = std::make_shared<std::string>();
  auto name = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  auto color = std::make_shared<std::string>("auto");
  auto* list = jobs->add_subcommand(
      "list", "List jobs with their state, attempt, exit code and the nodes they ran on");
  list->add_option("workflow", *wf, "Workflow id (default: your newest workflow, else the newest)");
  list->add_option("--status", *status,
                   "Only jobs in this state (blocked, ready, claimed, running, completed, failed, "
                   "canceled, terminated, disabled)");
  list->add_option("--name", *name, "Only jobs whose name matches this regex (RE2, search)");
  list->add_flag("--json", *json, "Print a JSON array");
  AddColorFlag(list, color.get());
  AddConnectionFlags(list, conn.get());
  list->footer(
      "Examples:\n  torc jobs list 3 --status failed\n  torc jobs list 3 --name '^train_0[0-4]$' "
      "--json\n  torc jobs list   # your newest workflow");
  DocumentJson(
      list,
      "An array, in job order, of `{\"id\" (index in the workflow), \"name\", \"status\", "
      "\"attempt\" (current or last), \"exit_code\" (of the last recorded attempt, or null), "
      "\"worker\" (the worker holding it, or that held it last; null before its first claim), "
      "\"nodes\" (where it ran: the node list of a running attempt once its start is reported, "
      "of the last attempt of a job that ended; else null)}`.");
  list->callback([conn, wf, status, name, json, color] {
    auto client = Connect(*conn);
    int64_t id = WorkflowArgument(*client, *wf, "torc jobs list [WF]");
    auto all = AllJobs(*client, id, *status, *name);
    AddNodes(*client, id, &all);
    if (*json) {
      std::cout << all.dump(2) << "\n";
      return;
    }
    PrintJobTable(all, *status, *color);
  });
}

// torc jobs show [WF] JOB
void AddJobsShowCommand(CLI::App* jobs) {
  auto conn = std::make_shared<Connection>();
  auto wf = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  auto color = std::make_shared<std::string>("auto");
  auto job = std::make_shared<std::string>();
  auto* show = jobs->add_subcommand(
      "show",
      "Show a job: command, resources, every attempt (its request, true figures, use per node, "
      "samples) and its log files");
  show->add_option("workflow", *wf,
                   "Workflow id (default: your newest workflow; one argument is the job)");
  show->add_option("job", *job, "Job name (or index); required");
  show->add_flag("--json", *json, "Print JSON");
  AddColorFlag(show, color.get());
  AddConnectionFlags(show, conn.get());
  show->footer(
      "NODES and \"now\" name the nodes an attempt ran on; the worker's host (in an allocation,\n"
      "the batch host) is only where the worker runs. REQUESTED is the memory, runtime and CPUs\n"
      "(per node) the attempt ran with (a failure handler may grow them); PEAK RSS (the largest\n"
      "node's), CPU (all nodes) and DURATION are its own figures. An attempt on several nodes\n"
      "lists each node's; an attempt with samples (resource_monitor granularity time_series)\n"
      "gets their count, peaks and a sparkline of its RSS.\n\n"
      "Examples:\n  torc jobs show 3 train_07\n  torc jobs show train_07   # a job of your newest "
      "workflow");
  DocumentJson(
      show,
      "The API's job object (`GET /workflows/{id}/jobs/{job}`, see docs/api.md): `id`, "
      "`name`, `status`, `attempt`, `exit_code`, `worker`, `command`, `invocation_script`, "
      "`num_cpus`, `memory_bytes`, `num_gpus`, `num_nodes`, `runtime_seconds`, `priority`, "
      "`retries`, `scheduler`, `depends_on`, `depends_on_count`, `stdio` (`{\"mode\", "
      "\"delete_on_success\"}`), `nodes` (only while running, once the start is reported: "
      "where the running attempt was placed), `current` (the attempt a worker holds now: "
      "`{\"attempt\", \"worker\", \"hostname\", \"output_dir\", \"log_paths\"}`, or null) and "
      "`attempts`: "
      "`[{\"attempt\", \"worker\", \"hostname\", \"status\", \"exit_code\", \"signal\", "
      "\"reason\", \"start_time\", \"end_time\", \"peak_rss_bytes\" (-1 unknown), "
      "\"cpu_seconds\" (-1 unknown), \"nodes\", \"output_dir\", \"request\", \"node_usage\", "
      "\"samples\", \"sample_series\", \"log_paths\"}]`. `request` is what the attempt ran with "
      "(`{\"memory_bytes\", \"runtime_seconds\", \"num_cpus\"}`, -1 unknown); `node_usage` its "
      "figures per node (`[{\"node\", \"peak_rss_bytes\", \"cpu_seconds\"}]`; `peak_rss_bytes` "
      "is their maximum, `cpu_seconds` their sum); `samples` how many samples the server stores "
      "(these three are absent from older servers). `sample_series` (added by the CLI for an "
      "attempt with samples) is the answer of `GET "
      "/workflows/{id}/jobs/{job}/attempts/{attempt}/samples` (`{\"interval_seconds\", "
      "\"samples\": [{\"t\", \"cpu_percent\", \"rss_bytes\"}]}`) with its summary: `count`, "
      "`duration_seconds` (the last sample's `t`), `peak_rss_bytes`, `peak_cpu_percent`. `nodes` "
      "is where an attempt ran; `hostname` is the host of its worker (in an allocation, the "
      "batch host). "
      "`log_paths` is `{\"stdout\": path or null, \"stderr\": path or null}` (added by the "
      "CLI; null for a stream the stdio mode does not write).");
  show->callback([conn, wf, job, json, color] {
    auto client = Connect(*conn);
    JobTarget target = ResolveJobTarget(*client, *wf, *job, "torc jobs show");
    auto j = JobWithLogs(*client, target);
    for (auto& a : j["attempts"])
      if (HasSamples(a)) {
        auto series = FetchSampleSeries(*client, target.workflow, j["name"].get<std::string>(),
                                        a["attempt"].get<int64_t>());
        if (!series.is_null()) a["sample_series"] = std::move(series);
      }
    if (*json) {
      std::cout << j.dump(2) << "\n";
      return;
    }
    PrintJob(PrintableCopy(j), target.workflow, UseColor(*color, stdout));
  });
}

void AddJobsCommands(CLI::App& app) {
  auto* jobs = app.add_subcommand("jobs", "List a workflow's jobs or show one");
  jobs->require_subcommand(1);
  jobs->footer("Example:\n  torc jobs list 3 --status failed");
  AddJobsListCommand(jobs);
  AddJobsShowCommand(jobs);
}

// ---- cancel / restart -------------------------------------------------------------------
/// What the "[WF] [JOB...]" arguments of `cancel` and `restart` name: the first is the
/// workflow when it is a number; otherwise every argument is a job of the newest workflow.
struct JobsTarget {
  int64_t workflow = 0;
  std::vector<std::string> jobs;
  std::string which;  // " of workflow N (your newest)" when the workflow was not given
};

JobsTarget ResolveJobsTarget(server::ApiClient& client, const std::string& first,
                             const std::vector<std::string>& rest) {
  JobsTarget t;
  if (IsWorkflowId(first)) {
    t.workflow = std::stoll(first);
    t.jobs = rest;
    return t;
  }
  t.workflow = DefaultWorkflow(client);
  if (!first.empty()) t.jobs.push_back(first);
  t.jobs.insert(t.jobs.end(), rest.begin(), rest.end());
  t.which = " of workflow " + std::to_string(t.workflow) + " (your newest)";
  return t;
}

// torc cancel [WF] [JOB...]
void AddCancelCommand(CLI::App& app) {
  auto conn = std::make_shared<Connection>();
  auto wf = std::make_shared<std::string>();
  auto names = std::make_shared<std::vector<std::string>>();
  auto* cancel =
      app.add_subcommand("cancel", "Cancel a workflow (or some of its jobs) and their dependents");
  cancel->add_option("workflow", *wf,
                     "Workflow id (default: your newest workflow; a first argument that is not "
                     "a number is a job)");
  cancel->add_option("jobs", *names,
                     "Job names (default: every unfinished job, and the workflow's allocations)");
  AddConnectionFlags(cancel, conn.get());
  cancel->footer(
      "Without a workflow id it is your newest workflow, and the output names it.\n\n"
      "Examples:\n  torc cancel 3\n  torc cancel 3 train_07 train_08\n"
      "  torc cancel train_07   # a job of your newest workflow");
  cancel->callback([conn, wf, names] {
    auto client = Connect(*conn);
    JobsTarget t = ResolveJobsTarget(*client, *wf, *names);
    nlohmann::json body = nlohmann::json::object();
    if (!t.jobs.empty()) body["jobs"] = t.jobs;
    server::ApiResult r = client->Call("POST", WorkflowPath(t.workflow) + "/cancel", body);
    if (!r.ok())
      DieOfCall(*client, r,
                r.status == 404 && !t.which.empty()
                    ? " in workflow " + std::to_string(t.workflow) +
                          " (your newest; for another workflow: torc cancel WF JOB...)"
                    : "");
    std::cout << "canceled " << r.body["canceled"] << " jobs" << t.which << "\n";
  });
}

// torc restart [WF] [JOB...]
void AddRestartCommand(CLI::App& app) {
  auto rconn = std::make_shared<Connection>();
  auto rwf = std::make_shared<std::string>();
  auto rnames = std::make_shared<std::vector<std::string>>();
  auto failed = std::make_shared<bool>(false);
  auto no_schedule = std::make_shared<bool>(false);
  auto memory_multiplier = std::make_shared<double>(1);
  auto runtime_multiplier = std::make_shared<double>(1);
  auto* restart = app.add_subcommand(
      "restart", "Run failed, canceled or terminated jobs again, with their canceled dependents");
  restart->add_option("workflow", *rwf,
                      "Workflow id (default: your newest workflow; a first argument that is not "
                      "a number is a job)");
  auto* jobs_opt = restart->add_option("jobs", *rnames, "Job names");
  restart
      ->add_flag("--failed", *failed,
                 "Every failed, canceled and terminated job (the default without job names)")
      ->excludes(jobs_opt);
  restart->add_flag("--no-schedule", *no_schedule,
                    "Only restart: do not ask Slurm for allocations for the restarted jobs");
  CLI::Validator multiplier(
      [](std::string& text) -> std::string {
        char* end = nullptr;
        double v = std::strtod(text.c_str(), &end);
        if (text.empty() || *end != '\0' || !(v > 1 && v <= 100))
          return "must be a number greater than 1 and at most 100, not '" + text + "'";
        return "";
      },
      "(1, 100]");
  restart
      ->add_option("--memory-multiplier", *memory_multiplier,
                   "Grow the memory request of each restarted failed or terminated job by this "
                   "factor (> 1, at most 100; capped at the largest node)")
      ->check(multiplier);
  restart
      ->add_option("--runtime-multiplier", *runtime_multiplier,
                   "Grow the runtime request of each restarted failed or terminated job by this "
                   "factor (> 1, at most 100; capped at the scheduler's walltime)")
      ->check(multiplier);
  AddConnectionFlags(restart, rconn.get());
  restart->footer(
      "Each restarted job gets a new attempt number; jobs that were canceled because it failed\n"
      "come back with it. Completed jobs are not run again. Without a workflow id it is your\n"
      "newest workflow, and the output names it. Compute follows: for each Slurm scheduler of\n"
      "the restarted jobs with no pending or running allocation, the server asks for the\n"
      "allocations its first schedule_nodes action asks for (docs/api.md), unless --no-schedule.\n"
      "--memory-multiplier and --runtime-multiplier grow the requests of the restarted jobs\n"
      "that failed or were terminated (canceled ones never ran out of anything), as a failure\n"
      "handler rule's multipliers do: never beyond the largest node or the scheduler's walltime\n"
      "(docs/workflow-format.md, \"Failure handlers\"); later restarts keep the grown requests.\n\n"
      "Examples:\n  torc restart 3 --failed\n  torc restart 3 train_07\n"
      "  torc restart 3 --failed --memory-multiplier 2\n"
      "  torc restart --failed   # your newest workflow");
  restart->callback([rconn, rwf, rnames, failed, no_schedule, memory_multiplier,
                     runtime_multiplier] {
    auto client = Connect(*rconn);
    JobsTarget t = ResolveJobsTarget(*client, *rwf, *rnames);
    if (*failed && !t.jobs.empty())
      Die("--failed takes no job names (it restarts every failed, canceled and terminated job)");
    nlohmann::json body = nlohmann::json::object();
    if (*failed) body["failed"] = true;
    if (*memory_multiplier > 1) body["memory_multiplier"] = *memory_multiplier;
    if (*runtime_multiplier > 1) body["runtime_multiplier"] = *runtime_multiplier;
    if (!t.jobs.empty()) {
      std::map<std::string, std::string> state;
      for (const auto& j : AllJobs(*client, t.workflow, "", ""))
        state[j["name"].get<std::string>()] = j["status"].get<std::string>();
      for (const auto& n : t.jobs) {
        auto it = state.find(n);
        if (it == state.end())
          Die("no job named '" + n + "' in workflow " + std::to_string(t.workflow) +
              (t.which.empty()
                   ? ""
                   : " (your newest; for another workflow: torc restart WF " + n + ")"));
        if (it->second != "failed" && it->second != "canceled" && it->second != "terminated")
          std::cerr << "torc: job '" << n << "' is " << it->second
                    << "; only failed, canceled or terminated jobs are restarted\n";
      }
      body["jobs"] = t.jobs;
    }
    if (*no_schedule) body["schedule"] = false;
    auto r = CallOrDie(*client, "POST", WorkflowPath(t.workflow) + "/restart", body);
    std::cout << "restarted " << r["restarted"] << " jobs" << t.which;
    int64_t requested = r.value("allocations_requested", int64_t{0});
    if (requested > 0) std::cout << "; requested " << requested << " allocation(s)";
    std::cout << "\n";
  });
}

}  // namespace

void AddJobCommands(CLI::App& app) {
  AddJobsCommands(app);
  AddLogsCommand(app);
  AddCancelCommand(app);
  AddRestartCommand(app);
}

}  // namespace torc::cmd
