// The one placement rule, shared by the server (which picks jobs for a claim against the free
// capacity the worker reported) and the worker (whose ledger then places them on its nodes):
// both must agree, or the server hands out jobs the worker cannot start, or the worker idles
// while the server thinks it is full.
//
// A single-node job goes to the first node (preferred ones first) with enough free CPUs, GPUs
// and memory. A job with num_nodes N > 1 takes N idle nodes whole (whole-node reservation),
// each of which must hold its per-node request. A job without a memory request gets a per-CPU
// share of the node's memory.
#pragma once

#include <cstdint>
#include <vector>

#include "server/protocol/messages.h"

namespace torc::protocol {

/// What a job needs on each node it runs on.
struct JobNeeds {
  int64_t cpus = 1;
  int64_t memory_bytes = 0;  // 0: a per-CPU share of the node's memory
  int64_t gpus = 0;
  int64_t nodes = 1;
};

/// At least one CPU, one node, nothing negative: only such needs are ever placed (a job of no
/// CPU would fit on a node held whole).
bool ValidNeeds(const JobNeeds& needs);

/// The memory a job holds on a node of `node_cpus` CPUs and `node_memory` bytes: its request,
/// or its per-CPU share of the node's memory (saturating, never negative).
int64_t MemoryOnNode(const JobNeeds& needs, int64_t node_cpus, int64_t node_memory);

/// Whether the job fits in what the node has free now (not whether it is idle).
bool FitsOnNode(const JobNeeds& needs, const NodeCapacity& node);

/// Places the job: chooses its nodes among `nodes` (indices in `preferred` first, then in
/// order), takes what it holds from their free figures (a whole node: everything), marks them
/// not idle, and returns the chosen indices in *chosen. False (nodes unchanged) when it does
/// not fit now.
bool PlaceOnNodes(const JobNeeds& needs, const std::vector<uint32_t>& preferred,
                  std::vector<NodeCapacity>* nodes, std::vector<uint32_t>* chosen);

/// Whether the job would fit on these nodes were they all idle (their totals).
bool CanEverFit(const JobNeeds& needs, const std::vector<NodeCapacity>& nodes);

}  // namespace torc::protocol
