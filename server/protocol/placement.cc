#include "server/protocol/placement.h"

#include <climits>

namespace torc::protocol {
namespace {

// Calls visit(n) for the nodes to try, in order: the preferred ones that exist, then all, each
// once; stops when visit returns true. (No list is built when nothing is preferred: the server
// places every claimed job this way.)
template <typename Visit>
void ForEachCandidate(const std::vector<uint32_t>& preferred, size_t node_count, Visit visit) {
  if (preferred.empty()) {
    for (uint32_t n = 0; n < node_count; ++n)
      if (visit(n)) return;
    return;
  }
  std::vector<bool> listed(node_count, false);
  for (uint32_t n : preferred) {
    if (n >= node_count || listed[n]) continue;
    listed[n] = true;
    if (visit(n)) return;
  }
  for (uint32_t n = 0; n < node_count; ++n)
    if (!listed[n] && visit(n)) return;
}

// The node as it is when nothing runs on it.
NodeCapacity Idle(const NodeCapacity& n) {
  NodeCapacity c = n;
  c.free_cpus = n.total_cpus;
  c.free_memory_bytes = n.total_memory_bytes;
  c.free_gpus = n.total_gpus;
  c.idle = true;
  return c;
}

}  // namespace

bool ValidNeeds(const JobNeeds& needs) {
  return needs.cpus >= 1 && needs.memory_bytes >= 0 && needs.gpus >= 0 && needs.nodes >= 1;
}

int64_t MemoryOnNode(const JobNeeds& needs, int64_t node_cpus, int64_t node_memory) {
  if (needs.memory_bytes > 0) return needs.memory_bytes;
  if (node_cpus <= 0 || node_memory <= 0) return 0;
  __int128 share = static_cast<__int128>(node_memory / node_cpus) * needs.cpus;
  return share > INT64_MAX ? INT64_MAX : static_cast<int64_t>(share);
}

bool FitsOnNode(const JobNeeds& needs, const NodeCapacity& node) {
  return node.free_cpus >= needs.cpus && node.free_gpus >= needs.gpus &&
         node.free_memory_bytes >= MemoryOnNode(needs, node.total_cpus, node.total_memory_bytes);
}

bool PlaceOnNodes(const JobNeeds& needs, const std::vector<uint32_t>& preferred,
                  std::vector<NodeCapacity>* nodes, std::vector<uint32_t>* chosen) {
  chosen->clear();
  if (!ValidNeeds(needs)) return false;
  std::vector<NodeCapacity>& all = *nodes;
  if (needs.nodes == 1) {
    ForEachCandidate(preferred, all.size(), [&](uint32_t n) {
      NodeCapacity& c = all[n];
      if (!FitsOnNode(needs, c)) return false;
      c.free_cpus -= needs.cpus;
      c.free_gpus -= needs.gpus;
      c.free_memory_bytes -= MemoryOnNode(needs, c.total_cpus, c.total_memory_bytes);
      c.idle = false;
      chosen->push_back(n);
      return true;
    });
    return !chosen->empty();
  }
  // A multi-node job takes idle nodes whole; it shares with nothing.
  ForEachCandidate(preferred, all.size(), [&](uint32_t n) {
    if (all[n].idle && FitsOnNode(needs, all[n])) chosen->push_back(n);
    return static_cast<int64_t>(chosen->size()) == needs.nodes;
  });
  if (static_cast<int64_t>(chosen->size()) < needs.nodes) {
    chosen->clear();
    return false;
  }
  for (uint32_t n : *chosen) {
    NodeCapacity& c = all[n];
    c.free_cpus = c.free_gpus = c.free_memory_bytes = 0;
    c.idle = false;
  }
  return true;
}

bool CanEverFit(const JobNeeds& needs, const std::vector<NodeCapacity>& nodes) {
  if (!ValidNeeds(needs) || needs.nodes > static_cast<int64_t>(nodes.size())) return false;
  int64_t fitting = 0;
  for (const auto& n : nodes)
    if (FitsOnNode(needs, Idle(n)) && ++fitting >= needs.nodes) return true;
  return false;
}

}  // namespace torc::protocol
