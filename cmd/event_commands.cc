// `torc events [WF] [--follow] [--json] [--after N]`: what happened to a workflow (job
// failures and retries, workers coming and going, actions, allocation requests and Slurm's
// answers), from GET /workflows/{id}/events.
#include <CLI/CLI.hpp>
#include <chrono>
#include <iostream>
#include <memory>
#include <optional>

#include "cmd/client_support.h"
#include "cmd/commands.h"

namespace torc::cmd {
namespace {

struct EventsOptions {
  Connection connection;
  std::string workflow;  // empty: the newest
  bool follow = false;
  bool json = false;
  int64_t after = 0;
  double interval = 0.5;
  std::string color = "auto";
};

/// The colour of an event kind: the job state it is named after, red for failures.
std::string KindColor(const std::string& kind) {
  if (kind == "failed" || kind.ends_with("_failed")) return "failed";
  if (kind == "canceled" || kind == "workflow_canceled") return "canceled";
  if (kind == "terminated" || kind == "lease_expired") return "terminated";
  if (kind == "retry" || kind == "requeued" || kind == "restarted") return "ready";
  return "";
}

/// One line: local time, kind, the job (name and attempt) when there is one, the worker
/// when there is one and no job, and the detail. `e` is a PrintableCopy (names and details
/// come from users).
std::string EventLine(const nlohmann::json& e, bool color) {
  std::string kind = e.value("kind", "");
  std::string padded = kind;
  if (padded.size() < 20) padded.resize(20, ' ');
  std::string line =
      FormatTime(e.value("time", 0.0)) + "  " + Paint(color, KindColor(kind), padded);
  std::string job;
  if (e.contains("job_name") && e["job_name"].is_string())
    job = e["job_name"].get<std::string>();
  else if (e.value("job", int64_t{-1}) >= 0)
    job = "job " + e["job"].dump();
  if (!job.empty()) {
    line += "  " + job;
    if (e.value("attempt", 0) > 0) line += " #" + e["attempt"].dump();
  } else if (e.value("worker", int64_t{0}) > 0) {
    line += "  worker " + e["worker"].dump();
  }
  std::string detail = e.value("detail", "");
  if (!detail.empty()) line += "  " + detail;
  while (!line.empty() && line.back() == ' ') line.pop_back();
  return line;
}

/// Prints the events after `*cursor` (every page) and moves the cursor; returns the last
/// answer (a failed one stops the printing).
server::ApiResult PrintNewEvents(server::ApiClient& client, int64_t wf, const EventsOptions& o,
                                 int64_t* cursor, bool color) {
  constexpr int kPage = 1000;
  while (true) {
    server::ApiResult r =
        client.Call("GET", WorkflowPath(wf) + "/events?after=" + std::to_string(*cursor) +
                               "&limit=" + std::to_string(kPage));
    if (!r.ok()) return r;
    const auto& events = r.body["events"];
    for (const auto& e : events)
      std::cout << (o.json ? e.dump() : EventLine(PrintableCopy(e), color)) << "\n";
    std::cout.flush();
    *cursor = r.body.value("cursor", *cursor);
    if (events.size() < static_cast<size_t>(kPage)) return r;
  }
}

/// Prints the events, and with --follow keeps printing new ones; returns the exit code.
int ShowEvents(const EventsOptions& o) {
  auto client = Connect(o.connection);
  int64_t wf = WorkflowArgument(*client, o.workflow, "torc events [WF]");
  bool color = !o.json && UseColor(o.color, stdout);
  int64_t cursor = o.after;
  if (!o.follow) {
    server::ApiResult r = PrintNewEvents(*client, wf, o, &cursor, color);
    if (!r.ok()) DieOfCall(*client, r);
    return 0;
  }
  CatchInterrupts();
  using Clock = std::chrono::steady_clock;
  std::optional<Clock::time_point> unreachable_since;
  while (true) {
    // Whether the workflow is complete is read before the events, so that the events that
    // led to it are printed before stopping.
    server::ApiResult r = client->Call("GET", WorkflowPath(wf));
    bool complete = r.ok() && r.body.value("complete", false);
    if (r.ok()) r = PrintNewEvents(*client, wf, o, &cursor, color);
    if (r.ok()) {
      if (complete) return 0;
      unreachable_since.reset();
    } else if (r.status != 0) {
      DieOfCall(*client, r, "", 2);  // e.g. the workflow was deleted
    } else if (!unreachable_since) {
      // A restarting server is normal (its state is durable): retry for a minute.
      unreachable_since = Clock::now();
      Warn(client->Describe(r) + "; retrying for 60 s");
    } else if (Clock::now() - *unreachable_since > std::chrono::seconds(60)) {
      DieOfCall(*client, r, "", 2);
    }
    if (!SleepUnlessInterrupted(o.interval)) return 130;
  }
}

}  // namespace

void AddEventCommands(CLI::App& app) {
  auto o = std::make_shared<EventsOptions>();
  auto* events = app.add_subcommand(
      "events",
      "A workflow's events: job failures and retries, workers, actions, allocation "
      "requests and Slurm's answers; --follow prints new ones as they happen");
  events->add_option("workflow", o->workflow,
                     "Workflow id (default: your newest workflow, else the newest)");
  events->add_flag("-f,--follow", o->follow,
                   "Keep printing new events until the workflow is complete (or ^C)");
  events->add_flag("--json", o->json, "One JSON object per line (JSON Lines)");
  events
      ->add_option("--after", o->after,
                   "Only events after this cursor (the `seq` of an event; default 0: all)")
      ->check(CLI::NonNegativeNumber);
  events->add_option("--interval", o->interval, "Seconds between polls with --follow (default 0.5)")
      ->check(CLI::Range(0.05, 3600.0));
  AddColorFlag(events, &o->color);
  AddConnectionFlags(events, &o->connection);
  events->footer(
      "One line per event: local time, kind, the job and its attempt (or the worker), detail.\n"
      "Kinds: docs/api.md (GET /workflows/{id}/events). --follow ends with exit code 0 once the\n"
      "workflow is complete and every event is printed, 130 when interrupted (SIGINT, SIGTERM),\n"
      "2 when the server cannot be reached for 60 s or the workflow is gone.\n\n"
      "Examples:\n  torc events 3\n  torc events --follow   # your newest workflow\n"
      "  torc events 3 --json --after 120 | jq -r .detail");
  DocumentJson(
      events,
      "One JSON object per line (JSON Lines), oldest first, as the API gives them: `{\"seq\" "
      "(increasing; pass the last one to --after to continue), \"time\" (epoch seconds), "
      "\"kind\", \"job\" (index, -1 for none), \"job_name\" (when there is a job), \"attempt\", "
      "\"worker\" (0 for none), \"detail\"}`.");
  events->callback([o] {
    int rc = ShowEvents(*o);
    std::cout.flush();
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace torc::cmd
