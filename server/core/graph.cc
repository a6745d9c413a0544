#include "server/core/graph.h"

namespace torc::server {
namespace {

// Builds a CSR of `n` lists from (list, item) pairs produced by `each(emit)`.
template <typename Each>
Csr BuildCsr(size_t n, Each each) {
  Csr c;
  c.start.assign(n + 1, 0);
  each([&](uint32_t list, uint32_t) { ++c.start[list + 1]; });
  for (size_t i = 0; i < n; ++i) c.start[i + 1] += c.start[i];
  c.items.resize(c.start[n]);
  std::vector<uint32_t> fill(c.start.begin(), c.start.end() - 1);
  each([&](uint32_t list, uint32_t item) { c.items[fill[list]++] = item; });
  return c;
}

}  // namespace

DependencyGraph DependencyGraph::Build(const spec::Plan& plan) {
  DependencyGraph g;
  const size_t n = plan.jobs.size();
  g.children = BuildCsr(n, [&](auto emit) {
    for (uint32_t j = 0; j < n; ++j)
      for (uint32_t p : plan.jobs[j].depends_on) emit(p, j);
  });
  g.member_groups = BuildCsr(n, [&](auto emit) {
    for (uint32_t gr = 0; gr < plan.dependency_groups.size(); ++gr)
      for (uint32_t m : plan.dependency_groups[gr].members) emit(m, gr);
  });
  g.group_users = BuildCsr(plan.dependency_groups.size(), [&](auto emit) {
    for (uint32_t j = 0; j < n; ++j)
      for (uint32_t gr : plan.jobs[j].dependency_groups) emit(gr, j);
  });
  return g;
}

}  // namespace torc::server
