// The per-node ledger: packing, GPU indices, whole-node reservations,
// preferred nodes, release, and a randomized check against independent
// bookkeeping.
#include "worker/ledger.h"

#include "server/core/ready_queue.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <vector>

using namespace torc::worker;

namespace {

constexpr int64_t kGB = 1024LL * 1024 * 1024;

NodeInfo Node(std::string name, int64_t cpus, int64_t memory, std::vector<int> gpus = {}) {
  NodeInfo n;
  n.name = std::move(name);
  n.cpus = cpus;
  n.memory_bytes = memory;
  n.gpus = std::move(gpus);
  return n;
}

std::vector<NodeInfo> Uniform(int count, int64_t cpus, int64_t memory, std::vector<int> gpus = {}) {
  std::vector<NodeInfo> nodes;
  for (int i = 0; i < count; ++i)
    nodes.push_back(Node("n" + std::to_string(i + 1), cpus, memory, gpus));
  return nodes;
}

JobNeeds Needs(int64_t cpus, int64_t memory = 0, int64_t gpus = 0, int64_t nodes = 1) {
  JobNeeds j;
  j.cpus = cpus;
  j.memory_bytes = memory;
  j.gpus = gpus;
  j.nodes = nodes;
  return j;
}

bool SameFree(const std::vector<NodeFree>& a, const std::vector<NodeFree>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].free_cpus != b[i].free_cpus || a[i].free_memory_bytes != b[i].free_memory_bytes ||
        a[i].free_gpus != b[i].free_gpus || a[i].total_cpus != b[i].total_cpus ||
        a[i].total_memory_bytes != b[i].total_memory_bytes || a[i].idle != b[i].idle)
      return false;
  }
  return true;
}

}  // namespace

TEST_CASE("single-node jobs pack first fit and never exceed a node") {
  NodeLedger ledger(Uniform(2, 4, 8 * kGB));
  std::vector<Placement> held;
  for (int i = 0; i < 8; ++i) {
    Placement p;
    REQUIRE(ledger.Place(Needs(1), {}, &p));
    CHECK(p.nodes == std::vector<uint32_t>{static_cast<uint32_t>(i / 4)});  // n1 fills first
    CHECK(p.cpus_per_node == 1);
    CHECK(p.memory_per_node == 2 * kGB);  // memory 0: a per-CPU share
    CHECK_FALSE(p.whole_nodes);
    held.push_back(p);
  }
  Placement p;
  CHECK_FALSE(ledger.Place(Needs(1), {}, &p));
  auto free = ledger.Free();
  CHECK(free[0].free_cpus == 0);
  CHECK(free[1].free_memory_bytes == 0);
  CHECK_FALSE(free[0].idle);

  ledger.Release(held[5]);
  REQUIRE(ledger.Place(Needs(1), {}, &p));
  CHECK(p.nodes == std::vector<uint32_t>{1});
}

TEST_CASE("memory limits placement as well as CPUs") {
  NodeLedger ledger(Uniform(1, 8, 10 * kGB));
  Placement a, b, c;
  REQUIRE(ledger.Place(Needs(1, 6 * kGB), {}, &a));
  CHECK(a.memory_per_node == 6 * kGB);
  CHECK_FALSE(ledger.Place(Needs(1, 5 * kGB), {}, &b));
  REQUIRE(ledger.Place(Needs(1, 4 * kGB), {}, &b));
  CHECK(ledger.Free()[0].free_memory_bytes == 0);
  CHECK(ledger.Free()[0].free_cpus == 6);
  CHECK_FALSE(ledger.Place(Needs(1), {}, &c));  // the per-CPU share (1.25 GB) no longer fits
}

TEST_CASE("MemoryFor: the request, or a per-CPU share") {
  NodeLedger ledger({Node("a", 4, 8 * kGB), Node("b", 3, 10)});
  CHECK(ledger.MemoryFor(Needs(1), 0) == 2 * kGB);
  CHECK(ledger.MemoryFor(Needs(3), 0) == 6 * kGB);
  CHECK(ledger.MemoryFor(Needs(1, 123), 0) == 123);
  CHECK(ledger.MemoryFor(Needs(2), 1) == 6);  // 10 / 3 rounds down, then times 2
  CHECK(ledger.MemoryFor(Needs(3), 1) <= 10);
}

