#include "server/core/ready_queue.h"

namespace torc::server {

void ReadyQueue::Push(JobIndex job, uint32_t token, const JobShape& shape) {
  auto [it, inserted] = classes_.try_emplace(shape.Key());
  if (inserted) it->second.shape = shape;
  it->second.heap.push({job, token});
  ++size_;
}

}  // namespace torc::server
