#include "spec/plan_json.h"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace torc::spec {
namespace {

template <typename Vec>
nlohmann::json Names(const Vec& indices, const std::vector<std::string>& names) {
  std::vector<std::string> out;
  out.reserve(indices.size());
  for (Index i : indices) out.push_back(names[i]);
  std::sort(out.begin(), out.end());
  return out;
}

nlohmann::json EnvToJson(const std::vector<std::pair<std::string, std::string>>& env) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : env) j[k] = v;
  return j;
}

nlohmann::json StdioToJson(const StdioConfig& s) {
  return {{"mode", ToString(s.mode)}, {"delete_on_success", s.delete_on_success}};
}

/// The names of a plan's jobs, files and user data by index: references are written as names.
struct PlanNames {
  explicit PlanNames(const Plan& plan) {
    for (const auto& j : plan.jobs) jobs.push_back(j.name);
    for (const auto& f : plan.files) files.push_back(f.name);
    for (const auto& u : plan.user_data) user_data.push_back(u.name);
  }
  std::vector<std::string> jobs, files, user_data;
};

/// `name` of the entry `index` of `entries`, or null for kNone.
template <typename Vec>
nlohmann::json NameOrNull(const Vec& entries, Index index) {
  return index == kNone ? nlohmann::json(nullptr) : nlohmann::json(entries[index].name);
}

template <typename T>
nlohmann::json ValueOrNull(const std::optional<T>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

/// One job with its resources resolved and its references as sorted names.
nlohmann::json JobToJson(const Plan& plan, const Job& job, const PlanNames& names) {
  const ResourceRequirements& rr = plan.RequirementsOf(job);
  return {
      {"name", job.name},
      {"command", job.command},
      {"invocation_script", job.invocation_script},
      {"depends_on", Names(plan.AllParents(job), names.jobs)},
      {"resource_requirements",
       job.requirements == kNone ? nlohmann::json(nullptr) : nlohmann::json(rr.name)},
      {"num_cpus", rr.num_cpus},
      {"memory_bytes", rr.memory_bytes},
      {"num_gpus", rr.num_gpus},
      {"num_nodes", rr.num_nodes},
      {"runtime_seconds", rr.runtime_seconds},
      {"scheduler", NameOrNull(plan.schedulers, job.scheduler)},
      {"failure_handler", NameOrNull(plan.failure_handlers, job.failure_handler)},
      {"priority", job.priority},
      {"cancel_on_blocking_job_failure", job.cancel_on_blocking_job_failure},
      {"env", EnvToJson(job.env)},
      {"input_files", Names(job.input_files, names.files)},
      {"output_files", Names(job.output_files, names.files)},
      {"input_user_data", Names(job.input_user_data, names.user_data)},
      {"output_user_data", Names(job.output_user_data, names.user_data)},
      {"stdio", job.stdio ? StdioToJson(*job.stdio) : nlohmann::json(nullptr)},
  };
}

nlohmann::json SchedulerToJson(const SlurmScheduler& s) {
  return {{"name", s.name},
          {"account", s.account},
          {"partition", s.partition},
          {"qos", s.qos},
          {"nodes", s.nodes},
          {"walltime", s.walltime},
          {"walltime_seconds", s.walltime_seconds},
          {"mem", s.mem},
          {"gres", s.gres},
          {"ntasks_per_node", ValueOrNull(s.ntasks_per_node)},
          {"tmp", s.tmp},
          {"extra", s.extra}};
}

nlohmann::json ActionToJson(const Plan& plan, const Action& a, const PlanNames& names) {
  return {{"trigger_type", ToString(a.trigger)},
          {"action_type", ToString(a.type)},
          {"jobs", Names(a.jobs, names.jobs)},
          {"scheduler", NameOrNull(plan.schedulers, a.scheduler)},
          {"num_allocations", a.num_allocations},
          {"start_one_worker_per_node", a.start_one_worker_per_node},
          {"commands", a.commands},
          {"max_allocations", a.elastic() ? nlohmann::json(a.max_allocations) : nullptr},
          {"max_nodes", a.max_nodes > 0 ? nlohmann::json(a.max_nodes) : nullptr},
          {"idle_timeout_seconds",
           a.idle_timeout_seconds > 0 ? nlohmann::json(a.idle_timeout_seconds) : nullptr},
          {"max_parallel_jobs",
           a.max_parallel_jobs > 0 ? nlohmann::json(a.max_parallel_jobs) : nullptr}};
}

nlohmann::json RequirementsToJson(const ResourceRequirements& r) {
  return {
      {"name", r.name},         {"num_cpus", r.num_cpus},   {"memory_bytes", r.memory_bytes},
      {"num_gpus", r.num_gpus}, {"num_nodes", r.num_nodes}, {"runtime_seconds", r.runtime_seconds},
  };
}

nlohmann::json ExecutionToJson(const ExecutionConfig& e) {
  return {{"mode", ToString(e.mode)},
          {"limit_resources", e.limit_resources},
          {"termination_signal", e.termination_signal},
          {"sigterm_lead_seconds", e.sigterm_lead_seconds},
          {"oom_exit_code", ValueOrNull(e.oom_exit_code)},
          {"timeout_exit_code", ValueOrNull(e.timeout_exit_code)},
          {"srun_termination_signal", e.srun_termination_signal},
          {"enable_cpu_bind", e.enable_cpu_bind},
          {"srun_launch_interval_ms", e.srun_launch_interval_ms},
          {"stdio", StdioToJson(e.stdio)},
          {"staggered_start", e.staggered_start}};
}

}  // namespace