TEST_CASE("GPU indices: lowest free first, distinct among holders") {
  NodeLedger ledger({Node("g1", 16, 64 * kGB, {3, 1, 0, 2})});
  Placement a, b, c, d;
  REQUIRE(ledger.Place(Needs(1, 0, 1), {}, &a));
  REQUIRE(ledger.Place(Needs(1, 0, 2), {}, &b));
  CHECK(a.gpus == std::vector<std::vector<int>>{{0}});
  CHECK(b.gpus == std::vector<std::vector<int>>{{1, 2}});
  CHECK_FALSE(ledger.Place(Needs(1, 0, 2), {}, &c));
  REQUIRE(ledger.Place(Needs(1, 0, 1), {}, &c));
  CHECK(c.gpus == std::vector<std::vector<int>>{{3}});
  CHECK(ledger.Free()[0].free_gpus == 0);
  REQUIRE(ledger.Place(Needs(1), {}, &d));  // a CPU-only job still fits
  CHECK(d.gpus == std::vector<std::vector<int>>{{}});

  ledger.Release(b);
  CHECK(ledger.Free()[0].free_gpus == 2);
  REQUIRE(ledger.Place(Needs(1, 0, 1), {}, &b));
  CHECK(b.gpus == std::vector<std::vector<int>>{{1}});
}

TEST_CASE("whole-node reservation for multi-node jobs") {
  NodeLedger ledger(Uniform(4, 4, 4000, {0, 1}));
  Placement big;
  REQUIRE(ledger.Place(Needs(2, 0, 1, 2), {}, &big));
  CHECK(big.whole_nodes);
  CHECK(big.nodes == std::vector<uint32_t>{0, 1});
  CHECK(big.cpus_per_node == 4);
  CHECK(big.memory_per_node == 4000);
  CHECK(big.gpus == std::vector<std::vector<int>>{{0, 1}, {0, 1}});
  auto free = ledger.Free();
  for (int n : {0, 1}) {
    CHECK(free[n].free_cpus == 0);
    CHECK(free[n].free_memory_bytes == 0);
    CHECK(free[n].free_gpus == 0);
    CHECK_FALSE(free[n].idle);
  }

  // Single-node jobs go only to the other two nodes, even when they prefer the held ones.
  std::vector<Placement> small;
  for (int i = 0; i < 8; ++i) {
    Placement p;
    REQUIRE(ledger.Place(Needs(1), {0, 1}, &p));
    CHECK(p.nodes[0] >= 2);
    small.push_back(p);
  }
  Placement p;
  CHECK_FALSE(ledger.Place(Needs(1), {}, &p));

  // A second 2-node job waits until two nodes are idle again.
  Placement big2;
  CHECK_FALSE(ledger.Place(Needs(1, 0, 0, 2), {}, &big2));
  for (int i = 0; i < 7; ++i) ledger.Release(small[i]);  // n3 idle, n4 still busy
  CHECK_FALSE(ledger.Place(Needs(1, 0, 0, 2), {}, &big2));
  ledger.Release(small[7]);
  REQUIRE(ledger.Place(Needs(1, 0, 0, 2), {}, &big2));
  CHECK(big2.nodes == std::vector<uint32_t>{2, 3});
  CHECK(big2.cpus_per_node == 4);  // whole nodes, whatever it asked for

  CHECK_FALSE(ledger.Place(Needs(1), {}, &p));
  ledger.Release(big);
  CHECK(ledger.Free()[0].idle);
  CHECK(ledger.Free()[0].free_gpus == 2);
  REQUIRE(ledger.Place(Needs(1), {}, &p));
  CHECK(p.nodes == std::vector<uint32_t>{0});
}

