// `torc validate` and `torc plan`: read a workflow file and show what it means.
#include <cstdio>
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cmd/client_support.h"
#include "cmd/commands.h"
#include "cmd/rerun_client.h"
#include "cmd/workflow_file.h"
#include "spec/plan.h"
#include "spec/plan_json.h"

namespace torc::cmd {
namespace {

std::string HumanBytes(int64_t bytes) {
  if (bytes <= 0) return "-";
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, v == static_cast<int64_t>(v) ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

std::string HumanDuration(int64_t s) {
  char buf[48];
  if (s % 3600 == 0) std::snprintf(buf, sizeof buf, "%lldh", static_cast<long long>(s / 3600));
  else if (s % 60 == 0 && s < 3600) std::snprintf(buf, sizeof buf, "%lldm", static_cast<long long>(s / 60));
  else std::snprintf(buf, sizeof buf, "%lldh%02lldm%02llds", static_cast<long long>(s / 3600),
                     static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  return buf;
}

// Loads the file or prints every error; nullopt means "exit 1". What it and the printers below
// show from the file is Printable.
std::optional<spec::Plan> LoadOrReport(const std::string& path) {
  spec::LoadResult result = LoadWorkflowFile(path);
  if (result.ok()) return std::move(result.plan);
  PrintFileErrors(result.errors);
  Warn(ErrorCount(result.errors.size()) + " in " + path + "; nothing was created");
  return std::nullopt;
}

std::string Summary(const spec::Plan& plan) {
  auto plural = [](size_t n, const char* one, const char* many) {
    return std::to_string(n) + " " + (n == 1 ? one : many);
  };
  return Printable(plan.name) + ": " + plural(plan.jobs.size(), "job", "jobs") + ", " +
         plural(plan.DependencyCount(), "dependency", "dependencies") + ", " +
         plural(plan.schedulers.size(), "scheduler", "schedulers") + ", " +
         plural(plan.actions.size(), "action", "actions");
}

void PrintPlan(const spec::Plan& plan) {
  std::cout << Summary(plan) << "\n";
  if (!plan.description.empty()) std::cout << Printable(plan.description) << "\n";
  std::cout << "\njobs:\n";
  for (const auto& job : plan.jobs) {
    const auto& rr = plan.RequirementsOf(job);
    std::cout << "  " << Printable(job.name) << "  [" << rr.num_cpus << " cpu, "
              << HumanBytes(rr.memory_bytes) << " mem, " << rr.num_gpus << " gpu, " << rr.num_nodes
              << (rr.num_nodes == 1 ? " node, " : " nodes, ") << HumanDuration(rr.runtime_seconds);
    if (job.scheduler != spec::kNone)
      std::cout << ", scheduler " << Printable(plan.schedulers[job.scheduler].name);
    if (job.priority != 0) std::cout << ", priority " << job.priority;
    std::cout << "]\n    command: " << Printable(job.command) << "\n";
    auto parents = plan.AllParents(job);
    if (!parents.empty()) {
      std::vector<std::string> names;
      for (auto p : parents) names.push_back(plan.jobs[p].name);
      std::sort(names.begin(), names.end());
      std::cout << "    depends on:";
      size_t shown = 0;
      for (const auto& n : names) {
        if (++shown > 20) {
          std::cout << " ... (" << names.size() << " in all)";
          break;
        }
        std::cout << " " << Printable(n);
      }
      std::cout << "\n";
    }
  }
  if (!plan.schedulers.empty()) {
    std::cout << "\nslurm schedulers:\n";
    for (const auto& s : plan.schedulers) {
      std::cout << "  " << Printable(s.name) << "  [" << s.nodes
                << (s.nodes == 1 ? " node" : " nodes") << ", walltime " << Printable(s.walltime);
      if (!s.account.empty()) std::cout << ", account " << Printable(s.account);
      if (!s.partition.empty()) std::cout << ", partition " << Printable(s.partition);
      std::cout << "]\n";
    }
  }
  if (!plan.actions.empty()) {
    std::cout << "\nactions:\n";
    for (const auto& a : plan.actions) {
      std::cout << "  " << spec::ToString(a.trigger) << " -> " << spec::ToString(a.type);
      if (a.scheduler != spec::kNone)
        std::cout << " " << Printable(plan.schedulers[a.scheduler].name) << " x"
                  << a.num_allocations;
      if (a.start_one_worker_per_node) std::cout << " (one worker per node)";
      if (!a.jobs.empty()) std::cout << " when " << a.jobs.size() << (a.jobs.size() == 1 ? " job" : " jobs");
      for (const auto& c : a.commands) std::cout << "\n    $ " << Printable(c);
      std::cout << "\n";
    }
  }
}

}  // namespace

void AddSpecCommands(CLI::App& app) {
  auto files = std::make_shared<std::vector<std::string>>();
  auto* validate = app.add_subcommand("validate", "Check workflow files and summarize each");
  validate->add_option("files", *files, "Workflow files (YAML or JSON)")->required();
  validate->footer(
      "Warnings (on stderr, exit 0; exit 1 with --strict): keys torc does not act on, jobs no "
      "scheduler can hold (runtime over the walltime), schedulers without a schedule_nodes "
      "action, no schedulers at all.\n"
      "Example:\n  torc validate examples/sweep_pipeline.yaml");
  auto strict = std::make_shared<bool>(false);
  validate->add_flag("--strict", *strict, "Warnings are errors (exit 1)");
  validate->callback([files, strict] {
    bool all_ok = true;
    for (const auto& file : *files) {
      auto plan = LoadOrReport(file);
      if (plan) {
        std::cout << "ok: " << Summary(*plan) << "\n";
        // Valid, but not what its author probably expects (torc status lists the same).
        all_ok = ReportWarnings(*plan, *strict) && all_ok;
      }
      all_ok = all_ok && plan.has_value();
    }
    if (!all_ok) throw CLI::RuntimeError(1);
  });

  auto plan_file = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  auto* plan = app.add_subcommand("plan", "Show the expanded jobs, dependencies, schedulers and actions");
  plan->add_option("file", *plan_file, "Workflow file (YAML or JSON)")->required();
  plan->add_flag("--json", *json, "Print the plan as JSON (schema: docs/plan-json.md)");
  auto against = std::make_shared<std::string>();
  auto conn = std::make_shared<Connection>();
  auto hash = std::make_shared<bool>(false);
  plan->add_option("--against", *against,
                   "Instead, list the jobs of workflow WF the file would make run again, and why "
                   "(a dry `torc submit --update`, docs/rerun.md)");
  plan->add_flag("--hash", *hash,
                 "With --against: compare input files by a hash of their content, not their "
                 "modification time");
  AddConnectionFlags(plan, conn.get());
  plan->footer("Example:\n  torc plan examples/sweep_pipeline.yaml --json | jq '.jobs[].name'\n"
               "Example (what would run again in workflow 3):\n"
               "  torc plan examples/sweep_pipeline.yaml --against 3");
  plan->callback([plan_file, json, against, conn, hash] {
    if (!against->empty()) {
      std::string text;
      auto loaded = LoadWorkflowFile(*plan_file, &text);
      if (!loaded.ok()) {
        PrintFileErrors(loaded.errors);
        throw CLI::RuntimeError(1);
      }
      auto client = Connect(*conn);
      int64_t wf = WorkflowArgument(*client, *against, "torc plan FILE --against WF");
      UpdateOrDie(*client, wf, text, *plan_file, *loaded.plan, true, *json, *hash);
      return;
    }
    auto p = LoadOrReport(*plan_file);
    if (!p) throw CLI::RuntimeError(1);
    if (*json) std::cout << spec::PlanToJson(*p).dump(2) << "\n";
    else PrintPlan(*p);
  });
}

}  // namespace torc::cmd
