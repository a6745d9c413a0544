#include "worker/ledger.h"

#include <algorithm>
#include <climits>

namespace torc::worker {
namespace {

// Needs a ledger can ever place: at least one CPU (so that no job fits on a
// node held whole, whose free CPUs are 0) and nothing negative.
bool Valid(const JobNeeds& needs) {
  return needs.cpus >= 1 && needs.memory_bytes >= 0 && needs.gpus >= 0 && needs.nodes >= 1;
}

// The nodes to try, in order: the preferred ones that exist, then all, each once.
std::vector<uint32_t> CandidateOrder(const std::vector<uint32_t>& preferred, size_t node_count) {
  std::vector<uint32_t> order;
  std::vector<bool> listed(node_count, false);
  auto add = [&](uint32_t n) {
    if (n < node_count && !listed[n]) {
      listed[n] = true;
      order.push_back(n);
    }
  };
  for (uint32_t n : preferred) add(n);
  for (uint32_t n = 0; n < node_count; ++n) add(n);
  return order;
}

}  // namespace

NodeLedger::NodeLedger(std::vector<NodeInfo> nodes) : nodes_(std::move(nodes)) {
  state_.reserve(nodes_.size());
  for (const auto& node : nodes_) {
    NodeState s;
    s.free_cpus = node.cpus;
    s.free_memory = node.memory_bytes;
    s.free_gpus = node.gpus;
    // Sorted so the lowest indices go first; a listed-twice index is one device.
    std::sort(s.free_gpus.begin(), s.free_gpus.end());
    s.free_gpus.erase(std::unique(s.free_gpus.begin(), s.free_gpus.end()), s.free_gpus.end());
    state_.push_back(std::move(s));
  }
}

int64_t NodeLedger::MemoryFor(const JobNeeds& needs, uint32_t n) const {
  if (needs.memory_bytes > 0) return needs.memory_bytes;
  const NodeInfo& node = nodes_[n];
  if (node.cpus <= 0) return 0;
  __int128 share = static_cast<__int128>(node.memory_bytes / node.cpus) * needs.cpus;
  return share > INT64_MAX ? INT64_MAX : static_cast<int64_t>(share);
}

bool NodeLedger::FitsOn(const JobNeeds& needs, uint32_t n) const {
  const NodeState& s = state_[n];
  return s.free_cpus >= needs.cpus && s.free_memory >= MemoryFor(needs, n) &&
         static_cast<int64_t>(s.free_gpus.size()) >= needs.gpus;
}

void NodeLedger::Take(const JobNeeds& needs, uint32_t n, Placement* out) {
  NodeState& s = state_[n];
  const int64_t memory = MemoryFor(needs, n);
  s.free_cpus -= needs.cpus;
  s.free_memory -= memory;
  std::vector<int> gpus(s.free_gpus.begin(), s.free_gpus.begin() + needs.gpus);
  s.free_gpus.erase(s.free_gpus.begin(), s.free_gpus.begin() + needs.gpus);
  ++s.jobs;
  out->nodes.push_back(n);
  out->gpus.push_back(std::move(gpus));
  out->cpus_per_node = needs.cpus;
  out->memory_per_node = memory;
}

bool NodeLedger::Place(const JobNeeds& needs, const std::vector<uint32_t>& preferred,
                       Placement* out) {
  *out = Placement{};
  if (!Valid(needs)) return false;
  const std::vector<uint32_t> order = CandidateOrder(preferred, nodes_.size());

  if (needs.nodes == 1) {
    for (uint32_t n : order) {
      if (FitsOn(needs, n)) {
        Take(needs, n, out);
        return true;
      }
    }
    return false;
  }

  // A multi-node job takes idle nodes whole; it shares with nothing.
  std::vector<uint32_t> chosen;
  for (uint32_t n : order) {
    if (state_[n].jobs == 0 && FitsOn(needs, n)) chosen.push_back(n);
    if (static_cast<int64_t>(chosen.size()) == needs.nodes) break;
  }
  if (static_cast<int64_t>(chosen.size()) < needs.nodes) return false;
  out->whole_nodes = true;
  out->cpus_per_node = nodes_[chosen.front()].cpus;
  out->memory_per_node = nodes_[chosen.front()].memory_bytes;
  for (uint32_t n : chosen) {
    NodeState& s = state_[n];
    s.free_cpus = 0;
    s.free_memory = 0;
    s.jobs = 1;
    out->nodes.push_back(n);
    out->gpus.push_back(std::move(s.free_gpus));
    s.free_gpus.clear();
  }
  return true;
}

void NodeLedger::Release(const Placement& placement) {
  for (size_t i = 0; i < placement.nodes.size(); ++i) {
    const uint32_t n = placement.nodes[i];
    if (n >= state_.size()) continue;
    NodeState& s = state_[n];
    if (placement.whole_nodes) {
      // The node was idle when taken, so it held exactly the node's totals
      // (which may differ from the first node's, recorded in the placement).
      s.free_cpus = nodes_[n].cpus;
      s.free_memory = nodes_[n].memory_bytes;
    } else {
      s.free_cpus += placement.cpus_per_node;
      s.free_memory += placement.memory_per_node;
    }
    if (i < placement.gpus.size()) {
      s.free_gpus.insert(s.free_gpus.end(), placement.gpus[i].begin(), placement.gpus[i].end());
      std::sort(s.free_gpus.begin(), s.free_gpus.end());
    }
    if (s.jobs > 0) --s.jobs;
  }
}

bool NodeLedger::CanEverFit(const JobNeeds& needs) const {
  if (!Valid(needs) || needs.nodes > static_cast<int64_t>(nodes_.size())) return false;
  int64_t fitting = 0;
  for (uint32_t n = 0; n < nodes_.size(); ++n) {
    const NodeInfo& node = nodes_[n];
    if (needs.cpus <= node.cpus && MemoryFor(needs, n) <= node.memory_bytes &&
        needs.gpus <= static_cast<int64_t>(node.gpus.size()))
      ++fitting;
  }
  return fitting >= needs.nodes;
}

std::vector<NodeFree> NodeLedger::Free() const {
  std::vector<NodeFree> out;
  out.reserve(nodes_.size());
  for (size_t n = 0; n < nodes_.size(); ++n) {
    NodeFree f;
    f.free_cpus = state_[n].free_cpus;
    f.free_memory_bytes = state_[n].free_memory;
    f.free_gpus = static_cast<int64_t>(state_[n].free_gpus.size());
    f.total_cpus = nodes_[n].cpus;
    f.total_memory_bytes = nodes_[n].memory_bytes;
    f.total_gpus = static_cast<int64_t>(nodes_[n].gpus.size());
    f.idle = state_[n].jobs == 0;
    out.push_back(f);
  }
  return out;
}

bool NodeLedger::AllIdle() const {
  return std::all_of(state_.begin(), state_.end(), [](const NodeState& s) { return s.jobs == 0; });
}

}  // namespace torc::worker