TEST_CASE("preferred nodes are honored when they fit") {
  NodeLedger ledger(Uniform(4, 4, 4 * kGB));
  Placement p;
  REQUIRE(ledger.Place(Needs(2), {2}, &p));
  CHECK(p.nodes == std::vector<uint32_t>{2});
  REQUIRE(ledger.Place(Needs(2), {3, 2}, &p));
  CHECK(p.nodes == std::vector<uint32_t>{3});

  Placement fill;
  REQUIRE(ledger.Place(Needs(2), {2}, &fill));  // n3 now full
  REQUIRE(ledger.Place(Needs(1), {2, 3}, &p));
  CHECK(p.nodes == std::vector<uint32_t>{3});  // first preferred that fits
  REQUIRE(ledger.Place(Needs(4), {2, 3}, &p));
  CHECK(p.nodes == std::vector<uint32_t>{0});    // no preferred fits: first fit
  REQUIRE(ledger.Place(Needs(1), {99, 1}, &p));  // unknown indices are skipped
  CHECK(p.nodes == std::vector<uint32_t>{1});

  SUBCASE("multi-node jobs prefer too") {
    NodeLedger l(Uniform(4, 4, 4 * kGB));
    Placement m;
    REQUIRE(l.Place(Needs(1, 0, 0, 2), {3, 1}, &m));
    CHECK(m.nodes == std::vector<uint32_t>{3, 1});
    REQUIRE(l.Place(Needs(1, 0, 0, 2), {3}, &m));
    CHECK(m.nodes == std::vector<uint32_t>{0, 2});
  }
}

TEST_CASE("Release restores Free() exactly") {
  NodeLedger ledger(
      {Node("a", 8, 10 * kGB, {0, 1, 2}), Node("b", 6, 7 * kGB + 3, {5}), Node("c", 2, 1000)});
  const auto initial = ledger.Free();
  CHECK(ledger.AllIdle());
  for (const auto& f : initial) CHECK(f.idle);
  CHECK(initial[1].free_memory_bytes == 7 * kGB + 3);
  CHECK(initial[1].total_memory_bytes == 7 * kGB + 3);
  CHECK(initial[0].free_gpus == 3);
  CHECK(initial[2].total_cpus == 2);

  Placement a, b, c;
  REQUIRE(ledger.Place(Needs(3, 0, 2), {}, &a));
  const auto after_a = ledger.Free();
  REQUIRE(ledger.Place(Needs(5, 1), {1}, &b));
  REQUIRE(ledger.Place(Needs(1), {2}, &c));
  CHECK_FALSE(ledger.AllIdle());
  CHECK(ledger.Free()[1].free_memory_bytes == 7 * kGB + 2);

  Placement whole;
  CHECK_FALSE(ledger.Place(Needs(1, 0, 0, 2), {}, &whole));  // no two idle nodes
  ledger.Release(c);
  ledger.Release(b);
  CHECK(SameFree(ledger.Free(), after_a));
  REQUIRE(ledger.Place(Needs(1, 0, 0, 2), {}, &whole));
  CHECK(whole.nodes == std::vector<uint32_t>{1, 2});
  CHECK(whole.cpus_per_node == 6);  // the first node's totals
  ledger.Release(whole);
  CHECK(SameFree(ledger.Free(), after_a));  // each node back to its own totals
  ledger.Release(a);
  CHECK(SameFree(ledger.Free(), initial));
  CHECK(ledger.AllIdle());
}

TEST_CASE("CanEverFit") {
  NodeLedger ledger({Node("a", 8, 16 * kGB, {0, 1}), Node("b", 4, 4 * kGB), Node("c", 4, 4 * kGB)});
  CHECK(ledger.CanEverFit(Needs(8)));
  CHECK(ledger.CanEverFit(Needs(8, 16 * kGB, 2)));
  CHECK_FALSE(ledger.CanEverFit(Needs(9)));
  CHECK_FALSE(ledger.CanEverFit(Needs(1, 16 * kGB + 1)));
  CHECK_FALSE(ledger.CanEverFit(Needs(1, 0, 3)));
  CHECK(ledger.CanEverFit(Needs(4, 0, 0, 3)));
  CHECK_FALSE(ledger.CanEverFit(Needs(1, 0, 0, 4)));  // more nodes than there are
  CHECK_FALSE(ledger.CanEverFit(Needs(5, 0, 0, 2)));  // only one node has 5 CPUs
  CHECK_FALSE(ledger.CanEverFit(Needs(1, 0, 1, 2)));  // only one node has a GPU
  CHECK_FALSE(ledger.CanEverFit(Needs(1, 8 * kGB, 0, 2)));
  CHECK_FALSE(ledger.CanEverFit(Needs(0)));
  CHECK_FALSE(ledger.CanEverFit(Needs(1, -1)));
  CHECK_FALSE(ledger.CanEverFit(Needs(1, 0, 0, 0)));

  // What can never fit is never placed, even on an idle ledger.
  Placement p;
  CHECK_FALSE(ledger.Place(Needs(9), {}, &p));
  CHECK_FALSE(ledger.Place(Needs(1, 0, 0, 4), {}, &p));
  CHECK_FALSE(ledger.Place(Needs(0), {}, &p));
  CHECK(ledger.AllIdle());
}

