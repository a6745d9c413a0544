// Readers of a workflow file's configuration sections: resource requirements,
// Slurm schedulers, actions, failure handlers and execution_config. The
// document, the workflow and its jobs, files and user data are read in schema.cc.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "spec/schema_internal.h"
#include "spec/units.h"
#include "spec/yaml_reader.h"

namespace torc::spec::internal {
namespace {

constexpr int64_t kMaxCount = 1'000'000;  // a sane bound for CPUs, nodes, GPUs per node

// An action's required `trigger_type`; an unknown one is reported with the closest name.
void ReadTrigger(MapReader& r, Action* action) {
  static const std::pair<const char*, TriggerType> kTriggers[] = {
      {"on_workflow_start", TriggerType::kOnWorkflowStart},
      {"on_jobs_ready", TriggerType::kOnJobsReady},
      {"on_jobs_complete", TriggerType::kOnJobsComplete},
      {"on_workflow_complete", TriggerType::kOnWorkflowComplete},
      {"on_worker_start", TriggerType::kOnWorkerStart},
      {"on_worker_complete", TriggerType::kOnWorkerComplete}};
  auto v = r.String("trigger_type", true);
  if (!v) return;
  bool found = false;
  std::vector<std::string_view> names;
  for (const auto& [name, t] : kTriggers) {
    names.push_back(name);
    if (v->value == name) {
      action->trigger = t;
      found = true;
    }
  }
  if (!found) {
    std::string hint = SuggestClosest(v->value, names);
    r.Error(v->loc, "unknown trigger_type '" + v->value + "'" +
                        (hint.empty() ? " (expected on_workflow_start, on_jobs_ready, "
                                        "on_jobs_complete, on_workflow_complete, "
                                        "on_worker_start or on_worker_complete)"
                                      : "; " + hint));
  }
}

/// Where `key` is written in the mapping `node` (the key itself, not its value).
Loc KeyLoc(const YAML::Node& node, const std::string& key) {
  if (node.IsMap())
    for (auto it = node.begin(); it != node.end(); ++it)
      if (it->first.IsScalar() && it->first.Scalar() == key) return LocOf(it->first);
  return LocOf(node);
}

/// An action's `idle_timeout`: an ISO-8601 duration ("PT30S") or a number of seconds, more
/// than zero and at most a week.
void ReadIdleTimeout(MapReader& r, Action* action) {
  YAML::Node v = r.Get("idle_timeout");
  if (IsAbsent(v)) return;
  const std::string where = "idle_timeout of " + r.what();
  if (!v.IsScalar()) {
    r.Error(LocOf(v), where + " must be a duration (PT5M) or seconds, not " + KindOf(v));
    return;
  }
  const std::string& text = v.Scalar();
  int64_t seconds = 0;
  std::string error;
  bool digits = !text.empty() && text.size() <= 12 &&
                std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (digits) {
    seconds = std::stoll(text);
  } else if (!ParseIsoDuration(text, &seconds, &error)) {
    r.Error(LocOf(v), error + " (" + where + "; or a plain number of seconds)");
    return;
  }
  constexpr int64_t kWeek = 7 * 24 * 3600;
  if (seconds <= 0 || seconds > kWeek) {
    r.Error(LocOf(v), where + " must be more than zero and at most a week (P7D), not '" + text +
                          "'");
    return;
  }
  action->idle_timeout_seconds = seconds;
}

/// The elastic keys of an action (max_allocations, max_nodes, idle_timeout) and what they
/// mean together with its type and num_allocations.
void ReadElastic(MapReader& r, const YAML::Node& node, bool has_type, Diagnostics* diags,
                 RawAction* a) {
  Action& action = a->action;
  if (auto v = r.Int("max_allocations", 1, 10000)) action.max_allocations = *v;
  if (auto v = r.Int("max_nodes", 1, kMaxCount)) {
    action.max_nodes = *v;
    a->max_nodes_loc = LocOf(r.Get("max_nodes"));
  }
  ReadIdleTimeout(r, &action);
  if (!has_type) return;
  if (action.type == ActionType::kRunCommands) {
    for (const char* key : {"max_allocations", "max_nodes", "idle_timeout"})
      if (r.Has(key)) {
        std::string message = r.what() + " (run_commands) cannot have '";
        message += key;
        message += "': it belongs to schedule_nodes actions";
        r.Error(KeyLoc(node, key), message);
      }
    return;
  }
  if (action.max_nodes > 0 && !action.elastic())
    r.Error(a->max_nodes_loc, r.what() + " sets max_nodes without max_allocations: max_nodes "
                                         "limits an elastic action; add max_allocations");
  if (action.elastic() && r.Has("num_allocations"))
    diags->Warning(KeyLoc(node, "num_allocations"),
                   "'num_allocations' has no effect in torc on " + r.what() +
                       ", which has max_allocations: the server decides how many allocations to "
                       "ask for, up to max_allocations");
}

// An action's required `action_type`; false when it is missing or unknown.
bool ReadActionType(MapReader& r, Action* action) {
  auto v = r.String("action_type", true);
  if (!v) return false;
  if (v->value == "schedule_nodes") {
    action->type = ActionType::kScheduleNodes;
  } else if (v->value == "run_commands") {
    action->type = ActionType::kRunCommands;
  } else {
    r.Error(v->loc,
            "unknown action_type '" + v->value + "' (expected schedule_nodes or run_commands)");
    return false;
  }
  return true;
}

}  // namespace

Located<ResourceRequirements> ReadRequirements(const YAML::Node& node, size_t index,
                                               Diagnostics* diags) {
  Located<ResourceRequirements> out;
  ResourceRequirements& rr = out.value;
  MapReader r(node, EntryName(node, "resource requirement", index),
              {"name", "num_cpus", "num_gpus", "num_nodes", "memory", "runtime", "step_nodes"},
              diags);
  out.loc = r.loc();
  if (!r.valid()) return out;
  if (auto v = r.String("name", true)) {
    rr.name = v->value;
    out.loc = v->loc;
  }
  if (auto v = r.Int("num_cpus", 1, kMaxCount)) rr.num_cpus = *v;
  if (auto v = r.Int("num_gpus", 0, kMaxCount)) rr.num_gpus = *v;
  if (auto v = r.Int("num_nodes", 1, kMaxCount)) rr.num_nodes = *v;
  r.NoEffect("step_nodes", "a slurm-mode job's step spans all of its num_nodes");
  if (auto v = r.String("memory")) {
    std::string error;
    if (!ParseMemory(v->value, &rr.memory_bytes, &error))
      r.Error(v->loc, error + " (in " + r.what() + ")");
    else if (rr.memory_bytes <= 0)
      r.Error(v->loc, "memory of " + r.what() + " must be more than zero");
  }
  if (auto v = r.String("runtime")) {
    std::string error;
    if (!ParseIsoDuration(v->value, &rr.runtime_seconds, &error))
      r.Error(v->loc, error + " (in " + r.what() + ")");
    else if (rr.runtime_seconds <= 0)
      r.Error(v->loc, "runtime of " + r.what() + " must be more than zero");
  }
  r.Finish();
  return out;
}

std::string BatchScriptLineProblem(std::string_view text) {
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7F) {
      char code[8];
      std::snprintf(code, sizeof code, "0x%02X", c);
      return std::string("it holds the control character ") + code +
             ", and it becomes a line of the sbatch script";
    }
  }
  return "";
}

