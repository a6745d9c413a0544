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

}  // namespace

nlohmann::json FailureHandlersToJson(const std::vector<FailureHandler>& handlers) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& h : handlers) {
    nlohmann::json rules = nlohmann::json::array();
    for (const auto& r : h.rules)
      rules.push_back({{"exit_codes", r.exit_codes},
                       {"match_all_exit_codes", r.match_all_exit_codes},
                       {"max_retries", r.max_retries},
                       {"recovery_script", r.recovery_script}});
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
      fh.rules.push_back(std::move(rule));
    }
    out.push_back(std::move(fh));
  }
  return out;
}

nlohmann::json PlanToJson(const Plan& plan) {
  std::vector<std::string> job_names, file_names, ud_names;
  for (const auto& j : plan.jobs) job_names.push_back(j.name);
  for (const auto& f : plan.files) file_names.push_back(f.name);
  for (const auto& u : plan.user_data) ud_names.push_back(u.name);

  nlohmann::json jobs = nlohmann::json::array();
  for (const auto& job : plan.jobs) {
    const ResourceRequirements& rr = plan.RequirementsOf(job);
    nlohmann::json j = {
        {"name", job.name},
        {"command", job.command},
        {"invocation_script", job.invocation_script},
        {"depends_on", Names(plan.AllParents(job), job_names)},
        {"resource_requirements", job.requirements == kNone ? nlohmann::json(nullptr)
                                                           : nlohmann::json(rr.name)},
        {"num_cpus", rr.num_cpus},
        {"memory_bytes", rr.memory_bytes},
        {"num_gpus", rr.num_gpus},
        {"num_nodes", rr.num_nodes},
        {"runtime_seconds", rr.runtime_seconds},
        {"scheduler", job.scheduler == kNone ? nlohmann::json(nullptr)
                                             : nlohmann::json(plan.schedulers[job.scheduler].name)},
        {"failure_handler",
         job.failure_handler == kNone
             ? nlohmann::json(nullptr)
             : nlohmann::json(plan.failure_handlers[job.failure_handler].name)},
        {"priority", job.priority},
        {"cancel_on_blocking_job_failure", job.cancel_on_blocking_job_failure},
        {"env", EnvToJson(job.env)},
        {"input_files", Names(job.input_files, file_names)},
        {"output_files", Names(job.output_files, file_names)},
        {"input_user_data", Names(job.input_user_data, ud_names)},
        {"output_user_data", Names(job.output_user_data, ud_names)},
        {"stdio", job.stdio ? StdioToJson(*job.stdio) : nlohmann::json(nullptr)},
    };
    jobs.push_back(std::move(j));
  }

  nlohmann::json schedulers = nlohmann::json::array();
  for (const auto& s : plan.schedulers) {
    schedulers.push_back({{"name", s.name},
                          {"account", s.account},
                          {"partition", s.partition},
                          {"qos", s.qos},
                          {"nodes", s.nodes},
                          {"walltime", s.walltime},
                          {"walltime_seconds", s.walltime_seconds},
                          {"mem", s.mem},
                          {"gres", s.gres},
                          {"ntasks_per_node", s.ntasks_per_node ? nlohmann::json(*s.ntasks_per_node)
                                                                : nlohmann::json(nullptr)},
                          {"tmp", s.tmp},
                          {"extra", s.extra}});
  }

  nlohmann::json actions = nlohmann::json::array();
  for (const auto& a : plan.actions) {
    actions.push_back(
        {{"trigger_type", ToString(a.trigger)},
         {"action_type", ToString(a.type)},
         {"jobs", Names(a.jobs, job_names)},
         {"scheduler", a.scheduler == kNone ? nlohmann::json(nullptr)
                                            : nlohmann::json(plan.schedulers[a.scheduler].name)},
         {"num_allocations", a.num_allocations},
         {"start_one_worker_per_node", a.start_one_worker_per_node},
         {"commands", a.commands}});
  }

  nlohmann::json files = nlohmann::json::array();
  for (const auto& f : plan.files) files.push_back({{"name", f.name}, {"path", f.path}});
  nlohmann::json user_data = nlohmann::json::array();
  for (const auto& u : plan.user_data)
    user_data.push_back({{"name", u.name},
                         {"data", nlohmann::json::parse(u.data_json)},
                         {"is_ephemeral", u.is_ephemeral}});
  nlohmann::json requirements = nlohmann::json::array();
  for (const auto& r : plan.resource_requirements)
    requirements.push_back({{"name", r.name},
                            {"num_cpus", r.num_cpus},
                            {"memory_bytes", r.memory_bytes},
                            {"num_gpus", r.num_gpus},
                            {"num_nodes", r.num_nodes},
                            {"runtime_seconds", r.runtime_seconds}});
  nlohmann::json handlers = FailureHandlersToJson(plan.failure_handlers);
  const ExecutionConfig& e = plan.execution;
  nlohmann::json execution = {
      {"mode", ToString(e.mode)},
      {"limit_resources", e.limit_resources},
      {"termination_signal", e.termination_signal},
      {"sigterm_lead_seconds", e.sigterm_lead_seconds},
      {"oom_exit_code", e.oom_exit_code ? nlohmann::json(*e.oom_exit_code) : nlohmann::json(nullptr)},
      {"timeout_exit_code",
       e.timeout_exit_code ? nlohmann::json(*e.timeout_exit_code) : nlohmann::json(nullptr)},
      {"srun_termination_signal", e.srun_termination_signal},
      {"enable_cpu_bind", e.enable_cpu_bind},
      {"srun_launch_interval_ms", e.srun_launch_interval_ms},
      {"stdio", StdioToJson(e.stdio)}};
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
          {"failure_handlers", std::move(handlers)},
          {"slurm_defaults", std::move(slurm_defaults)},
          {"execution_config", std::move(execution)}};
}

}  // namespace torc::spec