namespace {

/// Independent bookkeeping: what every live placement holds, recomputed from scratch.
struct Model {
  std::vector<NodeInfo> nodes;
  struct Live {
    JobNeeds needs;
    Placement placement;
  };
  std::vector<Live> live;

  struct Use {
    int64_t cpus = 0, memory = 0;
    std::multiset<int> gpus;
    int holders = 0;
    bool whole = false;
  };
  std::vector<Use> Usage() const {
    std::vector<Use> use(nodes.size());
    for (const auto& l : live) {
      for (size_t i = 0; i < l.placement.nodes.size(); ++i) {
        Use& u = use[l.placement.nodes[i]];
        const NodeInfo& node = nodes[l.placement.nodes[i]];
        u.cpus += l.placement.whole_nodes ? node.cpus : l.placement.cpus_per_node;
        u.memory += l.placement.whole_nodes ? node.memory_bytes : l.placement.memory_per_node;
        u.gpus.insert(l.placement.gpus[i].begin(), l.placement.gpus[i].end());
        ++u.holders;
        u.whole = u.whole || l.placement.whole_nodes;
      }
    }
    return use;
  }
  int64_t MemoryFor(const JobNeeds& j, size_t n) const {
    return j.memory_bytes > 0 ? j.memory_bytes : nodes[n].memory_bytes / nodes[n].cpus * j.cpus;
  }
  bool Fits(const JobNeeds& j, size_t n, const Use& u) const {
    if (j.nodes > 1 && u.holders > 0) return false;
    if (u.whole) return false;
    return nodes[n].cpus - u.cpus >= j.cpus &&
           nodes[n].memory_bytes - u.memory >= MemoryFor(j, n) &&
           static_cast<int64_t>(nodes[n].gpus.size() - u.gpus.size()) >= j.gpus;
  }
  /// Where the ledger should place j: preferred first, then in order.
  std::vector<uint32_t> Expected(const JobNeeds& j, const std::vector<uint32_t>& preferred) const {
    auto use = Usage();
    std::vector<uint32_t> order, chosen;
    for (uint32_t n : preferred)
      if (n < nodes.size() && std::find(order.begin(), order.end(), n) == order.end())
        order.push_back(n);
    for (uint32_t n = 0; n < nodes.size(); ++n)
      if (std::find(order.begin(), order.end(), n) == order.end()) order.push_back(n);
    for (uint32_t n : order)
      if (static_cast<int64_t>(chosen.size()) < j.nodes && Fits(j, n, use[n])) chosen.push_back(n);
    if (static_cast<int64_t>(chosen.size()) < j.nodes) chosen.clear();
    return chosen;
  }
};

void CheckInvariants(const NodeLedger& ledger, const Model& model) {
  auto use = model.Usage();
  auto free = ledger.Free();
  REQUIRE(free.size() == model.nodes.size());
  for (size_t n = 0; n < model.nodes.size(); ++n) {
    const NodeInfo& node = model.nodes[n];
    const Model::Use& u = use[n];
    REQUIRE(u.cpus <= node.cpus);
    REQUIRE(u.memory <= node.memory_bytes);
    REQUIRE(u.gpus.size() <= node.gpus.size());
    // Concurrent holders never share a GPU index, and only hold the node's own.
    std::set<int> distinct(u.gpus.begin(), u.gpus.end());
    REQUIRE(distinct.size() == u.gpus.size());
    for (int g : distinct)
      REQUIRE(std::find(node.gpus.begin(), node.gpus.end(), g) != node.gpus.end());
    if (u.whole) REQUIRE(u.holders == 1);
    REQUIRE(free[n].free_cpus == node.cpus - u.cpus);
    REQUIRE(free[n].free_memory_bytes == node.memory_bytes - u.memory);
    REQUIRE(free[n].free_gpus == static_cast<int64_t>(node.gpus.size() - u.gpus.size()));
    REQUIRE(free[n].total_cpus == node.cpus);
    REQUIRE(free[n].total_memory_bytes == node.memory_bytes);
    REQUIRE(free[n].idle == (u.holders == 0));
  }
  REQUIRE(ledger.AllIdle() == model.live.empty());
}

}  // namespace