Located<SlurmScheduler> ReadScheduler(const YAML::Node& node, size_t index, Diagnostics* diags) {
  Located<SlurmScheduler> out;
  SlurmScheduler& s = out.value;
  MapReader r(node, EntryName(node, "slurm scheduler", index),
              {"name", "account", "partition", "qos", "nodes", "walltime", "mem", "gres",
               "ntasks_per_node", "tmp", "extra", "serialize_allocations"},
              diags);
  out.loc = r.loc();
  if (!r.valid()) return out;
  // Every text here goes into the batch script's #SBATCH lines.
  auto line_safe = [&](const char* key, const LString& v) {
    if (std::string why = BatchScriptLineProblem(v.value); !why.empty()) {
      // Appended piece by piece: g++ 12 -O3 sees a false -Wrestrict in "'" + std::string(key).
      std::string message = "'";
      message += key;
      message += "' of " + r.what() + ": " + why;
      r.Error(v.loc, message);
    }
  };
  if (auto v = r.String("name", true)) {
    s.name = v->value;
    out.loc = v->loc;
    line_safe("name", *v);
  }
  auto str = [&](const char* key, std::string* field) {
    if (auto v = r.String(key)) {
      *field = v->value;
      line_safe(key, *v);
    }
  };
  str("account", &s.account);
  str("partition", &s.partition);
  str("qos", &s.qos);
  str("mem", &s.mem);
  str("gres", &s.gres);
  str("tmp", &s.tmp);
  str("extra", &s.extra);
  if (!s.mem.empty()) {
    int64_t bytes = 0;
    std::string error;
    if (!ParseMemory(s.mem, &bytes, &error)) r.Error(LocOf(r.Get("mem")), error);
  }
  if (auto v = r.Int("nodes", 1, kMaxCount)) s.nodes = *v;
  if (auto v = r.Int("ntasks_per_node", 1, kMaxCount)) s.ntasks_per_node = *v;
  r.NoEffect("serialize_allocations",
             "an action submits all of its allocations at once (or, elastic, as work waits)");
  s.walltime = "01:00:00";
  if (auto v = r.String("walltime")) s.walltime = v->value;
  std::string error;
  if (!ParseSlurmWalltime(s.walltime, &s.walltime_seconds, &error))
    r.Error(LocOf(r.Get("walltime")), error + " (in " + r.what() + ")");
  r.Finish();
  return out;
}

