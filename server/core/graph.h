// The dependency graph of a Plan in the shapes the scheduling core walks:
// children of each job, groups each job belongs to, users of each group.
// Compressed (CSR) arrays: one allocation per list, O(1) per lookup.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "spec/plan.h"

namespace torc::server {

/// Adjacency lists in compressed form: the items of list i are
/// items[start[i] .. start[i+1]).
struct Csr {
  std::vector<uint32_t> start, items;
  std::span<const uint32_t> operator[](size_t i) const {
    return {items.data() + start[i], items.data() + start[i + 1]};
  }
};

/// The Plan's dependency edges turned around: the Plan lists what each job waits for, this
/// who waits for each job and group. Built once per workflow; WorkflowCore walks it to pass
/// a job's final state on to its children and groups.
struct DependencyGraph {
  Csr children;       // job -> jobs that list it in depends_on
  Csr member_groups;  // job -> dependency groups it is a member of
  Csr group_users;    // group -> jobs that depend on the group

  static DependencyGraph Build(const spec::Plan& plan);
};

}  // namespace torc::server
