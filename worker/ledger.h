// Per-node accounting of the worker's free CPUs, memory and GPU indices. It
// decides where a job runs, by the same rule the server claims with
// (server/protocol/placement.h), and never lets more run than fits. Single-node
// jobs share nodes and are pinned to one; a job with num_nodes N > 1 takes N
// completely idle nodes whole until it ends (whole-node reservation).
#pragma once

#include <cstdint>
#include <vector>

#include "server/protocol/placement.h"
#include "worker/allocation.h"

namespace torc::worker {

/// What a job needs, per node.
using JobNeeds = protocol::JobNeeds;

/// Where a job was placed and what it holds there.
struct Placement {
  std::vector<uint32_t> nodes;          // node indices
  std::vector<std::vector<int>> gpus;   // per placed node: GPU indices held
  int64_t cpus_per_node = 0;            // CPUs held on each node (all of them when whole)
  int64_t memory_per_node = 0;          // bytes held on each node
  bool whole_nodes = false;
};

/// Free resources of one node, as a claim reports them.
using NodeFree = protocol::NodeCapacity;

/// The worker's nodes and what each has free; owned by the worker loop, which places every
/// claimed job here before launching it and releases the placement when the job ends.
class NodeLedger {
 public:
  explicit NodeLedger(std::vector<NodeInfo> nodes);

  /// Places a job. `preferred` (may be empty) are the node indices the server
  /// suggested; they are tried first. False when it does not fit anywhere now
  /// (or can never fit: see CanEverFit).
  bool Place(const JobNeeds& needs, const std::vector<uint32_t>& preferred, Placement* out);
  /// Gives back what a placement held.
  void Release(const Placement& placement);
  /// True if the job would fit on an empty allocation.
  bool CanEverFit(const JobNeeds& needs) const;

  /// Node `n` failed (Slurm says so): nothing more is placed there and it offers nothing to
  /// claims; what ran there is released as usual. False when it was lost already.
  bool MarkLost(uint32_t n);
  bool lost(uint32_t n) const { return n < lost_.size() && lost_[n]; }
  bool any_lost() const;
  /// Every node is lost: nothing can run here any more.
  bool all_lost() const;

  std::vector<NodeFree> Free() const;
  bool AllIdle() const;
  const std::vector<NodeInfo>& nodes() const { return nodes_; }
  /// Memory a job gets on node n: its request, or a per-CPU share.
  int64_t MemoryFor(const JobNeeds& needs, uint32_t n) const;

 private:
  std::vector<NodeInfo> nodes_;
  std::vector<NodeFree> free_;             // per node: what the placement rule sees
  std::vector<std::vector<int>> gpus_;     // per node: GPU indices not held, sorted
  std::vector<int> jobs_;                  // per node: placements holding something there
  std::vector<bool> lost_;                 // per node: failed (MarkLost)
};

}  // namespace torc::worker
