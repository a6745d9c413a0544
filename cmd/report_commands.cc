// `torc report WF --html FILE`: one self-contained HTML file about a workflow
// (server/report.h renders it from the API's JSON; docs/dashboard.md).
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "cmd/attempt_samples.h"
#include "cmd/client_support.h"
#include "cmd/commands.h"
#include "server/util/clock.h"
#include "server/report/report.h"

namespace torc::cmd {
namespace {

struct ReportFlags {
  Connection connection;
  std::string workflow;  // empty: the newest
  std::string html;
};

/// Every job with its attempts, a page of the bulk endpoint at a time; the
/// parents too when the graph will be drawn.
nlohmann::json FetchAttempts(server::ApiClient& client, int64_t wf, bool parents) {
  constexpr int64_t kPage = 20000;
  nlohmann::json all;
  for (int64_t offset = 0;; offset += kPage) {
    nlohmann::json page =
        CallOrDie(client, "GET",
                  WorkflowPath(wf) + "/attempts?offset=" + std::to_string(offset) +
                      "&limit=" + std::to_string(kPage) + (parents ? "&parents=true" : ""));
    if (all.is_null()) {
      all = page;
    } else {
      for (auto& job : page["jobs"]) all["jobs"].push_back(std::move(job));
      all["now"] = page["now"];
    }
    if (page["jobs"].size() < static_cast<size_t>(kPage) ||
        offset + kPage >= page.value("total", int64_t{0}))
      break;
  }
  return all;
}

void RunReport(const ReportFlags& f) {
  auto client = Connect(f.connection);
  int64_t wf = WorkflowArgument(*client, f.workflow, "torc report [WF] --html FILE");
  nlohmann::json summary = CallOrDie(*client, "GET", WorkflowPath(wf));
  server::ReportOptions options;
  options.generated_at = util::WallClockNow();
  bool graph = summary.value("total", int64_t{0}) <= static_cast<int64_t>(options.max_dag_jobs);
  nlohmann::json attempts = FetchAttempts(*client, wf, graph);
  // The samples of the attempts the report draws, one request each.
  for (auto [j, k] : server::ChartedAttempts(attempts, options)) {
    auto& job = attempts["jobs"][j];
    auto& a = job["attempts"][k];
    auto series = FetchSampleSeries(*client, wf, job["name"].get<std::string>(),
                                    a["attempt"].get<int64_t>());
    if (!series.is_null()) a["sample_series"] = std::move(series);
  }
  std::string html = server::RenderReportHtml(summary, attempts, options);
  size_t n_attempts = 0, flagged = 0;
  for (const auto& job : attempts["jobs"]) {
    n_attempts += job["attempts"].size();
    flagged += server::JudgeUsage(job, options.thresholds).empty() ? 0 : 1;
  }
  if (f.html == "-") {
    std::cout << html;
    return;
  }
  std::ofstream out(f.html, std::ios::binary | std::ios::trunc);
  out << html;
  out.close();
  if (!out) Die("cannot write " + f.html);
  std::cout << "wrote " << f.html << ": workflow " << wf << ", " << attempts["jobs"].size()
            << " jobs, " << n_attempts << " attempts, " << flagged
            << " jobs with flagged requests\n";
}

}  // namespace

void AddReportCommands(CLI::App& app) {
  auto flags = std::make_shared<ReportFlags>();
  auto* cmd = app.add_subcommand(
      "report", "Write a self-contained HTML report of a workflow: summary, timeline, graph, "
                "resource use against requests (flags, suggested requests, charts over time)");
  cmd->add_option("workflow", flags->workflow,
                  "Workflow id (default: your newest workflow, else the newest)");
  cmd->add_option("--html", flags->html, "The HTML file to write ('-': standard output)")
      ->required();
  AddConnectionFlags(cmd, &flags->connection);
  cmd->footer(
      "Jobs are flagged for over- and under-requests of CPUs, memory and runtime, each with a\n"
      "suggested request (thresholds: docs/dashboard.md). Jobs whose attempts have samples\n"
      "(resource_monitor granularity time_series) get memory and CPU charts over time with the\n"
      "request as a line; their samples are fetched one attempt at a time (at most 100 jobs).\n\n"
      "Example:\n  torc report 3 --html report.html   # then open report.html in a browser");
  cmd->callback([flags] { RunReport(*flags); });
}

}  // namespace torc::cmd
