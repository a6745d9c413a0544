#include "spec/slurm/setup.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <queue>
#include <tuple>

#include "spec/units.h"

namespace torc::spec::slurm {
namespace {

/// What the largest instance of one `jobs` entry asks for (per node).
struct Shape {
  int64_t cpus = 1, gpus = 0, memory = 0, nodes = 1, runtime = 0;
  auto Key() const { return std::tie(cpus, gpus, memory, nodes); }
};

std::string Bytes(int64_t b) {
  char buf[32];
  if (b >= (int64_t{1} << 30)) std::snprintf(buf, sizeof buf, "%.1f GiB", double(b) / (1 << 30));
  else std::snprintf(buf, sizeof buf, "%lld MiB", static_cast<long long>(b >> 20));
  return buf;
}

std::string Request(const Shape& s) {
  std::string out = std::to_string(s.cpus) + " CPUs, " + std::to_string(s.gpus) + " GPUs, " +
                    (s.memory ? Bytes(s.memory) : std::string("no memory request")) +
                    " per node on " + std::to_string(s.nodes) +
                    (s.nodes == 1 ? " node" : " nodes") + " for " +
                    FormatSlurmWalltime(s.runtime);
  return out;
}

bool Holds(const NodeShape& n, const Shape& s) {
  return n.cpus >= s.cpus && n.gpus >= s.gpus && n.memory_bytes >= s.memory;
}

/// How many jobs of shape `s` one node of shape `n` runs at once (>= 1 when Holds).
int64_t JobsPerNode(const NodeShape& n, const Shape& s) {
  if (s.nodes > 1) return 1;  // a multi-node job has its nodes whole
  int64_t k = n.cpus / std::max<int64_t>(1, s.cpus);
  if (s.gpus > 0) k = std::min(k, n.gpus / s.gpus);
  if (s.memory > 0) k = std::min(k, n.memory_bytes / s.memory);
  return std::max<int64_t>(1, k);
}

/// Where a shape goes: the partition, its smallest node that holds it, how many hold it.
struct Placement {
  size_t partition = 0;
  NodeShape node;       // the smallest holding node: sizes are planned for it
  int64_t fitting = 0;  // nodes of the partition that hold the shape
  bool all_fit = true;  // every node of the partition holds it
};

/// The dependency stage of every job: 0 without parents, else 1 + its deepest parent's.
std::vector<int> Stages(const Plan& plan) {
  size_t n = plan.jobs.size();
  std::vector<std::vector<Index>> children(n);
  std::vector<size_t> waiting(n, 0);
  for (Index j = 0; j < n; ++j) {
    auto parents = plan.AllParents(plan.jobs[j]);
    waiting[j] = parents.size();
    for (Index p : parents) children[p].push_back(j);
  }
  std::vector<int> stage(n, 0);
  std::vector<Index> ready;
  for (Index j = 0; j < n; ++j)
    if (waiting[j] == 0) ready.push_back(j);
  while (!ready.empty()) {  // the plan has no cycles (ParsePlan checked)
    Index j = ready.back();
    ready.pop_back();
    for (Index c : children[j]) {
      stage[c] = std::max(stage[c], stage[j] + 1);
      if (--waiting[c] == 0) ready.push_back(c);
    }
  }
  return stage;
}

std::string SchedulerName(std::string base, const std::string& partition,
                          const std::vector<std::string>& taken) {
  for (char& c : base)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') c = '_';
  if (base.empty()) base = "jobs";
  std::string name = base + "_" + partition;
  for (int k = 2; std::find(taken.begin(), taken.end(), name) != taken.end(); ++k)
    name = base + "_" + partition + "_" + std::to_string(k);
  return name;
}

class SetupPlanner {
 public:
  SetupPlanner(const Plan& plan, const Cluster& cluster, const SetupOptions& options,
               Setup* setup)
      : plan_(plan), cluster_(cluster), options_(options), setup_(setup) {}

  bool Run(std::string* error) {
    if (!options_.partition.empty() && FindPartition(options_.partition) == nullptr) {
      std::string names;
      for (const auto& p : cluster_.partitions) names += (names.empty() ? "" : ", ") + p.name;
      *error = "the cluster has no partition '" + options_.partition + "' (it has: " +
               (names.empty() ? "none" : names) + ")";
      return false;
    }
    size_t entries = 0;
    for (Index e : plan_.job_entry) entries = std::max<size_t>(entries, e + 1);
    setup_->entry_scheduler.assign(entries, "");
    if (!ShapeEntries(error) || !PlaceEntries(error)) return false;
    Group();
    return true;
  }

