// Watching workflows: `torc status`, `torc watch`, `torc workflows list|show|delete`
// and `torc allocations list`. Output formats and JSON schemas: docs/cli.md.
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <csignal>
#include <iostream>
#include <map>
#include <set>
#include <thread>

#include "cmd/client_support.h"
#include "cmd/commands.h"
#include "cmd/progress.h"

namespace torc::cmd {
namespace {

const char* const kStates[] = {"completed", "running",  "claimed",    "ready",   "blocked",
                               "failed",    "canceled", "terminated", "disabled"};

/// The server's status plus `running_jobs`: every claimed or running job with the
/// host of the worker holding it.
nlohmann::json StatusWithRunning(server::ApiClient& client, int64_t wf) {
  auto status = CallOrDie(client, "GET", WorkflowPath(wf) + "/status");
  std::map<int64_t, nlohmann::json> workers;
  for (const auto& w : status["workers"]) workers[w["worker_id"].get<int64_t>()] = w;
  nlohmann::json running = nlohmann::json::array();
  for (const char* state : {"running", "claimed"}) {
    if (status["counts"].value(state, int64_t{0}) == 0) continue;
    for (auto& j : AllJobs(client, wf, state, "")) {
      nlohmann::json row = {{"id", j["id"]},         {"name", j["name"]},
                            {"status", j["status"]}, {"attempt", j["attempt"]},
                            {"worker", j["worker"]}, {"hostname", nullptr},
                            {"nodes", j.value("nodes", "")}};
      if (j["worker"].is_number()) {
        auto it = workers.find(j["worker"].get<int64_t>());
        if (it != workers.end()) row["hostname"] = it->second["hostname"];
      }
      running.push_back(std::move(row));
    }
  }
  status["running_jobs"] = std::move(running);
  return status;
}

void PrintRunning(const nlohmann::json& running, bool color) {
  if (running.empty()) return;
  // Host -> names, in the order the jobs came.
  std::vector<std::string> hosts;
  std::map<std::string, std::vector<std::string>> names;
  for (const auto& j : running) {
    // The nodes the worker placed the job on (slurm mode: the srun step's nodes), else the
    // worker's host.
    std::string host = !j["nodes"].get<std::string>().empty() ? j["nodes"].get<std::string>()
                       : j["hostname"].is_string()            ? j["hostname"].get<std::string>()
                                                              : "?";
    if (j["worker"].is_number())
      host += " (worker " + std::to_string(j["worker"].get<int64_t>()) + ")";
    if (!names.count(host)) hosts.push_back(host);
    names[host].push_back(j["name"].get<std::string>() +
                          (j["status"] == "claimed" ? " (starting)" : ""));
  }
  std::printf("%s\n", Paint(color, "bold", "running on:").c_str());
  for (const auto& h : hosts) {
    const auto& list = names[h];
    std::string shown;
    for (size_t k = 0; k < list.size() && k < 8; ++k) shown.append(k ? ", " : "").append(list[k]);
    if (list.size() > 8) shown.append(", +" + std::to_string(list.size() - 8) + " more");
    std::printf("  %s: %zu job%s: %s\n", h.c_str(), list.size(), list.size() == 1 ? "" : "s",
                shown.c_str());
  }
}

/// `torc status`: `s` is the PrintableCopy of StatusWithRunning's answer, as every human
/// printer here gets its answer (it prints user text: names, reasons, messages).
void PrintStatus(const nlohmann::json& s, bool color) {
  int64_t total = s["total"].get<int64_t>();
  const auto& counts = s["counts"];
  std::printf("workflow %lld (%s): %lld jobs%s\n", s["workflow_id"].get<long long>(),
              s["name"].get<std::string>().c_str(), static_cast<long long>(total),
              s["complete"].get<bool>() ? ", complete" : "");
  std::printf("  %s\n", ProgressText(counts, total, 30, color).c_str());
  for (const char* state : kStates) {
    int64_t n = counts.value(state, int64_t{0});
    if (n == 0) continue;
    std::string label = std::string(state) + ":";
    label.resize(12, ' ');
    std::printf("  %s%lld\n", Paint(color, state, label).c_str(), static_cast<long long>(n));
  }
  PrintRunning(s["running_jobs"], color);
  if (!s["allocations"].empty()) {
    std::map<std::string, int> by_state;
    for (const auto& a : s["allocations"]) ++by_state[a["state"].get<std::string>()];
    std::string line;
    for (const char* st : {"pending", "running", "done", "preempted", "failed", "canceled"})
      if (by_state.count(st))
        line.append(line.empty() ? "" : ", ").append(std::to_string(by_state[st]) + " " + st);
    for (const auto& [st, n] : by_state)
      if (line.find(st) == std::string::npos)
        line.append(line.empty() ? "" : ", ").append(std::to_string(n) + " " + st);
    std::printf("%s %s\n", Paint(color, "bold", "allocations:").c_str(), line.c_str());
  }
  // One line per elastic action that has fired: what it has and why it asks for more, or not.
  if (s.contains("autoscale"))
    for (const auto& a : s["autoscale"]) {
      std::string limit = "max " + std::to_string(a.value("max_allocations", int64_t{0}));
      if (a.contains("max_nodes") && a["max_nodes"].is_number())
        limit += ", max_nodes " + std::to_string(a["max_nodes"].get<int64_t>());
      std::printf("%s action %lld (%s): %lld pending, %lld running, %lld nodes (%s): %s\n",
                  Paint(color, "bold", "autoscale:").c_str(),
                  static_cast<long long>(a.value("action", int64_t{0})),
                  a.value("scheduler", std::string()).c_str(),
                  static_cast<long long>(a.value("pending", int64_t{0})),
                  static_cast<long long>(a.value("running", int64_t{0})),
                  static_cast<long long>(a.value("nodes", int64_t{0})), limit.c_str(),
                  a.value("why", std::string()).c_str());
    }
  if (!s["unclaimable"].empty()) {
    std::printf("%s\n", Paint(color, "bold", "cannot run:").c_str());
    for (const auto& u : s["unclaimable"])
      std::printf("  %s: %s\n", u["job"].get<std::string>().c_str(),
                  u["reason"].get<std::string>().c_str());
  }
  if (s.contains("problems") && !s["problems"].empty()) {
    std::printf("%s\n", Paint(color, "bold", "problems:").c_str());
    for (const auto& p : s["problems"])
      std::printf("  %s: %s\n", Paint(color, "failed", p["kind"].get<std::string>()).c_str(),
                  p["message"].get<std::string>().c_str());
  }
}

// ---- torc watch -------------------------------------------------------------------
volatile std::sig_atomic_t g_interrupted = 0;
void OnInterrupt(int) { g_interrupted = 1; }

int TerminalWidth() {
  winsize ws{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20) return ws.ws_col;
  return 80;
}

/// Prints each problem of status `s` once, as it appears (torc status has them all).
void PrintNewProblems(const nlohmann::json& s, bool tty, bool color, std::set<std::string>* seen) {
  if (!s.contains("problems")) return;
  for (const auto& p : s["problems"]) {
    std::string line = p["kind"].get<std::string>() + ": " + p["message"].get<std::string>();
    if (!seen->insert(line).second) continue;
    if (tty) std::printf("\r\033[K");
    std::printf("%s %s\n", Paint(color, "failed", "problem").c_str(), line.c_str());
  }
}

/// The last line of `torc watch` for the complete workflow's status `s`; returns the exit
/// code: 0 when every job completed, else 1.
int PrintOutcome(const nlohmann::json& s, int64_t wf) {
  const auto& c = s["counts"];
  int64_t total = s["total"].get<int64_t>();
  int64_t bad = c.value("failed", int64_t{0}) + c.value("canceled", int64_t{0}) +
                c.value("terminated", int64_t{0});
  if (bad == 0) {
    std::printf("workflow %lld (%s): all %lld jobs completed\n", static_cast<long long>(wf),
                s["name"].get<std::string>().c_str(), static_cast<long long>(total));
    return 0;
  }
  std::string summary;
  for (const char* st : {"completed", "failed", "canceled", "terminated", "disabled"})
    if (int64_t n = c.value(st, int64_t{0}))
      summary.append(summary.empty() ? "" : ", ").append(std::to_string(n) + " " + st);
  std::printf("workflow %lld (%s) finished: %s; see 'torc jobs list %lld --status failed'\n",
              static_cast<long long>(wf), s["name"].get<std::string>().c_str(), summary.c_str(),
              static_cast<long long>(wf));
  return 1;
}

/// Watches until the workflow is complete; returns the exit code (docs/cli.md).
int Watch(server::ApiClient& client, int64_t wf, double interval, bool color) {
  bool tty = isatty(STDOUT_FILENO) == 1;
  struct sigaction sa {};
  sa.sa_handler = OnInterrupt;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  auto start = std::chrono::steady_clock::now();
  std::string last_text;
  std::set<std::string> seen_problems;
  double unreachable_since = -1;
  nlohmann::json s;
  while (true) {
    double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    server::ApiResult r = client.Call("GET", WorkflowPath(wf) + "/status");
    if (!r.ok()) {
      // A restarting server is normal (its state is durable): retry for a minute.
      if (r.status != 0 || (unreachable_since >= 0 && elapsed - unreachable_since > 60)) {
        if (tty) std::printf("\n");
        Die(client.Describe(r), 2);
      }
      if (unreachable_since < 0) {
        unreachable_since = elapsed;
        if (tty) std::printf("\n");
        std::fflush(stdout);
        Warn(client.Describe(r) + "; retrying for 60 s");
      }
    } else {
      unreachable_since = -1;
      s = PrintableCopy(r.body);  // shown only
      int64_t total = s["total"].get<int64_t>();
      std::string text =
          ProgressText(s["counts"], total, tty ? std::min(40, TerminalWidth() / 4) : 20, color);
      if (!s["unclaimable"].empty())
        text +=
            "  " + Paint(color, "failed", std::to_string(s["unclaimable"].size()) + " cannot run");
      PrintNewProblems(s, tty, color, &seen_problems);
      if (tty) {
        long long secs = static_cast<long long>(elapsed);
        std::printf("\r\033[K%s  %lld:%02lld", text.c_str(), secs / 60, secs % 60);
        std::fflush(stdout);
      } else if (text != last_text) {
        std::printf("%s  %s\n", FormatTime(std::time(nullptr)).substr(11).c_str(), text.c_str());
        std::fflush(stdout);
      }
      last_text = text;
      if (s["complete"].get<bool>()) break;
    }
    for (double slept = 0; slept < interval && !g_interrupted; slept += 0.05)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (g_interrupted) {
      if (tty) std::printf("\n");
      std::fflush(stdout);
      return 130;
    }
  }
  if (tty) std::printf("\n");
  return PrintOutcome(s, wf);
}

// ---- workflows ------------------------------------------------------------------------
/// The table of `torc workflows list`. STATE: active (unfinished jobs), done (all completed)
/// or failed (finished, not all completed).
void PrintWorkflowTable(const nlohmann::json& workflows, bool on) {
  Table t({"ID", "NAME", "OWNER", "JOBS", "COMPLETED", "FAILED", "CANCELED", "STATE", "CREATED"});
  for (const auto& w : workflows) {
    const auto& c = w["counts"];
    int64_t failed = c.value("failed", int64_t{0}) + c.value("terminated", int64_t{0});
    int64_t canceled = c.value("canceled", int64_t{0});
    bool done = w["complete"].get<bool>();
    std::string state = !done ? "active" : failed + canceled ? "failed" : "done";
    std::string owner = w.value("owner", "");
    t.Row({{std::to_string(w["workflow_id"].get<int64_t>()), ""},
           {w["name"].get<std::string>(), ""},
           {owner.empty() ? "-" : owner, ""},
           {std::to_string(w["total"].get<int64_t>()), ""},
           {std::to_string(c.value("completed", int64_t{0})), ""},
           {std::to_string(failed), failed ? "failed" : ""},
           {std::to_string(canceled), canceled ? "canceled" : ""},
           {state, state == "active" ? "running"
                   : state == "done" ? "completed"
                                     : "failed"},
           {FormatTime(w.value("created_at", 0.0)), ""}});
  }
  t.Print(stdout, on);
}

/// `torc workflows show`: where the workflow came from, its status, and its actions (`s`:
/// a PrintableCopy, as for PrintStatus).
void PrintWorkflowDetails(const nlohmann::json& s, bool on) {
  std::printf("owner:       %s\nfile:        %s\nworking dir: %s\ncreated:     %s\n",
              s.value("owner", "").c_str(), s.value("file_name", "").c_str(),
              s.value("working_dir", "").c_str(), FormatTime(s.value("created_at", 0.0)).c_str());
  PrintStatus(s, on);
  if (s.contains("actions") && !s["actions"].empty()) {
    std::printf("%s\n", Paint(on, "bold", "actions:").c_str());
    Table t({"INDEX", "TRIGGER", "ACTION", "STATUS"});
    for (const auto& a : s["actions"])
      t.Row({{std::to_string(a["index"].get<int64_t>()), ""},
             {a["trigger_type"].get<std::string>(), ""},
             {a["action_type"].get<std::string>(), ""},
             {a["status"].get<std::string>(), ""}});
    t.Print(stdout, on, "  ");
  }
}

void AddWorkflowsCommands(CLI::App& app) {
  auto* wfs = app.add_subcommand("workflows", "List, show or delete workflows");
  wfs->require_subcommand(1);
  wfs->footer("Example:\n  torc workflows list");
  auto conn = std::make_shared<Connection>();
  auto json = std::make_shared<bool>(false);
  auto color = std::make_shared<std::string>("auto");
  auto* list = wfs->add_subcommand("list", "List the server's workflows");
  list->add_flag("--json", *json, "Print a JSON array");
  AddColorFlag(list, color.get());
  AddConnectionFlags(list, conn.get());
  list->footer("Example:\n  torc workflows list --json");
  DocumentJson(list,
               "An array, oldest first, of `{\"workflow_id\", \"name\", \"owner\", \"created_at\" "
               "(seconds since the epoch), \"file_name\", \"working_dir\", \"total\", \"counts\": "
               "{state: n for all nine states}, \"complete\"}` (the API's `GET /workflows`).");
  list->callback([conn, json, color] {
    auto client = Connect(*conn);
    auto body = CallOrDie(*client, "GET", "/workflows");
    if (*json) {
      std::cout << body["workflows"].dump(2) << "\n";
      return;
    }
    PrintWorkflowTable(PrintableCopy(body["workflows"]), UseColor(*color, stdout));
  });

  auto wid = std::make_shared<int64_t>(0);
  auto show_wf = std::make_shared<std::string>();
  auto* show = wfs->add_subcommand(
      "show", "Show one workflow: where it came from, counts, actions, allocations");
  show->add_option("workflow", *show_wf,
                   "Workflow id (default: your newest workflow, else the newest)");
  show->add_flag("--json", *json, "Print JSON");
  AddColorFlag(show, color.get());
  AddConnectionFlags(show, conn.get());
  show->footer("Example:\n  torc workflows show 3");
  DocumentJson(show, "The object of `torc status --json` (below).");
  show->callback([conn, show_wf, json, color] {
    auto client = Connect(*conn);
    auto s = StatusWithRunning(*client,
                               WorkflowArgument(*client, *show_wf, "torc workflows show [WF]"));
    if (*json) {
      std::cout << s.dump(2) << "\n";
      return;
    }
    PrintWorkflowDetails(PrintableCopy(s), UseColor(*color, stdout));
  });

  auto* del = wfs->add_subcommand("delete", "Delete a workflow and everything recorded about it");
  del->add_option("workflow", *wid, "Workflow id")->required();
  AddConnectionFlags(del, conn.get());
  del->footer("Example:\n  torc workflows delete 3");
  del->callback([conn, wid] {
    auto client = Connect(*conn);
    CallOrDie(*client, "DELETE", WorkflowPath(*wid));
    std::cout << "deleted workflow " << *wid << "\n";
  });
}

// torc status [WF]
void AddStatusCommand(CLI::App& app) {
  auto conn = std::make_shared<Connection>();
  auto wf = std::make_shared<int64_t>(0);
  auto json = std::make_shared<bool>(false);
  auto color = std::make_shared<std::string>("auto");
  auto* status = app.add_subcommand(
      "status",
      "Job counts per state, running jobs per host, allocations, jobs that cannot run, and "
      "problems: why the workflow cannot make progress and what to do");
  status->add_option("workflow", *wf,
                     "Workflow id (default: your newest workflow, else the newest)");
  status->add_flag("--json", *json, "Print JSON");
  AddColorFlag(status, color.get());
  AddConnectionFlags(status, conn.get());
  status->footer(
      "Examples:\n  torc status          # your most recently submitted workflow\n  torc status 3 "
      "--json");
  DocumentJson(
      status,
      "The API's `GET /workflows/{id}/status` object plus `running_jobs`:\n\n"
      "```\n{\"workflow_id\", \"name\", \"owner\", \"created_at\", \"file_name\", "
      "\"working_dir\",\n"
      " \"total\", \"counts\": {\"blocked\", \"ready\", \"claimed\", \"running\", \"completed\",\n"
      "            \"failed\", \"canceled\", \"terminated\", \"disabled\"}, \"complete\": bool,\n"
      " \"allocations\": [{\"slurm_job_id\", \"scheduler\", \"action\", \"state\", "
      "\"submitted_at\",\n                  \"started_at\", \"ended_at\", \"nodes\"}],\n"
      " \"workers\": [{\"worker_id\", \"hostname\", \"slurm_job_id\", \"lease_expires\"}],\n"
      " \"unclaimable\": [{\"job\", \"reason\"}], \"problems\": [{\"kind\", \"message\", \"jobs\"}],\n"
      " \"actions\": [{\"index\", \"trigger_type\",\n"
      " \"action_type\", \"status\"}],\n"
      " \"autoscale\": [{\"action\", \"scheduler\", \"max_allocations\", \"max_nodes\", "
      "\"pending\", \"running\",\n                \"nodes\", \"ready_jobs\", \"requesting\", "
      "\"why\"}], \"running_jobs\": [{\"id\", \"name\", \"status\", "
      "\"attempt\",\n"
      " \"worker\", \"hostname\", \"nodes\"}]}\n```\n\n"
      "`counts` always has all nine states; `running_jobs` lists claimed and running jobs; "
      "`nodes` is where a running job was placed (\"\" until its start is reported).\n\n"
      "`problems` says why the workflow cannot make progress and what to do, one entry per "
      "cause (`jobs`: at most 20 of the jobs concerned); empty when nothing is wrong. Kinds: "
      "`cannot_run` (jobs no scheduler can hold: more nodes or a longer runtime than any "
      "usable scheduler gives; `unclaimable` lists them one by one), `cannot_fit` (ready jobs "
      "asking for more CPUs, memory, GPUs or nodes than any worker of the workflow had: the "
      "request and the largest node side by side), `worker_left` (the last worker left with work "
      "undone, and why: nothing it could run fitted it, or it was idle), "
      "`allocation_request_failed` (sbatch refused a schedule_nodes action or the last "
      "`torc slurm schedule`; the message is Slurm's), `no_compute` (jobs are ready but no "
      "allocation is pending or running, no worker is connected and no action is about to ask "
      "for one), `max_failures` (as many jobs failed as the workflow's `max_failures` allows: "
      "no further job started and the jobs that had not started were canceled; listed even "
      "once every job has ended, with the failed jobs and what to do: fix the cause, then "
      "`torc restart WF --failed`), `no_worker` (an allocation has run for a minute, two with "
      "staggered_start, and no worker of it registered: its nodes are held and nothing runs "
      "there; the message names its batch output, which says why), "
      "`staying_after_completion` (the workflow is complete and its workers stay, as "
      "`compute_node_ignore_workflow_completion` asks, for jobs made ready again until they "
      "have been idle for their idle timeout: their allocations hold their nodes meanwhile; "
      "the message names them and the `scancel` that ends them now). `torc watch` prints each "
      "problem once, as it appears.\n\n"
      "`autoscale` has one entry per elastic schedule_nodes action (`max_allocations`) whose "
      "trigger has fired: its live allocations (`pending`, `running`, `nodes`; `max_nodes` "
      "null when not set), the ready jobs its scheduler can hold, whether it is asking for "
      "more now, and `why` in one sentence (docs/slurm.md, \"Elastic allocations\"); the "
      "human output prints one `autoscale:` line per entry.");
  status->callback([conn, wf, json, color] {
    auto client = Connect(*conn);
    int64_t id = *wf ? *wf : DefaultWorkflow(*client);
    auto s = StatusWithRunning(*client, id);
    if (*json) {
      std::cout << s.dump(2) << "\n";
      return;
    }
    PrintStatus(PrintableCopy(s), UseColor(*color, stdout));
  });
}

// torc watch [WF]
void AddWatchCommand(CLI::App& app) {
  auto wconn = std::make_shared<Connection>();
  auto wwf = std::make_shared<int64_t>(0);
  auto interval = std::make_shared<double>(1.0);
  auto wcolor = std::make_shared<std::string>("auto");
  auto* watch = app.add_subcommand(
      "watch", "Show progress until the workflow ends; exit 0 only if every job completed");
  watch->add_option("workflow", *wwf, "Workflow id (default: your newest workflow, else the newest)");
  watch->add_option("--interval", *interval, "Seconds between polls (default 1)")
      ->check(CLI::Range(0.05, 3600.0));
  AddColorFlag(watch, wcolor.get());
  AddConnectionFlags(watch, wconn.get());
  watch->footer(
      "On a terminal one line is redrawn; otherwise (a pipe, a log file) a line is printed\n"
      "when the counts change. Exit code: 0 all jobs completed, 1 some failed, were canceled\n"
      "or terminated, 2 the server could not be reached (for 60 s) or the workflow is gone,\n"
      "130 interrupted.\n\nExample:\n  torc submit wf.yaml && torc watch && echo all good");
  watch->callback([wconn, wwf, interval, wcolor] {
    auto client = Connect(*wconn);
    int64_t id = *wwf ? *wwf : DefaultWorkflow(*client);
    int rc = Watch(*client, id, *interval, UseColor(*wcolor, stdout));
    std::fflush(stdout);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

/// The table of `torc allocations list` (colour mode `color`), or a line saying there is none.
void PrintAllocationTable(const nlohmann::json& allocations, int64_t wf, const std::string& color) {
  Table t({"SLURM JOB", "SCHEDULER", "ACTION", "STATE", "SUBMITTED", "STARTED", "ENDED", "NODES"});
  auto when = [](const nlohmann::json& a, const char* key) {
    return a.contains(key) && a[key].is_number() ? FormatTime(a[key].get<double>())
                                                 : std::string("-");
  };
  for (const auto& a : allocations) {
    std::string st = a["state"].get<std::string>();
    t.Row({{a["slurm_job_id"].is_string() ? a["slurm_job_id"].get<std::string>()
                                          : a["slurm_job_id"].dump(),
            ""},
           {a["scheduler"].is_string() ? a["scheduler"].get<std::string>() : "-", ""},
           {a["action"].is_null() ? "manual" : a["action"].dump(), ""},
           {st, st},
           {FormatTime(a.value("submitted_at", 0.0)), ""},
           {when(a, "started_at"), ""},
           {when(a, "ended_at"), ""},
           {a.contains("nodes") && a["nodes"].is_string() && !a["nodes"].get<std::string>().empty()
                ? a["nodes"].get<std::string>()
                : "-",
            ""}});
  }
  if (t.empty())
    std::printf("workflow %lld has no allocations\n", static_cast<long long>(wf));
  else
    t.Print(stdout, UseColor(color, stdout));
}

// torc allocations list WF
void AddAllocationsCommands(CLI::App& app) {
  auto* allocs = app.add_subcommand("allocations", "Slurm allocations of a workflow");
  allocs->require_subcommand(1);
  allocs->footer("Example:\n  torc allocations list 3");
  auto aconn = std::make_shared<Connection>();
  auto awf = std::make_shared<int64_t>(0);
  auto ajson = std::make_shared<bool>(false);
  auto acolor = std::make_shared<std::string>("auto");
  auto* alist =
      allocs->add_subcommand("list", "List the allocations torc asked Slurm for, with their state");
  auto awf_text = std::make_shared<std::string>();
  alist->add_option("workflow", *awf_text,
                    "Workflow id (default: your newest workflow, else the newest)");
  alist->add_flag("--json", *ajson, "Print a JSON array");
  AddColorFlag(alist, acolor.get());
  AddConnectionFlags(alist, aconn.get());
  alist->footer("Example:\n  torc allocations list 3 --json");
  DocumentJson(
      alist,
      "An array of `{\"slurm_job_id\", \"scheduler\", \"action\" (index of the action that "
      "asked for it; null, `manual` in the table, for `torc slurm schedule` and restarts), "
      "\"state\" (pending, running, done, failed, canceled), "
      "\"submitted_at\", \"started_at\", \"ended_at\" (null until seen), \"nodes\" (its Slurm "
      "node list, \"\" until a worker reported it)}`. An allocation is `running` as soon as its "
      "first worker registers, and ended as soon as squeue says so after its workers left "
      "(squeue is asked when a worker leaves, 2 s and 6 s later, and every 30 s).");
  alist->callback([aconn, awf, awf_text, ajson, acolor] {
    auto client = Connect(*aconn);
    *awf = WorkflowArgument(*client, *awf_text, "torc allocations list [WF]");
    auto s = CallOrDie(*client, "GET", WorkflowPath(*awf) + "/status");
    if (*ajson) {
      std::cout << s["allocations"].dump(2) << "\n";
      return;
    }
    PrintAllocationTable(PrintableCopy(s["allocations"]), *awf, *acolor);
  });
}

}  // namespace

void AddMonitorCommands(CLI::App& app) {
  AddWorkflowsCommands(app);
  AddStatusCommand(app);
  AddWatchCommand(app);
  AddAllocationsCommands(app);
}

}  // namespace torc::cmd
