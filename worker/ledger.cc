#include "worker/ledger.h"

#include <algorithm>
#include <climits>

namespace torc::worker {

NodeLedger::NodeLedger(std::vector<NodeInfo> nodes) : nodes_(std::move(nodes)) {
  for (const auto& node : nodes_) {
    // Sorted so the lowest indices go first; a listed-twice index is one device.
    std::vector<int> gpus = node.gpus;
    std::sort(gpus.begin(), gpus.end());
    gpus.erase(std::unique(gpus.begin(), gpus.end()), gpus.end());
    NodeFree f;
    f.free_cpus = f.total_cpus = node.cpus;
    f.free_memory_bytes = f.total_memory_bytes = node.memory_bytes;
    f.free_gpus = f.total_gpus = static_cast<int64_t>(gpus.size());
    f.idle = true;
    free_.push_back(f);
    gpus_.push_back(std::move(gpus));
    jobs_.push_back(0);
  }
  lost_.assign(nodes_.size(), false);
}

bool NodeLedger::MarkLost(uint32_t n) {
  if (n >= nodes_.size() || lost_[n]) return false;
  lost_[n] = true;
  // Nothing free and nothing in total: no placement, no claim, no whole-node job fits there.
  free_[n] = NodeFree{};
  free_[n].idle = false;
  gpus_[n].clear();
  return true;
}

bool NodeLedger::all_lost() const {
  return std::find(lost_.begin(), lost_.end(), false) == lost_.end();
}

bool NodeLedger::any_lost() const {
  return std::find(lost_.begin(), lost_.end(), true) != lost_.end();
}

int64_t NodeLedger::MemoryFor(const JobNeeds& needs, uint32_t n) const {
  return protocol::MemoryOnNode(needs, nodes_[n].cpus, nodes_[n].memory_bytes);
}

bool NodeLedger::Place(const JobNeeds& needs, const std::vector<uint32_t>& preferred,
                       Placement* out) {
  *out = Placement{};
  std::vector<uint32_t> chosen;
  if (!protocol::PlaceOnNodes(needs, preferred, &free_, &chosen)) return false;
  out->whole_nodes = needs.nodes > 1;
  out->cpus_per_node = out->whole_nodes ? nodes_[chosen.front()].cpus : needs.cpus;
  out->memory_per_node =
      out->whole_nodes ? nodes_[chosen.front()].memory_bytes : MemoryFor(needs, chosen.front());
  for (uint32_t n : chosen) {
    std::vector<int>& free_gpus = gpus_[n];
    const auto held = out->whole_nodes ? free_gpus.size() : static_cast<size_t>(needs.gpus);
    out->nodes.push_back(n);
    out->gpus.emplace_back(free_gpus.begin(), free_gpus.begin() + held);
    free_gpus.erase(free_gpus.begin(), free_gpus.begin() + held);
    ++jobs_[n];
  }
  return true;
}

void NodeLedger::Release(const Placement& placement) {
  for (size_t i = 0; i < placement.nodes.size(); ++i) {
    const uint32_t n = placement.nodes[i];
    if (n >= free_.size()) continue;
    if (lost_[n]) {  // gives nothing back: the node is gone
      if (jobs_[n] > 0) --jobs_[n];
      continue;
    }
    NodeFree& f = free_[n];
    if (placement.whole_nodes) {
      // The node was idle when taken, so it held exactly the node's totals
      // (which may differ from the first node's, recorded in the placement).
      f.free_cpus = f.total_cpus;
      f.free_memory_bytes = f.total_memory_bytes;
    } else {
      f.free_cpus += placement.cpus_per_node;
      f.free_memory_bytes += placement.memory_per_node;
    }
    if (i < placement.gpus.size()) {
      gpus_[n].insert(gpus_[n].end(), placement.gpus[i].begin(), placement.gpus[i].end());
      std::sort(gpus_[n].begin(), gpus_[n].end());
    }
    f.free_gpus = static_cast<int64_t>(gpus_[n].size());
    if (jobs_[n] > 0) --jobs_[n];
    f.idle = jobs_[n] == 0;
  }
}

bool NodeLedger::CanEverFit(const JobNeeds& needs) const {
  return protocol::CanEverFit(needs, free_);
}

std::vector<NodeFree> NodeLedger::Free() const { return free_; }

bool NodeLedger::AllIdle() const {
  return std::all_of(jobs_.begin(), jobs_.end(), [](int jobs) { return jobs == 0; });
}

}  // namespace torc::worker