nlohmann::json FailureHandlersToJson(const std::vector<FailureHandler>& handlers) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& h : handlers) {
    nlohmann::json rules = nlohmann::json::array();
    for (const auto& r : h.rules)
      rules.push_back({{"exit_codes", r.exit_codes},
                       {"match_all_exit_codes", r.match_all_exit_codes},
                       {"reasons", r.reasons},
                       {"max_retries", r.max_retries},
                       {"recovery_script", r.recovery_script},
                       {"memory_multiplier", r.memory_multiplier},
                       {"runtime_multiplier", r.runtime_multiplier}});
    out.push_back({{"name", h.name}, {"rules", rules}});
  }
  return out;
}

std::vector<FailureHandler> FailureHandlersFromJson(const nlohmann::json& handlers) {
  std::vector<FailureHandler> out;
  for (const auto& h : handlers) {
    FailureHandler fh;
    fh.name = h.at("name").get<std::string>();
    for (const auto& r : h.at("rules")) {
      FailureRule rule;
      rule.exit_codes = r.at("exit_codes").get<std::vector<int64_t>>();
      rule.match_all_exit_codes = r.at("match_all_exit_codes").get<bool>();
      rule.max_retries = r.at("max_retries").get<int64_t>();
      rule.recovery_script = r.at("recovery_script").get<std::string>();
      // Keys added later: optional, so that a newer worker understands an older server.
      rule.reasons = r.value("reasons", std::vector<std::string>{});
      rule.memory_multiplier = r.value("memory_multiplier", 1.0);
      rule.runtime_multiplier = r.value("runtime_multiplier", 1.0);
      fh.rules.push_back(std::move(rule));
    }
    out.push_back(std::move(fh));
  }
  return out;
}

nlohmann::json PlanToJson(const Plan& plan) {
  const PlanNames names(plan);
  nlohmann::json jobs = nlohmann::json::array();
  for (const auto& job : plan.jobs) jobs.push_back(JobToJson(plan, job, names));
  nlohmann::json schedulers = nlohmann::json::array();
  for (const auto& s : plan.schedulers) schedulers.push_back(SchedulerToJson(s));
  nlohmann::json actions = nlohmann::json::array();
  for (const auto& a : plan.actions) actions.push_back(ActionToJson(plan, a, names));
  nlohmann::json files = nlohmann::json::array();
  for (const auto& f : plan.files) files.push_back({{"name", f.name}, {"path", f.path}});
  nlohmann::json user_data = nlohmann::json::array();
  for (const auto& u : plan.user_data)
    user_data.push_back({{"name", u.name},
                         {"data", nlohmann::json::parse(u.data_json)},
                         {"is_ephemeral", u.is_ephemeral}});
  nlohmann::json requirements = nlohmann::json::array();
  for (const auto& r : plan.resource_requirements) requirements.push_back(RequirementsToJson(r));
  nlohmann::json slurm_defaults = nlohmann::json::object();
  for (const auto& [k, v] : plan.slurm_defaults) slurm_defaults[k] = v;

  return {{"name", plan.name},
          {"description", plan.description},
          {"project", plan.project},
          {"env", EnvToJson(plan.env)},
          {"dependency_count", plan.DependencyCount()},
          {"jobs", std::move(jobs)},
          {"schedulers", std::move(schedulers)},
          {"actions", std::move(actions)},
          {"files", std::move(files)},
          {"user_data", std::move(user_data)},
          {"resource_requirements", std::move(requirements)},
          {"failure_handlers", FailureHandlersToJson(plan.failure_handlers)},
          {"slurm_defaults", std::move(slurm_defaults)},
          {"execution_config", ExecutionToJson(plan.execution)},
          {"max_failures", plan.max_failures ? nlohmann::json(*plan.max_failures) : nullptr},
          {"worker_idle_timeout_seconds", plan.worker_idle_timeout_seconds
                                              ? nlohmann::json(plan.worker_idle_timeout_seconds)
                                              : nullptr},
          {"workers_ignore_completion", plan.workers_ignore_completion}};
}

}  // namespace torc::spec