 private:
  const Partition* FindPartition(const std::string& name) const {
    for (const auto& p : cluster_.partitions)
      if (p.name == name) return &p;
    return nullptr;
  }

  bool Planned(const Job& job) const { return options_.all_jobs || job.scheduler == kNone; }

  // Each entry's shape is the largest of its instances': they share one scheduler.
  bool ShapeEntries(std::string* error) {
    entry_shape_.assign(setup_->entry_scheduler.size(), Shape{});
    entry_used_.assign(entry_shape_.size(), false);
    entry_rr_.assign(entry_shape_.size(), "");
    entry_job_.assign(entry_shape_.size(), kNone);
    for (Index j = 0; j < plan_.jobs.size(); ++j) {
      const Job& job = plan_.jobs[j];
      if (!Planned(job)) continue;
      const ResourceRequirements& rr = plan_.RequirementsOf(job);
      Index e = plan_.job_entry[j];
      Shape& s = entry_shape_[e];
      std::string rr_name = rr.name.empty() ? "default" : rr.name;
      if (!entry_used_[e]) {
        s = {rr.num_cpus, rr.num_gpus, rr.memory_bytes, rr.num_nodes, rr.runtime_seconds};
        entry_rr_[e] = rr_name;
        entry_job_[e] = j;
        entry_used_[e] = true;
        continue;
      }
      if (entry_rr_[e] != rr_name) entry_rr_[e] = plan_.jobs[entry_job_[e]].name;
      Shape one{rr.num_cpus, rr.num_gpus, rr.memory_bytes, rr.num_nodes, rr.runtime_seconds};
      // The instance that makes the entry larger is the one to name if nothing holds it.
      if (!Fits(one, error)) {
        *error = "job '" + job.name + "' " + *error;
        return false;
      }
      s.cpus = std::max(s.cpus, one.cpus);
      s.gpus = std::max(s.gpus, one.gpus);
      s.memory = std::max(s.memory, one.memory);
      s.nodes = std::max(s.nodes, one.nodes);
      s.runtime = std::max(s.runtime, one.runtime);
    }
    return true;
  }

  // Whether some partition holds `s` (*error says why not, without the job's name).
  bool Fits(const Shape& s, std::string* error) {
    Placement p;
    return Place(s, &p, error);
  }

  bool PlaceEntries(std::string* error) {
    std::vector<std::string> taken;
    for (const auto& s : plan_.schedulers) taken.push_back(s.name);
    std::map<std::tuple<size_t, int64_t, int64_t, int64_t, int64_t>, size_t> by_key;
    entry_placement_.assign(entry_shape_.size(), Placement{});
    for (size_t e = 0; e < entry_shape_.size(); ++e) {
      if (!entry_used_[e]) continue;
      const Shape& s = entry_shape_[e];
      Placement& place = entry_placement_[e];
      if (!Place(s, &place, error)) {
        *error = "job '" + plan_.jobs[entry_job_[e]].name + "' " + *error;
        return false;
      }
      auto key = std::make_tuple(place.partition, s.cpus, s.gpus, s.memory, s.nodes);
      auto [it, added] = by_key.try_emplace(key, setup_->schedulers.size());
      if (added) {
        const Partition& part = cluster_.partitions[place.partition];
        SetupScheduler sch;
        sch.name = SchedulerName(entry_rr_[e], part.name, taken);
        taken.push_back(sch.name);
        sch.partition = part.name;
        sch.account = options_.account;
        sch.nodes = s.nodes;
        if (s.gpus > 0) sch.gres = "gpu:" + std::to_string(place.node.gpus);
        if (!place.all_fit) {
          // Exclusive allocations take any node of the partition: ask for one that holds it.
          if (s.memory > 0) sch.mem = std::to_string((s.memory + (1 << 20) - 1) >> 20) + "M";
          sch.extra = "--mincpus=" + std::to_string(s.cpus);
        }
        sch.why = "partition " + part.name + ": its nodes (" + std::to_string(place.node.cpus) +
                  " CPUs, " + std::to_string(place.node.gpus) + " GPUs, " +
                  Bytes(place.node.memory_bytes) + ") hold " + Request(s) + ", " +
                  std::to_string(JobsPerNode(place.node, s)) + " at a time per node" +
                  (part.max_time_seconds
                       ? "; MaxTime " + FormatSlurmWalltime(part.max_time_seconds)
                       : "; no MaxTime");
        setup_->schedulers.push_back(std::move(sch));
        scheduler_shape_.push_back(s);
        scheduler_node_.push_back(place.node);
        scheduler_fitting_.push_back(place.fitting);
      } else {
        Shape& known = scheduler_shape_[it->second];
        known.runtime = std::max(known.runtime, s.runtime);
      }
      entry_scheduler_index_[e] = it->second;
      setup_->entry_scheduler[e] = setup_->schedulers[it->second].name;
    }
    return true;
  }

