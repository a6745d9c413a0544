// `torc slurm plan`: the allocations of a generated setup and what they may cost, one large
// allocation against many small ones (spec/slurm/setup.h).
#include <cmath>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "spec/slurm/setup.h"
#include "spec/units.h"

namespace torc::spec::slurm {
namespace {

double Hours(int64_t seconds) { return std::round(static_cast<double>(seconds) / 36.0) / 100.0; }

/// Node-seconds of the many-small strategy at or below this share of one large allocation's
/// are worth its extra queue waits and sbatch calls.
constexpr double kWorthSplitting = 0.9;

struct Totals {
  int64_t many_small = 0, one_large = 0, makespan = 0, reserved = 0, allocations = 0;
  bool one_large_possible = true;
};

/// Whether one allocation of all a group's nodes fits the partition's per-job node limit.
bool OneLargeFits(const Cluster& cluster, const Setup& setup, const StageGroup& g) {
  for (const auto& p : cluster.partitions)
    if (p.name == setup.schedulers[g.scheduler].partition)
      return p.max_nodes == 0 || p.max_nodes >= g.blocks * g.num_nodes;
  return true;
}

Totals Sum(const Cluster& cluster, const Setup& setup) {
  Totals t;
  std::map<int, int64_t> stage_end;
  for (const auto& g : setup.groups) {
    t.many_small += g.many_small_node_seconds;
    t.one_large += g.one_large_node_seconds;
    t.reserved += g.blocks * g.num_nodes * g.walltime_seconds;
    t.allocations += g.blocks;
    stage_end[g.stage] = std::max(stage_end[g.stage], g.makespan_seconds);
    t.one_large_possible = t.one_large_possible && OneLargeFits(cluster, setup, g);
  }
  for (const auto& [stage, end] : stage_end) t.makespan += end;
  return t;
}

std::string Recommendation(const Totals& t, std::string* why) {
  if (!t.one_large_possible) {
    *why = "a single allocation of every node would exceed a partition's MaxNodes";
    return "many_small";
  }
  if (static_cast<double>(t.many_small) <= kWorthSplitting * static_cast<double>(t.one_large)) {
    *why = "many small allocations end as their own jobs end and cost at most " +
           std::to_string(static_cast<int>(kWorthSplitting * 100)) +
           "% of the node-hours one large allocation holds until its last job ends";
    return "many_small";
  }
  if (t.allocations <= 1) {
    *why = "the work fits one allocation either way";
    return "one_large";
  }
  *why = "one large allocation costs about the same node-hours (under " +
         std::to_string(static_cast<int>((1 / kWorthSplitting - 1) * 100 + 0.5)) +
         "% more), waits in the queue once, and Slurm reserves nodes for large jobs; choose "
         "many small when the queue is long and partial results matter";
  return "one_large";
}

}  // namespace

std::string SetupPlanJson(const Plan& plan, const Cluster& cluster, const Setup& setup) {
  nlohmann::ordered_json groups = nlohmann::ordered_json::array();
  for (const auto& g : setup.groups) {
    const SetupScheduler& s = setup.schedulers[g.scheduler];
    groups.push_back(
        {{"stage", g.stage},
         {"scheduler", s.name},
         {"partition", s.partition},
         {"jobs", g.jobs.size()},
         {"nodes_per_job", g.num_nodes},
         {"jobs_per_node", g.jobs_per_node},
         {"runtime_seconds", g.runtime_seconds},
         {"allocations", g.blocks},
         {"nodes", g.blocks * g.num_nodes},
         {"rounds", g.waves},
         {"walltime", FormatSlurmWalltime(g.walltime_seconds)},
         {"walltime_seconds", g.walltime_seconds},
         {"elastic", g.elastic},
         {"makespan_seconds", g.makespan_seconds},
         {"node_hours_reserved", Hours(g.blocks * g.num_nodes * g.walltime_seconds)},
         {"strategies",
          {{"many_small",
            {{"allocations", g.blocks},
             {"nodes_each", g.num_nodes},
             {"node_hours", Hours(g.many_small_node_seconds)}}},
           {"one_large",
            {{"allocations", 1},
             {"nodes_each", g.blocks * g.num_nodes},
             {"possible", OneLargeFits(cluster, setup, g)},
             {"node_hours", Hours(g.one_large_node_seconds)}}}}}});
  }
  Totals t = Sum(cluster, setup);
  std::string why;
  std::string pick = Recommendation(t, &why);
  nlohmann::ordered_json j = {
      {"workflow", plan.name},
      {"cluster", cluster.name},
      {"groups", groups},
      {"makespan_seconds", t.makespan},
      {"node_hours_reserved", Hours(t.reserved)},
      {"strategies",
       {{"many_small", {{"allocations", t.allocations}, {"node_hours", Hours(t.many_small)}}},
        {"one_large",
         {{"allocations", setup.groups.size()},
          {"possible", t.one_large_possible},
          {"node_hours", Hours(t.one_large)}}}}},
      {"recommendation", pick},
      {"why", why},
      {"notes", setup.notes}};
  return j.dump(2) + "\n";
}

std::string SetupPlanText(const Plan& plan, const Cluster& cluster, const Setup& setup) {
  std::ostringstream o;
  o << "workflow " << plan.name << (cluster.name.empty() ? "" : " on cluster " + cluster.name)
    << ": " << setup.groups.size() << " group(s) of jobs\n";
  for (const auto& g : setup.groups) {
    const SetupScheduler& s = setup.schedulers[g.scheduler];
    o << "  stage " << g.stage << ", " << s.name << " (partition " << s.partition << "): "
      << g.jobs.size() << " job(s) of " << FormatSlurmWalltime(g.runtime_seconds) << ", "
      << g.jobs_per_node << " per node; " << g.blocks << " allocation(s) x " << g.num_nodes
      << " node(s), walltime " << FormatSlurmWalltime(g.walltime_seconds) << ", " << g.waves
      << " round(s)" << (g.elastic ? ", elastic" : "") << "\n"
      << "    many small: " << Hours(g.many_small_node_seconds) << " node-hours;  one large ("
      << g.blocks * g.num_nodes << " nodes): " << Hours(g.one_large_node_seconds)
      << " node-hours" << (OneLargeFits(cluster, setup, g) ? "" : " (over MaxNodes)") << "\n";
  }
  Totals t = Sum(cluster, setup);
  std::string why;
  std::string pick = Recommendation(t, &why);
  o << "total: done in about " << FormatSlurmWalltime(t.makespan) << " once running; many small "
    << Hours(t.many_small) << " node-hours, one large " << Hours(t.one_large)
    << " node-hours (at most " << Hours(t.reserved) << " reserved by the walltimes)\n"
    << "recommended: " << (pick == "many_small" ? "many small" : "one large") << ": " << why
    << "\n";
  for (const auto& n : setup.notes) o << "note: " << n << "\n";
  return o.str();
}

}  // namespace torc::spec::slurm
