#include "server/core/ready_queue.h"

namespace torc::server {

void ReadyQueue::Push(JobIndex job, uint32_t token, const JobShape& shape) {
  auto [it, inserted] = classes_.try_emplace(shape.Key());
  if (inserted) it->second.shape = shape;
  it->second.heap.push({job, token});
  ++size_;
}

bool ReadyQueue::Fits(const JobShape& s, std::vector<NodeCapacity>& nodes,
                      std::vector<uint32_t>* placed) {
  placed->clear();
  if (s.nodes > 1) {
    // Whole-node reservation: take `nodes` idle nodes and all they have.
    for (uint32_t n = 0; n < nodes.size() && placed->size() < static_cast<size_t>(s.nodes); ++n) {
      const NodeCapacity& c = nodes[n];
      if (c.idle && c.free_cpus >= s.cpus && c.free_gpus >= s.gpus &&
          (s.memory_bytes == 0 || c.free_memory_bytes >= s.memory_bytes))
        placed->push_back(n);
    }
    if (placed->size() < static_cast<size_t>(s.nodes)) {
      placed->clear();
      return false;
    }
    for (uint32_t n : *placed) {
      nodes[n].idle = false;
      nodes[n].free_cpus = nodes[n].free_gpus = nodes[n].free_memory_bytes = 0;
    }
    return true;
  }
  for (uint32_t n = 0; n < nodes.size(); ++n) {
    NodeCapacity& c = nodes[n];
    int64_t memory = s.memory_bytes;
    if (memory == 0 && c.total_cpus > 0) memory = c.total_memory_bytes / c.total_cpus * s.cpus;
    if (c.free_cpus >= s.cpus && c.free_gpus >= s.gpus && c.free_memory_bytes >= memory) {
      c.free_cpus -= s.cpus;
      c.free_gpus -= s.gpus;
      c.free_memory_bytes -= memory;
      c.idle = false;
      placed->push_back(n);
      return true;
    }
  }
  return false;
}

}  // namespace torc::server