  // The partition for shape `s`: among the allowed ones that are up, hold it on enough nodes
  // and allow its runtime, prefer nodes without GPUs for jobs that need none, then the
  // default partition, then the one with the most nodes that hold it.
  bool Place(const Shape& s, Placement* out, std::string* error) const {
    const Placement* best = nullptr;
    Placement found;
    std::vector<Placement> candidates;
    auto score = [&](const Placement& p) {
      const Partition& part = cluster_.partitions[p.partition];
      bool wastes_gpus = s.gpus == 0 && p.node.gpus > 0;
      return std::make_tuple(!wastes_gpus, part.is_default, p.fitting);
    };
    for (size_t k = 0; k < cluster_.partitions.size(); ++k) {
      const Partition& part = cluster_.partitions[k];
      if (!options_.partition.empty() && part.name != options_.partition) continue;
      if (!part.up) continue;
      if (part.max_time_seconds && part.max_time_seconds < s.runtime) continue;
      if (part.max_nodes && part.max_nodes < s.nodes) continue;
      Placement p;
      p.partition = k;
      bool have = false;
      for (const auto& n : part.nodes) {
        if (!Holds(n, s)) {
          p.all_fit = false;
          continue;
        }
        p.fitting += n.count;
        if (!have || JobsPerNode(n, s) < JobsPerNode(p.node, s)) p.node = n;
        have = true;
      }
      if (have && p.fitting >= s.nodes) candidates.push_back(p);
    }
    for (const auto& c : candidates)
      if (!best || score(c) > score(*best)) best = &c;
    if (best) {
      *out = *best;
      return true;
    }
    *error = "needs " + Request(s) + ": " + WhyNothingHolds(s);
    return false;
  }

  std::string WhyNothingHolds(const Shape& s) const {
    const NodeShape* largest = nullptr;
    const Partition* where = nullptr;
    int64_t longest = -1;
    const Partition* longest_in = nullptr;
    for (const auto& part : cluster_.partitions) {
      if (!options_.partition.empty() && part.name != options_.partition) continue;
      for (const auto& n : part.nodes)
        if (!largest || std::tie(n.cpus, n.memory_bytes, n.gpus) >
                            std::tie(largest->cpus, largest->memory_bytes, largest->gpus)) {
          largest = &n;
          where = &part;
        }
      int64_t t = part.max_time_seconds ? part.max_time_seconds : INT64_MAX;
      if (t > longest) {
        longest = t;
        longest_in = &part;
      }
    }
    std::string scope = options_.partition.empty() ? "no partition" : "partition " + options_.partition;
    if (!largest) return scope + " has nodes";
    std::string node = std::to_string(largest->cpus) + " CPUs, " +
                       std::to_string(largest->gpus) + " GPUs, " + Bytes(largest->memory_bytes) +
                       " (partition " + where->name + ")";
    bool any_holds = false;
    for (const auto& part : cluster_.partitions)
      for (const auto& n : part.nodes)
        any_holds = any_holds || ((options_.partition.empty() || part.name == options_.partition) &&
                                  Holds(n, s));
    if (!any_holds) return scope + " has a node that large; the largest node has " + node;
    if (longest != INT64_MAX && longest < s.runtime)
      return "its runtime is longer than every partition's MaxTime; the longest is " +
             FormatSlurmWalltime(longest) + " (partition " + longest_in->name + ")";
    return scope + " has " + std::to_string(s.nodes) +
           " such nodes within its limits (MaxNodes, State=UP); the largest node has " + node;
  }

  void Group() {
    std::vector<int> stage = Stages(plan_);
    std::map<std::pair<int, size_t>, StageGroup> groups;
    for (Index j = 0; j < plan_.jobs.size(); ++j) {
      if (!Planned(plan_.jobs[j])) continue;
      size_t s = entry_scheduler_index_.at(plan_.job_entry[j]);
      StageGroup& g = groups[{stage[j], s}];
      g.stage = stage[j];
      g.scheduler = s;
      g.jobs.push_back(j);
      g.runtime_seconds =
          std::max(g.runtime_seconds, plan_.RequirementsOf(plan_.jobs[j]).runtime_seconds);
    }
    for (auto& [key, g] : groups) {
      Size(&g);
      SetupScheduler& sch = setup_->schedulers[g.scheduler];
      sch.walltime_seconds = std::max(sch.walltime_seconds, g.walltime_seconds);
      setup_->groups.push_back(std::move(g));
    }
  }