RawAction ReadAction(const YAML::Node& node, size_t index, Diagnostics* diags) {
  RawAction a;
  MapReader r(node, "action #" + std::to_string(index + 1),
              {"trigger_type", "action_type", "jobs", "job_name_regexes", "scheduler",
               "scheduler_type", "num_allocations", "start_one_worker_per_node",
               "max_parallel_jobs", "persistent", "commands", "max_allocations", "max_nodes",
               "idle_timeout"},
              diags);
  a.loc = r.loc();
  if (!r.valid()) return a;
  ReadTrigger(r, &a.action);
  bool has_type = ReadActionType(r, &a.action);
  a.jobs = r.StringList("jobs");
  a.job_name_regexes = r.StringList("job_name_regexes");
  if (auto v = r.String("scheduler")) a.scheduler = *v;
  if (auto v = r.String("scheduler_type")) {
    if (v->value != "slurm")
      r.Error(v->loc, "scheduler_type '" + v->value + "' is not supported (only 'slurm')");
  }
  if (auto v = r.Int("num_allocations", 1, 10000)) a.action.num_allocations = *v;
  if (auto v = r.Bool("start_one_worker_per_node")) {
    a.action.start_one_worker_per_node = *v;
    a.worker_per_node_loc = LocOf(r.Get("start_one_worker_per_node"));
  }
  if (auto v = r.Int("max_parallel_jobs", 1, 100000)) a.action.max_parallel_jobs = *v;
  r.NoEffect("persistent", "each action runs once; an elastic schedule_nodes action "
                           "(max_allocations) keeps asking for allocations while work waits");
  for (auto& c : r.StringList("commands")) a.action.commands.push_back(std::move(c.value));
  ReadElastic(r, node, has_type, diags, &a);
  // Torc reads max_parallel_jobs of every action but acts on it only for schedule_nodes.
  if (has_type && a.action.type == ActionType::kRunCommands && r.Has("max_parallel_jobs"))
    diags->Warning(KeyLoc(node, "max_parallel_jobs"),
                   "'max_parallel_jobs' has no effect in torc on " + r.what() +
                       " (run_commands): it limits the workers of a schedule_nodes action's "
                       "allocations");
  if (has_type && a.action.type == ActionType::kScheduleNodes && a.scheduler.empty())
    r.Error(r.loc(), r.what() + " (schedule_nodes) needs 'scheduler'");
  if (has_type && a.action.type == ActionType::kRunCommands && a.action.commands.empty())
    r.Error(r.loc(), r.what() + " (run_commands) needs 'commands'");
  bool job_trigger = a.action.trigger == TriggerType::kOnJobsReady ||
                     a.action.trigger == TriggerType::kOnJobsComplete;
  if (job_trigger && a.jobs.empty() && a.job_name_regexes.empty())
    r.Error(r.loc(), r.what() + " (" + ToString(a.action.trigger) +
                         ") needs 'jobs' or 'job_name_regexes'");
  r.Finish();
  return a;
}

