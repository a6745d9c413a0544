#include "spec/plan.h"

#include <algorithm>
#include <cctype>

#include <yaml-cpp/yaml.h>

#include "spec/expand.h"
#include "spec/resolve.h"
#include "spec/schema.h"

namespace torc::spec {

const FailureRule* FailureHandler::Match(int64_t exit_code, std::string_view reason) const {
  const FailureRule* by_reason = reason.empty() ? nullptr : MatchReason(reason);
  if (exit_code == 0) return by_reason;
  for (const auto& rule : rules) {
    if (&rule == by_reason) return &rule;
    for (int64_t code : rule.exit_codes)
      if (code == exit_code) return &rule;
  }
  for (const auto& rule : rules)
    if (rule.match_all_exit_codes) return &rule;
  return nullptr;
}

const FailureRule* FailureHandler::MatchReason(std::string_view reason) const {
  // "slurm: Job credential expired" is reason "slurm" to a rule.
  if (reason.rfind("slurm:", 0) == 0) reason = "slurm";
  for (const auto& rule : rules)
    if (std::find(rule.reasons.begin(), rule.reasons.end(), reason) != rule.reasons.end())
      return &rule;
  return nullptr;
}

const ResourceRequirements& Plan::RequirementsOf(const Job& job) const {
  static const ResourceRequirements kDefaults{.name = ""};
  return job.requirements == kNone ? kDefaults : resource_requirements[job.requirements];
}

std::vector<Index> Plan::AllParents(const Job& job) const {
  std::vector<Index> all = job.depends_on;
  for (Index g : job.dependency_groups) {
    const auto& m = dependency_groups[g].members;
    all.insert(all.end(), m.begin(), m.end());
  }
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  return all;
}

uint64_t Plan::DependencyCount() const {
  uint64_t n = 0;
  for (const auto& job : jobs) {
    n += job.depends_on.size();
    for (Index g : job.dependency_groups) n += dependency_groups[g].members.size();
  }
  return n;
}

const char* ToString(StdioMode mode) {
  switch (mode) {
    case StdioMode::kSeparate: return "separate";
    case StdioMode::kCombined: return "combined";
    case StdioMode::kNoStdout: return "no_stdout";
    case StdioMode::kNoStderr: return "no_stderr";
    case StdioMode::kNone: return "none";
  }
  return "?";
}

StdioMode StdioModeNamed(const std::string& name) {
  for (StdioMode m : {StdioMode::kCombined, StdioMode::kNoStdout, StdioMode::kNoStderr,
                      StdioMode::kNone})
    if (name == ToString(m)) return m;
  return StdioMode::kSeparate;
}

const char* ToString(ExecutionMode mode) {
  switch (mode) {
    case ExecutionMode::kAuto: return "auto";
    case ExecutionMode::kSlurm: return "slurm";
    case ExecutionMode::kDirect: return "direct";
  }
  return "?";
}

const char* ToString(TriggerType trigger) {
  switch (trigger) {
    case TriggerType::kOnWorkflowStart: return "on_workflow_start";
    case TriggerType::kOnJobsReady: return "on_jobs_ready";
    case TriggerType::kOnJobsComplete: return "on_jobs_complete";
    case TriggerType::kOnWorkflowComplete: return "on_workflow_complete";
    case TriggerType::kOnWorkerStart: return "on_worker_start";
    case TriggerType::kOnWorkerComplete: return "on_worker_complete";
  }
  return "?";
}

const char* ToString(ActionType type) {
  return type == ActionType::kScheduleNodes ? "schedule_nodes" : "run_commands";
}

namespace {

bool EndsWith(const std::string& s, std::string_view tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// Whether the text at `pos` (the first thing after comments) starts a KDL workflow node: the
// name of a workflow setting or section as KDL writes it (`name`, `job`, `resource_requirements`,
// ...), spaces, then on the same line a value or a '{' block. A YAML key ends in ':' and is
// never followed by a quoted value this way.
bool StartsKdlNode(const std::string& text, size_t pos) {
  static constexpr std::string_view kFirstNodes[] = {
      "name",       "description",           "project",         "user",
      "env",        "parameters",            "job",             "jobs",
      "file",       "user_data",             "resource_requirements", "slurm_scheduler",
      "action",     "failure_handler",       "slurm_defaults",  "execution_config",
      "resource_monitor", "metadata",        "max_failures",    "use_pending_failed"};
  size_t end = pos;
  while (end < text.size() && (std::islower(static_cast<unsigned char>(text[end])) ||
                               text[end] == '_'))
    ++end;
  const std::string_view word(text.data() + pos, end - pos);
  if (std::find(std::begin(kFirstNodes), std::end(kFirstNodes), word) == std::end(kFirstNodes) &&
      word.rfind("compute_node_", 0) != 0)
    return false;
  if (end == text.size() || (text[end] != ' ' && text[end] != '\t')) return false;
  size_t value = text.find_first_not_of(" \t", end);
  if (value == std::string::npos) return false;
  char c = text[value];
  return c == '"' || c == '#' || c == '{' || c == '(' ||
         std::isdigit(static_cast<unsigned char>(c)) || std::isalpha(static_cast<unsigned char>(c));
}

Format FormatOf(const std::string& text, const std::string& file_name) {
  if (EndsWith(file_name, ".json5")) return Format::kJson5;
  if (EndsWith(file_name, ".json")) return Format::kJson;
  if (EndsWith(file_name, ".kdl")) return Format::kKdl;
  // Skip white space and // and /* */ comments (YAML has neither kind).
  bool commented = false;
  size_t pos = 0;
  while (true) {
    pos = text.find_first_not_of(" \t\r\n", pos);
    if (pos == std::string::npos) return commented ? Format::kJson5 : Format::kYaml;
    if (text.compare(pos, 2, "//") == 0) {
      pos = text.find('\n', pos);
    } else if (text.compare(pos, 2, "/*") == 0) {
      pos = text.find("*/", pos + 2);
      if (pos != std::string::npos) pos += 2;
    } else {
      break;
    }
    commented = true;
    if (pos == std::string::npos) return Format::kJson5;
  }
  if (text[pos] == '{') return Format::kJson5;
  if (StartsKdlNode(text, pos)) return Format::kKdl;
  return commented ? Format::kJson5 : Format::kYaml;
}

}  // namespace

LoadResult ParsePlan(const std::string& text, const std::string& file_name, Format format,
                     const LoadOptions& options) {
  Diagnostics diags(file_name);
  LoadResult result;
  if (static_cast<int64_t>(text.size()) > kMaxWorkflowFileBytes) {
    result.errors.push_back({file_name, 0, 0,
                             "the file has " + std::to_string(text.size()) +
                                 " bytes, more than the limit of " +
                                 std::to_string(kMaxWorkflowFileBytes) + " (64 MiB)"});
    return result;
  }
  if (format == Format::kAuto) format = FormatOf(text, file_name);
  YAML::Node root;
  RawWorkflow raw;
  if (LoadDocument(text, format, &root, &diags)) ReadWorkflow(root, options, &raw, &diags);
  if (!diags.empty()) {
    result.errors = diags.Take();
    return result;
  }
  // Expansion errors and schema errors are reported together above; name
  // resolution only runs on a file whose shape is right, so that one mistake
  // does not come back as a cascade of "not defined" errors.
  Expansion exp;
  Expand(raw, options, &exp, &diags);
  if (diags.empty()) Resolve(raw, &exp, &diags);
  if (diags.empty()) CheckGraph(raw, exp, &diags);
  if (!diags.empty()) {
    result.errors = diags.Take();
    return result;
  }
  exp.plan.source_file = file_name;
  exp.plan.job_entry = std::move(exp.job_template);
  exp.plan.warnings = diags.TakeWarnings();
  exp.plan.parameter_files = std::move(raw.parameter_files);
  result.plan = std::move(exp.plan);
  return result;
}

std::string CannotHold(const Plan& plan, const Job& job, const SlurmScheduler& s) {
  const ResourceRequirements& rr = plan.RequirementsOf(job);
  if (rr.num_nodes > s.nodes)
    return "needs " + std::to_string(rr.num_nodes) + " nodes, scheduler '" + s.name + "' has " +
           std::to_string(s.nodes);
  if (rr.runtime_seconds > s.walltime_seconds)
    return "runtime " + std::to_string(rr.runtime_seconds) + " s exceeds the walltime of '" +
           s.name + "' (" + s.walltime + ")";
  return "";
}

std::vector<Diagnostic> PlanWarnings(const Plan& plan) {
  std::vector<Diagnostic> out = plan.warnings;
  auto add = [&](std::string message) {
    out.push_back({plan.source_file, 0, 0, "warning: " + std::move(message)});
  };
  size_t listed = 0, more = 0;
  for (const auto& job : plan.jobs) {
    std::string why;
    if (job.scheduler != kNone) {
      why = CannotHold(plan, job, plan.schedulers[job.scheduler]);
    } else if (!plan.schedulers.empty()) {
      for (const auto& s : plan.schedulers) {
        why = CannotHold(plan, job, s);
        if (why.empty()) break;
      }
    }
    if (why.empty()) continue;
    if (listed++ < 10)
      add("job '" + job.name + "' can never run: " + why +
                    "; raise the scheduler's walltime or nodes, or lower the job's runtime");
    else
      ++more;
  }
  if (more) add("... and " + std::to_string(more) + " more jobs that can never run");
  bool schedules = false;
  for (const auto& a : plan.actions) schedules = schedules || a.type == ActionType::kScheduleNodes;
  if (schedules && plan.schedulers.size() > 1) {
    // Any allocation may run such a job, but no stage's action asks for one for it.
    std::vector<std::string> loose;
    for (const auto& job : plan.jobs)
      if (job.scheduler == kNone) loose.push_back(job.name);
    if (!loose.empty())
      add(std::to_string(loose.size()) + " job(s) name no scheduler ('" + loose[0] +
                    "'" + (loose.size() > 1 ? ", ..." : "") + ") while the workflow's actions "
                    "ask Slurm for compute per scheduler: they run in whichever allocation is "
                    "there when they are ready, or wait; give them a scheduler");
  }
  if (!plan.schedulers.empty() && !schedules)
    add("slurm_schedulers but no schedule_nodes action: nothing will ask Slurm for "
                  "compute after 'torc submit'; add an action (trigger on_workflow_start), or "
                  "run 'torc slurm schedule WF' after submitting");
  if (plan.schedulers.empty() && !plan.jobs.empty())
    add("no slurm_schedulers: 'torc submit' alone will not run the jobs; run the file "
                  "with 'torc run', submit it with 'torc submit FILE --slurm' (schedulers and actions "
                  "derived from the cluster), or start workers with 'torc worker run --workflow WF'");
  return out;
}

}  // namespace torc::spec
