// The ready jobs of one workflow, ordered for claiming: priority (higher
// first), then GPUs, runtime, memory and CPUs (larger first), then submission
// order. Jobs of the same shape share one class, so a claim skips a shape that
// does not fit in O(1) instead of looking at each of its jobs.
#pragma once

#include <cstdint>
#include <map>
#include <queue>
#include <string>
#include <tuple>
#include <vector>

#include "server/model/model.h"
#include "server/protocol/placement.h"

namespace torc::server {

/// What a job needs, per node, as the claim sees it.
struct JobShape {
  int64_t priority = 0;
  int64_t gpus = 0;
  int64_t runtime_seconds = 0;
  int64_t memory_bytes = 0;  // 0: a per-CPU share of the node's memory
  int64_t cpus = 1;
  int64_t nodes = 1;
  uint32_t scheduler = UINT32_MAX;  // index into the plan's schedulers; UINT32_MAX: any

  /// Per node, as the placement rule (server/protocol/placement.h) sees it.
  protocol::JobNeeds Needs() const { return {cpus, memory_bytes, gpus, nodes}; }

  /// Claim order: the "larger" shape is claimed first.
  auto Key() const {
    return std::make_tuple(-priority, -gpus, -runtime_seconds, -memory_bytes, -cpus, -nodes,
                           scheduler);
  }
};

/// Free resources of one node of a claiming worker, as the claim reports them.
using NodeCapacity = protocol::NodeCapacity;

/// The claim filter: what a worker can take right now (from its ClaimRequest).
struct ClaimFilter {
  uint32_t max_jobs = 1;
  std::vector<NodeCapacity> nodes;
  /// Scheduler index of the worker's allocation; UINT32_MAX: take jobs of any scheduler.
  uint32_t scheduler = UINT32_MAX;
  double remaining_seconds = 1e18;  // walltime left in the allocation
};

/// One job picked by a claim, with the nodes (indices into ClaimFilter::nodes) it fits on.
struct PickedJob {
  JobIndex job = 0;
  std::vector<uint32_t> nodes;
};

/// The ready jobs of one workflow in claim order, owned by its WorkflowCore: pushed when a
/// job becomes ready, taken by claims (placed by the one placement rule), stale entries
/// (canceled, re-pushed) dropped lazily.
class ReadyQueue {
 public:
  /// Adds a ready job. `token` must change every time the same job is pushed
  /// again, so entries left behind by cancels are recognized as stale.
  void Push(JobIndex job, uint32_t token, const JobShape& shape);

  /// Picks jobs in claim order that fit the filter, packing them onto the
  /// nodes first-fit; `valid(job, token)` says whether an entry is still live.
  /// Picked jobs are removed.
  template <typename Valid>
  std::vector<PickedJob> Take(const ClaimFilter& filter, Valid valid);

  /// Number of entries (including stale ones not yet dropped).
  size_t size() const { return size_; }

 private:
  /// One ready job in a class; `token` tells a live entry from one left behind.
  struct Entry {
    JobIndex job;
    uint32_t token;
    bool operator>(const Entry& o) const { return job > o.job; }
  };
  using Heap = std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>>;
  /// The ready jobs of one shape, lowest index (submission order) first.
  struct Class {
    JobShape shape;
    Heap heap;
  };

  std::map<decltype(JobShape().Key()), Class> classes_;
  size_t size_ = 0;
};

template <typename Valid>
std::vector<PickedJob> ReadyQueue::Take(const ClaimFilter& filter, Valid valid) {
  std::vector<PickedJob> out;
  std::vector<NodeCapacity> nodes = filter.nodes;
  for (auto it = classes_.begin(); it != classes_.end() && out.size() < filter.max_jobs;) {
    Class& c = it->second;
    const JobShape& s = c.shape;
    const protocol::JobNeeds needs = s.Needs();
    bool eligible = (filter.scheduler == UINT32_MAX || s.scheduler == UINT32_MAX ||
                     s.scheduler == filter.scheduler) &&
                    static_cast<double>(s.runtime_seconds) <= filter.remaining_seconds;
    while (eligible && !c.heap.empty() && out.size() < filter.max_jobs) {
      Entry e = c.heap.top();
      if (!valid(e.job, e.token)) {
        c.heap.pop();
        --size_;
        continue;
      }
      PickedJob p;
      p.job = e.job;
      // The same shape will not fit either: on to the next class.
      if (!protocol::PlaceOnNodes(needs, {}, &nodes, &p.nodes)) break;
      c.heap.pop();
      --size_;
      out.push_back(std::move(p));
    }
    if (c.heap.empty()) it = classes_.erase(it);
    else ++it;
  }
  return out;
}

}  // namespace torc::server