namespace {

/// A rule's `memory_multiplier` / `runtime_multiplier`: a number > 1 and at most
/// kMaxRequestMultiplier (1 when absent).
double ReadMultiplier(MapReader& r, std::string_view key) {
  YAML::Node v = r.Get(key);
  if (IsAbsent(v)) return 1;
  // Built piecewise: g++ -O3 warns (-Wrestrict) about "x" + std::string(...) chains.
  std::string where = "'";
  where.append(key).append("' of ").append(r.what());
  if (!v.IsScalar() || v.Tag() == "!") {
    r.Error(LocOf(v), where + " must be a number, not " + KindOf(v));
    return 1;
  }
  const std::string& text = v.Scalar();
  char* end = nullptr;
  double value = std::strtod(text.c_str(), &end);
  bool number = !text.empty() && end == text.c_str() + text.size();
  if (!number || !(value > 1) || value > kMaxRequestMultiplier) {
    r.Error(LocOf(v), where + " must be a number greater than 1 and at most 100, not '" +
                          text + "'");
    return 1;
  }
  return value;
}

/// A rule's `reasons`: each one of kRuleReasons. *listed: whether the list named any.
std::vector<std::string> ReadRuleReasons(MapReader& r, bool* listed) {
  std::vector<std::string> out;
  std::vector<LString> reasons = r.StringList("reasons");
  *listed = !reasons.empty();
  for (const LString& reason : reasons) {
    bool known = false;
    for (std::string_view k : kRuleReasons) known = known || reason.value == k;
    if (known)
      out.push_back(reason.value);
    else
      r.Error(reason.loc, std::string("'reasons' of ")
                              .append(r.what())
                              .append(": unknown reason '")
                              .append(reason.value)
                              .append("'; a rule can match memory, runtime, walltime, stopped, preempted or slurm "
                                      "(docs/workflow-format.md, \"Failure handlers\")"));
  }
  return out;
}

}  // namespace