TEST_CASE("randomized: placing and releasing never oversubscribes a node") {
  std::mt19937 rng(20240611);
  auto uniform = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  for (int round = 0; round < 4; ++round) {
    Model model;
    model.nodes = {Node("a", 8, 32 * kGB, {0, 1, 2, 3}), Node("b", 4, 16 * kGB + 5, {7, 2}),
                   Node("c", 16, 8 * kGB), Node("d", 8, 32 * kGB, {0, 1, 2, 3}),
                   Node("e", 3, 1000, {0})};
    NodeLedger ledger(model.nodes);
    const auto initial = ledger.Free();
    int placed = 0, refused = 0, whole = 0;
    for (int step = 0; step < 3000; ++step) {
      bool place = model.live.empty() || uniform(0, 99) < 55;
      if (place) {
        JobNeeds j;
        j.nodes = uniform(0, 9) == 0 ? uniform(2, 3) : 1;
        j.cpus = uniform(1, 6);
        j.memory_bytes = uniform(0, 2) == 0 ? 0 : uniform(1, 6 * kGB);
        j.gpus = uniform(0, 3) == 0 ? uniform(1, 2) : 0;
        std::vector<uint32_t> preferred;
        for (int k = uniform(0, 2); k > 0; --k)
          preferred.push_back(static_cast<uint32_t>(uniform(0, 5)));
        auto expected = model.Expected(j, preferred);
        Placement p;
        bool ok = ledger.Place(j, preferred, &p);
        REQUIRE(ok == !expected.empty());
        if (ok) {
          REQUIRE(p.nodes == expected);
          REQUIRE(p.gpus.size() == p.nodes.size());
          REQUIRE(p.whole_nodes == (j.nodes > 1));
          if (!p.whole_nodes) {
            REQUIRE(p.cpus_per_node == j.cpus);
            REQUIRE(p.memory_per_node == ledger.MemoryFor(j, p.nodes[0]));
            REQUIRE(static_cast<int64_t>(p.gpus[0].size()) == j.gpus);
          } else {
            ++whole;
            for (size_t i = 0; i < p.nodes.size(); ++i)
              REQUIRE(p.gpus[i].size() == model.nodes[p.nodes[i]].gpus.size());
          }
          model.live.push_back({j, p});
          ++placed;
        } else {
          ++refused;
          REQUIRE(p.nodes.empty());
        }
      } else {
        size_t k = static_cast<size_t>(uniform(0, static_cast<int64_t>(model.live.size()) - 1));
        ledger.Release(model.live[k].placement);
        model.live.erase(model.live.begin() + static_cast<std::ptrdiff_t>(k));
      }
      CheckInvariants(ledger, model);
    }
    while (!model.live.empty()) {
      ledger.Release(model.live.back().placement);
      model.live.pop_back();
      CheckInvariants(ledger, model);
    }
    CHECK(SameFree(ledger.Free(), initial));
    CHECK(placed > 500);
    CHECK(refused > 50);
    CHECK(whole > 5);
  }
}

