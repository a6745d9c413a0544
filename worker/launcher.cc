#include "worker/launcher.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <utility>

#include "server/util/data_dir.h"

namespace torc::worker {
namespace {

// The variables of a job (or its recovery script) in either mode.
std::map<std::string, std::string> EnvironmentOf(const LaunchSettings& s, const JobToRun& job,
                                                 const Placement& placement, bool direct,
                                                 bool node_has_gpus) {
  JobContext ctx{s.workflow_id, s.job_output_dir, s.api_url, direct, node_has_gpus};
  return JobEnvironment(job, placement, ctx);
}

bool PlacedOnGpuNode(const LaunchSettings& s, const Placement& placement) {
  return !s.allocation.nodes[placement.nodes[0]].gpus.empty();
}

LaunchSpec Recovery(const LaunchSettings& s, const JobToRun& job, const Placement& placement,
                    const std::string& script, bool direct) {
  LaunchSpec spec;
  spec.argv = {"bash", "-c", script};
  spec.env = EnvironmentOf(s, job, placement, direct, false);
  spec.cwd = s.working_dir;
  // What bash would set; a command run without a shell gets it from here.
  if (direct && !spec.cwd.empty()) spec.env["PWD"] = spec.cwd;
  return spec;
}

}  // namespace

// ---- slurm mode -----------------------------------------------------------------------------
LaunchSpec SrunLauncher::JobSpec(const JobToRun& job, const Placement& placement) {
  LaunchSpec spec;
  spec.argv = SrunArgs(job, placement, s_.allocation.nodes, s_.srun);
  spec.env = EnvironmentOf(s_, job, placement, false, PlacedOnGpuNode(s_, placement));
  spec.cwd = s_.working_dir;
  return spec;
}

double SrunLauncher::launch_interval() const {
  const double base = s_.launch_interval_seconds;
  if (base <= 0 || mean_latency_ <= kSlowStepStartSeconds) return base;
  return std::max(base, std::min(mean_latency_ / kStepsInFlight, 2.0));
}

void SrunLauncher::ObserveStepStart(double latency) {
  latency = std::max(0.0, latency);
  mean_latency_ = latency_seen_ ? 0.7 * mean_latency_ + 0.3 * latency : latency;
  latency_seen_ = true;
}

LaunchSpec SrunLauncher::RecoverySpec(const JobToRun& job, const Placement& placement,
                                      const std::string& script) const {
  return Recovery(s_, job, placement, script, false);
}

// ---- direct mode ----------------------------------------------------------------------------
std::optional<uint32_t> DirectLauncher::RequiredNode(const JobNeeds& needs) const {
  if (s_.allocation.nodes.size() > 1 && needs.nodes == 1) return s_.own_node;
  return std::nullopt;
}

LaunchSpec DirectLauncher::JobSpec(const JobToRun& job, const Placement& placement) {
  LaunchSpec spec;
  spec.argv = DirectArgs(job);
  spec.env = EnvironmentOf(s_, job, placement, true, PlacedOnGpuNode(s_, placement));
  if (s_.allocation.in_slurm) {
    // Not the worker's step: the job's own nodes, for an srun or mpirun of its own.
    spec.unset = InheritedStepVariables();
    spec.env.merge(DirectSlurmEnvironment(placement, s_.allocation.nodes, Hostfile(placement)));
  }
  spec.cwd = s_.working_dir;
  // What bash would set; a command run without a shell gets it from here.
  if (!spec.cwd.empty()) spec.env["PWD"] = spec.cwd;
  return spec;
}

LaunchSpec DirectLauncher::RecoverySpec(const JobToRun& job, const Placement& placement,
                                        const std::string& script) const {
  return Recovery(s_, job, placement, script, true);
}

std::string DirectLauncher::Hostfile(const Placement& placement) {
  std::string text = HostfileText(placement, s_.allocation.nodes);
  // Named by its content (a node list would pass the 255-byte name limit at ~25 nodes).
  char name[32];
  std::snprintf(name, sizeof name, "%016zx", std::hash<std::string>{}(text));
  const std::string dir = s_.job_output_dir + "/hostfiles", path = dir + "/" + name;
  if (hostfiles_.count(path)) return path;
  // Workers of one allocation share the directory: write a copy of this host's and process's
  // own, then rename it into place (the same content whoever wins).
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  std::string error, tmp = path + "." + host + "." + std::to_string(getpid());
  if (!util::MakeDirectories(dir, 0755, &error)) log_(error);
  if (FILE* f = std::fopen(tmp.c_str(), "w")) {
    std::fputs(text.c_str(), f);
    if (std::fclose(f) == 0 && std::rename(tmp.c_str(), path.c_str()) == 0) hostfiles_.insert(path);
  }
  if (!hostfiles_.count(path)) log_("cannot write the hostfile " + path + " for SLURM_HOSTFILE");
  return path;
}

std::unique_ptr<Launcher> MakeLauncher(const std::string& requested,
                                       const std::string& workflow_mode, LaunchSettings settings,
                                       std::function<void(const std::string&)> log) {
  const std::string mode = requested != "auto" ? requested : workflow_mode;
  const bool in_slurm = settings.allocation.in_slurm;
  bool direct = mode == "direct" || (mode == "auto" && !in_slurm);
  if (!direct && !in_slurm) {
    log("slurm mode needs a Slurm allocation; running jobs directly instead");
    direct = true;
  }
  if (direct) return std::make_unique<DirectLauncher>(std::move(settings), std::move(log));
  return std::make_unique<SrunLauncher>(std::move(settings));
}

}  // namespace torc::worker