Located<FailureHandler> ReadFailureHandler(const YAML::Node& node, size_t index,
                                           Diagnostics* diags) {
  Located<FailureHandler> out;
  MapReader r(node, EntryName(node, "failure handler", index), {"name", "rules"}, diags);
  out.loc = r.loc();
  if (!r.valid()) return out;
  if (auto v = r.String("name", true)) {
    out.value.name = v->value;
    out.loc = v->loc;
  }
  YAML::Node rules = r.Get("rules");
  if (IsAbsent(rules) || !rules.IsSequence()) {
    r.Error(IsAbsent(rules) ? r.loc() : LocOf(rules),
            r.what() + " needs 'rules', a list of rules");
  } else {
    for (size_t k = 0; k < rules.size(); ++k) {
      MapReader rr(rules[k], "rule #" + std::to_string(k + 1) + " of " + r.what(),
                   {"exit_codes", "match_all_exit_codes", "recovery_script", "max_retries",
                    "reasons", "memory_multiplier", "runtime_multiplier"},
                   diags);
      if (!rr.valid()) continue;
      FailureRule rule;
      rule.max_retries = 3;
      rule.exit_codes = rr.IntList("exit_codes", -1000000, 1000000);
      if (auto v = rr.Bool("match_all_exit_codes")) rule.match_all_exit_codes = *v;
      if (auto v = rr.String("recovery_script")) rule.recovery_script = v->value;
      if (auto v = rr.Int("max_retries", 0, 1000)) rule.max_retries = *v;
      bool reasons_listed = false;
      rule.reasons = ReadRuleReasons(rr, &reasons_listed);
      rule.memory_multiplier = ReadMultiplier(rr, "memory_multiplier");
      rule.runtime_multiplier = ReadMultiplier(rr, "runtime_multiplier");
      if (rule.exit_codes.empty() && !rule.match_all_exit_codes && !reasons_listed)
        rr.Error(rr.loc(), rr.what() + " matches no exit code: give 'exit_codes', 'reasons' or "
                                       "'match_all_exit_codes: true'");
      rr.Finish();
      out.value.rules.push_back(std::move(rule));
    }
  }
  r.Finish();
  return out;
}

void ReadExecutionConfig(const YAML::Node& node, RawWorkflow* wf, Diagnostics* diags) {
  MapReader r(node, "execution_config",
              {"mode", "sigkill_headroom_seconds", "timeout_exit_code", "staggered_start",
               "limit_resources", "termination_signal", "sigterm_lead_seconds", "oom_exit_code",
               "srun_termination_signal", "srun_mpi", "enable_cpu_bind", "srun_launch_interval_ms",
               "stdio",
               "job_stdio_overrides"},
              diags);
  if (!r.valid()) return;
  ExecutionConfig& e = wf->execution;
  if (auto v = r.String("mode")) {
    wf->execution_mode_loc = v->loc;
    if (v->value == "direct") e.mode = ExecutionMode::kDirect;
    else if (v->value == "slurm") e.mode = ExecutionMode::kSlurm;
    else if (v->value == "auto") e.mode = ExecutionMode::kAuto;
    else r.Error(v->loc, "execution_config mode must be direct, slurm or auto, not '" + v->value + "'");
  }
  if (auto v = r.Bool("limit_resources")) e.limit_resources = *v;
  if (auto v = r.String("termination_signal")) e.termination_signal = v->value;
  if (auto v = r.Int("sigterm_lead_seconds", 0, 86400 * 7)) e.sigterm_lead_seconds = *v;
  if (auto v = r.Int("oom_exit_code", 0, 255)) e.oom_exit_code = *v;
  if (auto v = r.Int("timeout_exit_code", 0, 255)) e.timeout_exit_code = *v;
  if (auto v = r.String("srun_termination_signal")) e.srun_termination_signal = v->value;
  if (auto v = r.Bool("enable_cpu_bind")) e.enable_cpu_bind = *v;
  if (auto v = r.Int("srun_launch_interval_ms", 0, 60000)) e.srun_launch_interval_ms = *v;
  if (auto v = r.Int("sigkill_headroom_seconds", 0, 86400 * 7)) e.sigkill_headroom_seconds = *v;
  if (auto v = r.Bool("staggered_start")) e.staggered_start = *v;
  if (auto v = r.String("srun_mpi")) {
    // One word that srun's --mpi takes as it is (Torc's rule): it goes into a batch script.
    bool safe = !v->value.empty();
    for (char c : v->value)
      safe = safe && (std::isalnum(static_cast<unsigned char>(c)) || std::strchr("+_.-", c));
    if (!safe)
      r.Error(v->loc, "srun_mpi must be one word of letters, digits and '+_.-' (an MPI plugin "
                      "of 'srun --mpi=list', such as pmix or none)");
    else
      e.srun_mpi = v->value;
    wf->srun_mpi_loc = v->loc;
  }
  YAML::Node stdio = r.Get("stdio");
  if (!IsAbsent(stdio))
    if (auto s = ReadStdio(stdio, "execution_config", diags)) e.stdio = *s;
  RefuseUnsupported(r, {"job_stdio_overrides"});
  r.Finish();
}

}  // namespace torc::spec::internal