  void Size(StageGroup* g) {
    const Shape& s = scheduler_shape_[g->scheduler];
    const NodeShape& node = scheduler_node_[g->scheduler];
    const Partition& part =
        *FindPartition(setup_->schedulers[g->scheduler].partition);
    g->num_nodes = s.nodes;
    g->jobs_per_node = JobsPerNode(node, s);
    int64_t width = static_cast<int64_t>(g->jobs.size());
    int64_t wanted = (width + g->jobs_per_node - 1) / g->jobs_per_node;
    int64_t cap_nodes = scheduler_fitting_[g->scheduler];
    if (options_.max_nodes > 0) cap_nodes = std::min(cap_nodes, options_.max_nodes);
    g->blocks = std::max<int64_t>(1, std::min(wanted, cap_nodes / s.nodes));
    int64_t slots = g->blocks * g->jobs_per_node;
    g->waves = (width + slots - 1) / slots;
    Simulate(g, slots);
    double need = static_cast<double>(g->waves * g->runtime_seconds) * options_.walltime_multiplier;
    int64_t wall = std::max<int64_t>(static_cast<int64_t>(std::ceil(need)),
                                     g->runtime_seconds + 120);
    wall = (wall + 59) / 60 * 60;
    if (part.max_time_seconds && wall > part.max_time_seconds) {
      g->walltime_capped = g->waves * g->runtime_seconds > part.max_time_seconds;
      wall = part.max_time_seconds;
    }
    g->walltime_seconds = wall;
    g->elastic = options_.elastic || g->walltime_capped;
    if (g->walltime_capped)
      setup_->notes.push_back(
          "stage " + std::to_string(g->stage) + " on " + setup_->schedulers[g->scheduler].name +
          ": " + std::to_string(g->waves) + " rounds of " + FormatSlurmWalltime(g->runtime_seconds) +
          " do not fit in one MaxTime (" + FormatSlurmWalltime(part.max_time_seconds) +
          "), so its action is elastic: the server asks for allocations again as they end");
  }

  // Longest runtime first onto the slot that frees first.
  void Simulate(StageGroup* g, int64_t slots) {
    std::vector<int64_t> runtimes;
    for (Index j : g->jobs) runtimes.push_back(plan_.RequirementsOf(plan_.jobs[j]).runtime_seconds);
    std::sort(runtimes.rbegin(), runtimes.rend());
    using Slot = std::pair<int64_t, int64_t>;  // (free at, slot)
    std::priority_queue<Slot, std::vector<Slot>, std::greater<Slot>> free;
    for (int64_t k = 0; k < slots; ++k) free.push({0, k});
    std::vector<int64_t> block_end(static_cast<size_t>(g->blocks), 0);
    for (int64_t r : runtimes) {
      auto [at, slot] = free.top();
      free.pop();
      int64_t end = at + r;
      int64_t& b = block_end[static_cast<size_t>(slot / g->jobs_per_node)];
      b = std::max(b, end);
      free.push({end, slot});
    }
    g->makespan_seconds = *std::max_element(block_end.begin(), block_end.end());
    g->many_small_node_seconds = 0;
    for (int64_t end : block_end) g->many_small_node_seconds += end * g->num_nodes;
    g->one_large_node_seconds = g->makespan_seconds * g->blocks * g->num_nodes;
  }

  const Plan& plan_;
  const Cluster& cluster_;
  const SetupOptions& options_;
  Setup* setup_;
  std::vector<Shape> entry_shape_;
  std::vector<bool> entry_used_;
  std::vector<std::string> entry_rr_;
  std::vector<Index> entry_job_;
  std::vector<Placement> entry_placement_;
  std::map<size_t, size_t> entry_scheduler_index_;
  std::vector<Shape> scheduler_shape_;
  std::vector<NodeShape> scheduler_node_;
  std::vector<int64_t> scheduler_fitting_;
};

}  // namespace

bool PlanSetup(const Plan& plan, const Cluster& cluster, const SetupOptions& options,
               Setup* setup, std::string* error) {
  *setup = {};
  return SetupPlanner(plan, cluster, options, setup).Run(error);
}

}  // namespace torc::spec::slurm