TEST_CASE("what the server's claim picks for a worker's free capacity, the ledger places there") {
  // One placement rule (server/protocol/placement.h) on both sides: the server picks jobs for
  // the capacity a worker reports (ReadyQueue::Take), the worker places them (NodeLedger::Place)
  // on the nodes the server suggested. They must agree, or jobs are handed out that cannot
  // start, or a worker idles while the server thinks it is full.
  std::mt19937 rng(7);
  auto uniform = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  std::vector<NodeInfo> nodes = {Node("a", 8, 32 * kGB, {0, 1, 2, 3}), Node("b", 4, 16 * kGB),
                                 Node("c", 16, 8 * kGB, {0}), Node("d", 8, 32 * kGB, {0, 1})};
  NodeLedger ledger(nodes);
  std::vector<Placement> live;
  int picked = 0, whole = 0;
  for (int round = 0; round < 300; ++round) {
    torc::server::ReadyQueue queue;
    std::vector<torc::server::JobShape> shapes;
    for (uint32_t job = 0; job < 20; ++job) {
      torc::server::JobShape s;
      s.nodes = uniform(0, 9) == 0 ? 2 : 1;
      s.cpus = uniform(1, 6);
      s.memory_bytes = uniform(0, 2) == 0 ? 0 : uniform(1, 6 * kGB);
      s.gpus = uniform(0, 3) == 0 ? uniform(1, 2) : 0;
      shapes.push_back(s);
      queue.Push(job, 0, s);
    }
    torc::server::ClaimFilter filter;
    filter.max_jobs = static_cast<uint32_t>(uniform(1, 20));
    filter.nodes = ledger.Free();
    for (const auto& pick : queue.Take(filter, [](uint32_t, uint32_t) { return true; })) {
      const JobNeeds needs = shapes[pick.job].Needs();
      Placement p;
      REQUIRE(ledger.Place(needs, pick.nodes, &p));
      CHECK(p.nodes == pick.nodes);
      live.push_back(p);
      ++picked;
      whole += needs.nodes > 1;
    }
    // Nothing the claim left behind fits now: the worker is as full as the server thinks.
    filter.nodes = ledger.Free();
    for (const auto& s : shapes) {
      auto free = ledger.Free();
      std::vector<uint32_t> chosen;
      if (torc::protocol::PlaceOnNodes(s.Needs(), {}, &free, &chosen)) {
        Placement p;
        CHECK(ledger.Place(s.Needs(), {}, &p));
        CHECK(p.nodes == chosen);
        ledger.Release(p);
      }
    }
    // Now and then everything ends (so that whole-node jobs find idle nodes).
    const bool drain = round % 4 == 3;
    while (!live.empty() && (drain || uniform(0, 2) != 0)) {
      size_t k = static_cast<size_t>(uniform(0, static_cast<int64_t>(live.size()) - 1));
      ledger.Release(live[k]);
      live.erase(live.begin() + static_cast<std::ptrdiff_t>(k));
    }
  }
  CHECK(picked > 300);
  CHECK(whole > 3);
}

TEST_CASE("a lost node: nothing more is placed there, it offers nothing, its jobs still release") {
  NodeLedger ledger(Uniform(3, 4, 4 * kGB, {0}));
  Placement on_b, whole;
  REQUIRE(ledger.Place(Needs(2, 0, 1), {1}, &on_b));
  REQUIRE(on_b.nodes == std::vector<uint32_t>{1});
  CHECK_FALSE(ledger.any_lost());
  CHECK(ledger.MarkLost(1));
  CHECK_FALSE(ledger.MarkLost(1));  // once
  CHECK(ledger.lost(1));
  CHECK(ledger.any_lost());
  const auto free = ledger.Free();
  CHECK((free[1].free_cpus == 0 && free[1].total_cpus == 0 && free[1].free_gpus == 0 &&
         free[1].free_memory_bytes == 0 && !free[1].idle));
  ledger.Release(on_b);  // what ran there gives nothing back
  CHECK(ledger.Free()[1].free_cpus == 0);
  CHECK(ledger.AllIdle());
  // Single-node jobs go elsewhere, whatever the preference; whole-node jobs fit the rest only.
  for (int i = 0; i < 8; ++i) {
    Placement p;
    REQUIRE(ledger.Place(Needs(1), {1}, &p));
    CHECK(p.nodes[0] != 1);
  }
  Placement more;
  CHECK_FALSE(ledger.Place(Needs(1), {}, &more));
  CHECK(ledger.CanEverFit(Needs(4, 0, 0, 2)));
  CHECK_FALSE(ledger.CanEverFit(Needs(4, 0, 0, 3)));
  NodeLedger fresh(Uniform(3, 4, 4 * kGB));
  fresh.MarkLost(0);
  REQUIRE(fresh.Place(Needs(1, 0, 0, 2), {}, &whole));
  CHECK(whole.nodes == std::vector<uint32_t>{1, 2});
}