namespace torc::spec::internal {
namespace {

/// Reads `enabled` and `granularity` (of `jobs`, or the legacy top-level ones) into `m`.
void ReadMonitorSwitches(MapReader& r, ResourceMonitor* m) {
  if (auto v = r.Bool("enabled")) m->enabled = *v;
  if (auto v = r.String("granularity")) {
    if (v->value == "time_series") m->time_series = true;
    else if (v->value == "summary") m->time_series = false;
    else r.Error(v->loc, "granularity of " + r.what() + " must be summary or time_series, not '" +
                             v->value + "'");
  }
}

}  // namespace

void ReadResourceMonitor(const YAML::Node& node, RawWorkflow* wf, Diagnostics* diags) {
  ResourceMonitor& m = wf->resource_monitor;
  auto warn = [&](Loc loc, std::string message) { diags->Warning(loc, std::move(message)); };
  // Keys torc does not know are warnings, not errors: the file may come from another version of
  // Torc. They are added to the known keys so that MapReader does not refuse them.
  std::vector<std::string_view> known = {"sample_interval_seconds", "jobs", "enabled",
                                         "granularity", "generate_plots", "metrics",
                                         "compute_node"};
  const size_t own = known.size();
  std::vector<std::string> others;
  if (node.IsMap())
    for (auto it = node.begin(); it != node.end(); ++it)
      if (it->first.IsScalar() &&
          std::find(known.begin(), known.begin() + own, it->first.Scalar()) == known.begin() + own)
        others.push_back(it->first.Scalar());
  for (const auto& k : others) known.push_back(k);
  MapReader r(node, "resource_monitor", known, diags);
  if (!r.valid()) return;
  for (const auto& k : others) {
    std::string message = "resource_monitor key '" + k;
    message += "' is not one torc knows; ignored";
    warn(KeyLoc(node, k), message);
  }
  if (auto v = r.Int("sample_interval_seconds", 1, 3600)) m.sample_interval_seconds = *v;
  YAML::Node jobs = r.Get("jobs");
  if (!IsAbsent(jobs)) {
    MapReader j(jobs, "resource_monitor jobs", {"enabled", "granularity"}, diags);
    if (j.valid()) {
      ReadMonitorSwitches(j, &m);
      j.Finish();
    }
    // The legacy keys are read for their types, and say that `jobs` wins.
    ResourceMonitor legacy;
    ReadMonitorSwitches(r, &legacy);
    for (const char* key : {"enabled", "granularity"})
      if (r.Has(key)) {
        std::string message = "resource_monitor '";
        message += key;
        message += "' is ignored: 'jobs' sets it";
        warn(KeyLoc(node, key), message);
      }
  } else {
    ReadMonitorSwitches(r, &m);
  }
  if (r.Bool("generate_plots"))
    warn(KeyLoc(node, "generate_plots"),
         "resource_monitor 'generate_plots' has no effect: torc report and the dashboard always "
         "draw the samples");
  for (const auto& metric : r.StringList("metrics"))
    if (metric.value != "cpu_percent" && metric.value != "memory_bytes") {
      std::string message = "resource_monitor metric '" + metric.value;
      message += "' is not measured by torc (it samples cpu_percent and memory_bytes)";
      warn(metric.loc, message);
    }
  if (r.Has("compute_node"))
    warn(KeyLoc(node, "compute_node"),
         "resource_monitor 'compute_node' has no effect: torc does not monitor compute nodes");
  r.Finish();
}

}  // namespace torc::spec::internal
