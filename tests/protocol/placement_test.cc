// The one placement rule (server/protocol/placement.h), on the capacity figures a claim carries.
#include <doctest/doctest.h>

#include "server/protocol/placement.h"

using namespace torc::protocol;

namespace {

constexpr int64_t kGB = 1LL << 30;

NodeCapacity Node(int64_t cpus, int64_t memory, int64_t gpus = 0) {
  return {cpus, memory, gpus, cpus, memory, gpus, true};
}

JobNeeds Needs(int64_t cpus, int64_t memory = 0, int64_t gpus = 0, int64_t nodes = 1) {
  return {cpus, memory, gpus, nodes};
}

}  // namespace

TEST_CASE("a single-node job: first node that fits, preferred first; it takes what it holds") {
  std::vector<NodeCapacity> nodes = {Node(2, 8 * kGB), Node(8, 8 * kGB, 2), Node(8, 8 * kGB)};
  std::vector<uint32_t> chosen;
  REQUIRE(PlaceOnNodes(Needs(4), {}, &nodes, &chosen));
  CHECK(chosen == std::vector<uint32_t>{1});
  CHECK(nodes[1].free_cpus == 4);
  CHECK(nodes[1].free_memory_bytes == 4 * kGB);  // no request: a per-CPU share, 1 GiB per CPU
  CHECK_FALSE(nodes[1].idle);
  REQUIRE(PlaceOnNodes(Needs(1, kGB), {2, 7}, &nodes, &chosen));  // 7 does not exist
  CHECK(chosen == std::vector<uint32_t>{2});
  REQUIRE(PlaceOnNodes(Needs(1, 0, 2), {0}, &nodes, &chosen));  // GPUs only on node 1
  CHECK(chosen == std::vector<uint32_t>{1});
  CHECK(nodes[1].free_gpus == 0);
  const auto before = nodes;
  CHECK_FALSE(PlaceOnNodes(Needs(9), {}, &nodes, &chosen));
  CHECK(chosen.empty());
  CHECK(nodes == before);  // unchanged when it does not fit
  CHECK_FALSE(PlaceOnNodes(Needs(0), {}, &nodes, &chosen));  // no CPU: never placed
}

TEST_CASE("a multi-node job takes idle nodes whole") {
  std::vector<NodeCapacity> nodes = {Node(4, 8 * kGB), Node(4, 8 * kGB), Node(4, 8 * kGB)};
  std::vector<uint32_t> chosen;
  REQUIRE(PlaceOnNodes(Needs(1), {}, &nodes, &chosen));  // node 0 is no longer idle
  REQUIRE(PlaceOnNodes(Needs(2, 0, 0, 2), {}, &nodes, &chosen));
  CHECK(chosen == std::vector<uint32_t>{1, 2});
  for (uint32_t n : chosen) {
    CHECK(nodes[n].free_cpus == 0);
    CHECK(nodes[n].free_memory_bytes == 0);
    CHECK_FALSE(nodes[n].idle);
  }
  nodes = {Node(4, 8 * kGB), Node(4, 8 * kGB)};
  CHECK_FALSE(PlaceOnNodes(Needs(5, 0, 0, 2), {}, &nodes, &chosen));  // per node, 5 > 4
  CHECK_FALSE(PlaceOnNodes(Needs(1, 0, 0, 3), {}, &nodes, &chosen));  // only two nodes
  REQUIRE(PlaceOnNodes(Needs(1, 0, 0, 2), {1}, &nodes, &chosen));
  CHECK(chosen == std::vector<uint32_t>{1, 0});  // preferred first
}

TEST_CASE("MemoryOnNode and CanEverFit") {
  CHECK(MemoryOnNode(Needs(3), 4, 8 * kGB) == 6 * kGB);
  CHECK(MemoryOnNode(Needs(3, 5), 4, 8 * kGB) == 5);
  CHECK(MemoryOnNode(Needs(2), 3, 10) == 6);  // 10 / 3 rounds down, then times 2
  CHECK(MemoryOnNode(Needs(2), 0, 10) == 0);
  CHECK(MemoryOnNode(Needs(INT32_MAX), 1, INT64_MAX) == INT64_MAX);  // saturates
  NodeCapacity busy = Node(8, 8 * kGB, 1);
  busy.free_cpus = 0;
  busy.idle = false;
  std::vector<NodeCapacity> nodes = {busy, Node(4, 32 * kGB)};
  CHECK(CanEverFit(Needs(8), nodes));         // node 0 when it is idle again
  CHECK(CanEverFit(Needs(4, 16 * kGB), nodes));
  CHECK_FALSE(CanEverFit(Needs(8, 16 * kGB), nodes));  // CPUs on one node, memory on the other
  CHECK(CanEverFit(Needs(4, 0, 0, 2), nodes));
  CHECK_FALSE(CanEverFit(Needs(5, 0, 0, 2), nodes));
  CHECK_FALSE(CanEverFit(Needs(1, 0, 2), nodes));
  CHECK_FALSE(CanEverFit(Needs(1, 0, 0, 3), nodes));
}
