// Allocation discovery: Slurm hostlists, count lists, squeue times, and
// DiscoverAllocation driven through a fake environment (no Slurm needed).
#include "worker/allocation.h"

#include <doctest/doctest.h>

#include <cstdlib>
#include <ctime>
#include <map>
#include <optional>
#include <string>
#include <vector>

using namespace torc::worker;

namespace {

constexpr int64_t kMB = 1024 * 1024;

std::vector<std::string> Hosts(std::string_view expr) {
  std::vector<std::string> hosts;
  std::string error;
  bool ok = ExpandHostlist(expr, &hosts, &error);
  REQUIRE_MESSAGE(ok, expr << ": " << error);
  return hosts;
}

std::string HostlistError(std::string_view expr) {
  std::vector<std::string> hosts;
  std::string error;
  bool ok = ExpandHostlist(expr, &hosts, &error);
  CHECK_MESSAGE(!ok, expr << " should be rejected");
  CHECK(hosts.empty());
  CHECK(!error.empty());
  return error;
}

std::vector<int64_t> Counts(std::string_view text) {
  std::vector<int64_t> counts;
  std::string error;
  bool ok = ExpandCountList(text, &counts, &error);
  REQUIRE_MESSAGE(ok, text << ": " << error);
  return counts;
}

/// Sets TZ for one scope so that local-time parsing has a known answer.
struct ScopedTimeZone {
  explicit ScopedTimeZone(const char* tz) {
    if (const char* old = std::getenv("TZ")) saved = old;
    setenv("TZ", tz, 1);
    tzset();
  }
  ~ScopedTimeZone() {
    if (saved)
      setenv("TZ", saved->c_str(), 1);
    else
      unsetenv("TZ");
    tzset();
  }
  std::optional<std::string> saved;
};

/// A scripted environment: variables from a map, squeue answers from a string,
/// and a record of every command run.
struct FakeEnv {
  std::map<std::string, std::string> vars;
  std::vector<std::vector<std::string>> runs;
  int squeue_exit = 0;
  std::string squeue_output = "N/A\n";
  int64_t cpus = 8;
  int64_t memory = 16000 * kMB;
  std::string host = "laptop";

  DiscoveryEnv Env() {
    DiscoveryEnv env;
    env.getenv = [this](const char* name) -> const char* {
      auto it = vars.find(name);
      return it == vars.end() ? nullptr : it->second.c_str();
    };
    env.run = [this](const std::vector<std::string>& argv, std::string* out) {
      runs.push_back(argv);
      *out = squeue_output;
      return squeue_exit;
    };
    env.machine_cpus = [this] { return cpus; };
    env.machine_memory_bytes = [this] { return memory; };
    env.hostname = [this] { return host; };
    return env;
  }

  Allocation Discover(const DiscoveryOptions& options = {}, double now = 1000) {
    Allocation a;
    std::string error;
    bool ok = DiscoverAllocation(Env(), options, now, &a, &error);
    REQUIRE_MESSAGE(ok, error);
    return a;
  }

  std::string DiscoverError(const DiscoveryOptions& options = {}) {
    Allocation a;
    std::string error;
    CHECK_FALSE(DiscoverAllocation(Env(), options, 1000, &a, &error));
    CHECK(!error.empty());
    return error;
  }
};

/// A 4-node allocation n[1-4], 4 CPUs and 4000 MB per node.
FakeEnv FourNodes() {
  FakeEnv f;
  f.vars = {{"SLURM_JOB_ID", "77"},
            {"SLURM_JOB_NODELIST", "n[1-4]"},
            {"SLURM_JOB_CPUS_PER_NODE", "4(x4)"},
            {"SLURM_MEM_PER_NODE", "4000"}};
  f.squeue_output = "2026-11-22T05:00:00 2026-11-22T05:10:00\n";
  return f;
}

std::vector<std::string> Names(const Allocation& a) {
  std::vector<std::string> names;
  for (const auto& n : a.nodes) names.push_back(n.name);
  return names;
}

}  // namespace

TEST_CASE("ExpandHostlist expands Slurm hostlists") {
  using V = std::vector<std::string>;
  CHECK(Hosts("n1") == V{"n1"});
  CHECK(Hosts("login1,login2") == V{"login1", "login2"});
  CHECK(Hosts("n[1-4]") == V{"n1", "n2", "n3", "n4"});
  CHECK(Hosts("n[01-03]") == V{"n01", "n02", "n03"});
  CHECK(Hosts("n[08-10]") == V{"n08", "n09", "n10"});
  CHECK(Hosts("n[8-10]") == V{"n8", "n9", "n10"});
  CHECK(Hosts("n[1,3-4]") == V{"n1", "n3", "n4"});
  CHECK(Hosts("n[5]") == V{"n5"});
  CHECK(Hosts("r[1-2]n[1-2]") == V{"r1n1", "r1n2", "r2n1", "r2n2"});
  CHECK(Hosts("gpu[01-02,05],login1") == V{"gpu01", "gpu02", "gpu05", "login1"});
  CHECK(Hosts("a[1-2]b[3-4]") == V{"a1b3", "a1b4", "a2b3", "a2b4"});
  CHECK(Hosts("[1-2]x") == V{"1x", "2x"});
  CHECK(Hosts("n[1-2]-ib,m3") == V{"n1-ib", "n2-ib", "m3"});
  CHECK(Hosts("node-[1-2].cluster") == V{"node-1.cluster", "node-2.cluster"});
  CHECK(Hosts("n[1-2]\n") == V{"n1", "n2"});  // trailing whitespace from an environment file
  CHECK(Hosts("n[1-100000]").size() == 100000);
  CHECK(Hosts("a[1-100]b[1-1000]").size() == 100000);
}

TEST_CASE("ExpandHostlist rejects malformed hostlists") {
  CHECK(HostlistError("n[1-") == "unbalanced '['");
  CHECK(HostlistError("n[1-2") == "unbalanced '['");
  CHECK(HostlistError("n1-2]") == "unbalanced ']'");
  CHECK(HostlistError("n[1[2]]") == "unbalanced '['");
  CHECK(HostlistError("n[3-1]").find("reversed range '3-1'") != std::string::npos);
  CHECK(HostlistError("") == "empty hostlist");
  CHECK(HostlistError("n1,,n2") == "empty item");
  CHECK(HostlistError(",n1") == "empty item");
  CHECK(HostlistError("n1,") == "empty item");
  CHECK(HostlistError("n[]") == "empty brackets '[]'");
  CHECK(HostlistError("n[1,]").find("empty item") != std::string::npos);
  CHECK(HostlistError("n[a-b]").find("not a number") != std::string::npos);
  CHECK(HostlistError("n[1-2-3]").find("not a number") != std::string::npos);
  CHECK(HostlistError("n[-3]").find("not a number") != std::string::npos);
  CHECK(HostlistError("n[1-100001]").find("more than 100000") != std::string::npos);
  CHECK(HostlistError("a[1-1000]b[1-1000]").find("more than 100000") != std::string::npos);
  CHECK(HostlistError("n[1-99999],m[1-2]").find("more than 100000") != std::string::npos);
  CHECK(HostlistError("n[0-999999999999999999]").find("more than 100000") != std::string::npos);
}

TEST_CASE("ExpandCountList expands per-node counts") {
  using V = std::vector<int64_t>;
  CHECK(Counts("36") == V{36});
  CHECK(Counts("4(x2),2") == V{4, 4, 2});
  CHECK(Counts("4(x4)") == V{4, 4, 4, 4});
  CHECK(Counts("2,8(x2),1") == V{2, 8, 8, 1});
  CHECK(Counts("0") == V{0});

  for (const char* bad : {"", "x", "4,", ",4", "4(x)", "4(x0)", "4(2)", "4(x2", "4x2", "-1",
                          "4(x2)5", "4 (x2)", "4(x99999999999)"}) {
    std::vector<int64_t> counts;
    std::string error;
    CHECK_MESSAGE(!ExpandCountList(bad, &counts, &error), bad);
    CHECK(!error.empty());
    CHECK(counts.empty());
  }
}

TEST_CASE("ParseSlurmTime reads squeue's local time") {
  {
    ScopedTimeZone utc("UTC");
    CHECK(ParseSlurmTime("2026-11-22T05:10:00") == 1795324200.0);
    CHECK(ParseSlurmTime("2026-11-22T05:10:00\n") == 1795324200.0);
  }
  {
    // Local time: in UTC+2 (POSIX sign convention) the same wall time is 2 h earlier.
    ScopedTimeZone east("XYZ-2");
    CHECK(ParseSlurmTime("2026-11-22T05:10:00") == 1795324200.0 - 7200);
  }
  auto a = ParseSlurmTime("2026-06-01T10:00:00");
  auto b = ParseSlurmTime("2026-06-01T11:30:05");
  REQUIRE(a);
  REQUIRE(b);
  CHECK(*b - *a == 5405);

  for (const char* none : {"N/A", "UNLIMITED", "NONE", "", "  \n"})
    CHECK_MESSAGE(!ParseSlurmTime(none), none);
  for (const char* garbage : {"garbage", "2026-11-22", "2026-11-22 05:10:00", "2026-13-01T00:00:00",
                              "2026-02-31T00:00:00", "2026-11-22T25:00:00", "2026-11-22T05:10:0x",
                              "2026-11-22T05:10:00Z", "Unknown"})
    CHECK_MESSAGE(!ParseSlurmTime(garbage), garbage);
}

TEST_CASE("DiscoverAllocation: a 4-node Slurm allocation") {
  FakeEnv f = FourNodes();
  Allocation a = f.Discover();
  CHECK(a.in_slurm);
  CHECK(a.slurm_job_id == "77");
  CHECK(Names(a) == std::vector<std::string>{"n1", "n2", "n3", "n4"});
  for (const auto& n : a.nodes) {
    CHECK(n.cpus == 4);
    CHECK(n.memory_bytes == 4000 * kMB);
    CHECK(n.gpus.empty());
  }
  REQUIRE(a.end_time);
  CHECK(*a.end_time == *ParseSlurmTime("2026-11-22T05:10:00"));
  REQUIRE(a.start_time);
  CHECK(*a.start_time == *ParseSlurmTime("2026-11-22T05:00:00"));
  REQUIRE(f.runs.size() == 1);
  CHECK(f.runs[0] == std::vector<std::string>{"squeue", "-h", "-j", "77", "-o", "%S %e"});

  SUBCASE("the squeue path comes from the options") {
    f.runs.clear();
    DiscoveryOptions o;
    o.squeue = "/opt/slurm/bin/squeue";
    f.Discover(o);
    REQUIRE(f.runs.size() == 1);
    CHECK(f.runs[0][0] == "/opt/slurm/bin/squeue");
  }
}

TEST_CASE("DiscoverAllocation: heterogeneous CPUs and SLURM_NODELIST fallback") {
  FakeEnv f;
  f.vars = {
      {"SLURM_JOB_ID", "5"}, {"SLURM_NODELIST", "a[1-3]"}, {"SLURM_JOB_CPUS_PER_NODE", "8(x2),2"}};
  Allocation a = f.Discover();
  REQUIRE(a.nodes.size() == 3);
  CHECK(a.nodes[0].cpus == 8);
  CHECK(a.nodes[1].cpus == 8);
  CHECK(a.nodes[2].cpus == 2);
  CHECK(a.nodes[2].memory_bytes == f.memory);  // no Slurm memory: the machine's
  CHECK(!a.end_time);                          // squeue said N/A
}

TEST_CASE("DiscoverAllocation: CPUs when the per-node list does not match") {
  FakeEnv f = FourNodes();
  f.vars["SLURM_JOB_CPUS_PER_NODE"] = "4(x2)";  // 2 counts for 4 nodes
  SUBCASE("SLURM_CPUS_ON_NODE") {
    f.vars["SLURM_CPUS_ON_NODE"] = "6";
    for (const auto& n : f.Discover().nodes) CHECK(n.cpus == 6);
  }
  SUBCASE("the machine") {
    for (const auto& n : f.Discover().nodes) CHECK(n.cpus == f.cpus);
  }
  SUBCASE("absent list") {
    f.vars.erase("SLURM_JOB_CPUS_PER_NODE");
    f.vars["SLURM_CPUS_ON_NODE"] = "3";
    for (const auto& n : f.Discover().nodes) CHECK(n.cpus == 3);
  }
}

TEST_CASE("DiscoverAllocation: this_node_only") {
  FakeEnv f = FourNodes();
  f.vars["SLURM_JOB_CPUS_PER_NODE"] = "1,2,3,4";
  DiscoveryOptions o;
  o.this_node_only = true;
  SUBCASE("SLURMD_NODENAME picks the node") {
    f.vars["SLURMD_NODENAME"] = "n3";
    Allocation a = f.Discover(o);
    REQUIRE(a.nodes.size() == 1);
    CHECK(a.nodes[0].name == "n3");
    CHECK(a.nodes[0].cpus == 3);
    CHECK(a.nodes[0].memory_bytes == 4000 * kMB);
    CHECK(a.end_time);
    CHECK(f.runs.size() == 1);
  }
  SUBCASE("without SLURMD_NODENAME: the first node") {
    Allocation a = f.Discover(o);
    REQUIRE(a.nodes.size() == 1);
    CHECK(a.nodes[0].name == "n1");
    CHECK(a.nodes[0].cpus == 1);
  }
  SUBCASE("a node not in the list is an error") {
    f.vars["SLURMD_NODENAME"] = "n9";
    std::string error = f.DiscoverError(o);
    CHECK(error.find("SLURMD_NODENAME='n9'") != std::string::npos);
    CHECK(error.find("n[1-4]") != std::string::npos);
  }
}

TEST_CASE("DiscoverAllocation: SLURM_MEM_PER_CPU") {
  FakeEnv f = FourNodes();
  f.vars.erase("SLURM_MEM_PER_NODE");
  f.vars["SLURM_JOB_CPUS_PER_NODE"] = "4(x3),2";
  f.vars["SLURM_MEM_PER_CPU"] = "1000";
  Allocation a = f.Discover();
  CHECK(a.nodes[0].memory_bytes == 4000 * kMB);
  CHECK(a.nodes[3].memory_bytes == 2000 * kMB);

  SUBCASE("SLURM_MEM_PER_NODE wins") {
    f.vars["SLURM_MEM_PER_NODE"] = "3000";
    CHECK(f.Discover().nodes[3].memory_bytes == 3000 * kMB);
  }
  SUBCASE("SLURM_MEM_PER_NODE=0 means the whole node") {
    f.vars["SLURM_MEM_PER_NODE"] = "0";
    CHECK(f.Discover().nodes[3].memory_bytes == f.memory);
  }
}

TEST_CASE("DiscoverAllocation: --mem=0 (no SLURM_MEM_*): one scontrol call gives memory and end") {
  FakeEnv f = FourNodes();
  f.vars.erase("SLURM_MEM_PER_NODE");
  // What Slurm 22.05 prints for `sbatch --nodes=4 --exclusive --mem=0 --time=10` (abridged).
  f.squeue_output =
      "JobId=77 JobName=torc_1_s UserId=root(0) JobState=RUNNING TimeLimit=00:10:00 "
      "StartTime=2026-11-22T05:00:00 EndTime=2026-11-22T05:10:00 Deadline=N/A "
      "NodeList=n[1-4] NumNodes=4 NumCPUs=16 TRES=cpu=16,mem=16000M,node=4,billing=16 "
      "MinMemoryNode=0\n";
  Allocation a = f.Discover();
  REQUIRE(f.runs.size() == 1);
  CHECK(f.runs[0] == std::vector<std::string>{"scontrol", "show", "job", "-o", "77"});
  for (const auto& n : a.nodes) CHECK(n.memory_bytes == 4000 * kMB);
  REQUIRE(a.end_time);
  CHECK(*a.end_time == *ParseSlurmTime("2026-11-22T05:10:00"));
  REQUIRE(a.start_time);
  CHECK(*a.start_time == *ParseSlurmTime("2026-11-22T05:00:00"));

  SUBCASE("no time limit: EndTime=Unknown") {
    f.squeue_output = "JobId=77 TimeLimit=UNLIMITED EndTime=Unknown TRES=cpu=8,mem=2G,node=2\n";
    f.runs.clear();
    Allocation b = f.Discover();
    CHECK(f.runs.size() == 1);
    CHECK(!b.end_time);
    CHECK(b.nodes[0].memory_bytes == 1024 * kMB);
  }
  SUBCASE("scontrol fails: the machine's memory, and squeue is asked for the end") {
    f.squeue_exit = 1;
    f.squeue_output = "slurm_load_jobs error: Invalid job id specified\n";
    f.runs.clear();
    Allocation b = f.Discover();
    REQUIRE(f.runs.size() == 2);
    CHECK(f.runs[1] == std::vector<std::string>{"squeue", "-h", "-j", "77", "-o", "%S %e"});
    CHECK(!b.end_time);
    CHECK(b.nodes[0].memory_bytes == f.memory);
  }
  SUBCASE("the batch script read it for all workers (TORC_SLURM_JOB): no call of its own") {
    f.vars["TORC_SLURM_JOB"] =
        "JobId=77 JobName=torc_1_s StartTime=2026-11-22T05:00:00 EndTime=2026-11-22T05:20:00 "
        "TRES=cpu=16,mem=8000M,node=4";
    f.runs.clear();
    Allocation b = f.Discover();
    CHECK(f.runs.empty());
    REQUIRE(b.end_time);
    CHECK(*b.end_time == *ParseSlurmTime("2026-11-22T05:20:00"));
    CHECK(b.nodes[0].memory_bytes == 2000 * kMB);
  }
  SUBCASE("TORC_SLURM_JOB of another job (JobId=770), or empty: asked as before") {
    for (const char* other : {"JobId=770 EndTime=2026-11-22T05:20:00 TRES=cpu=1,mem=1M,node=1", ""}) {
      f.vars["TORC_SLURM_JOB"] = other;
      f.runs.clear();
      Allocation b = f.Discover();
      REQUIRE(f.runs.size() == 1);
      CHECK(f.runs[0] == std::vector<std::string>{"scontrol", "show", "job", "-o", "77"});
      CHECK(*b.end_time == *ParseSlurmTime("2026-11-22T05:10:00"));
    }
  }
  SUBCASE("newer Slurm: AllocTRES= (and ReqTRES=) instead of TRES=") {
    f.squeue_output = "JobId=77 EndTime=2026-11-22T05:10:00 ReqTRES=cpu=4,mem=1000M,node=1 "
                      "AllocTRES=cpu=16,mem=8000M,node=4\n";
    Allocation b = f.Discover();
    CHECK(b.nodes[0].memory_bytes == 2000 * kMB);
    CHECK(b.end_time);
  }
}

TEST_CASE("DiscoverAllocation: GPUs") {
  FakeEnv f = FourNodes();
  using V = std::vector<int>;
  SUBCASE("from SLURM_JOB_GPUS, on every node") {
    f.vars["SLURM_JOB_GPUS"] = "0,1";
    f.vars["CUDA_VISIBLE_DEVICES"] = "5";
    for (const auto& n : f.Discover().nodes) CHECK(n.gpus == V{0, 1});
  }
  SUBCASE("from CUDA_VISIBLE_DEVICES") {
    f.vars["CUDA_VISIBLE_DEVICES"] = "2,3";
    for (const auto& n : f.Discover().nodes) CHECK(n.gpus == V{2, 3});
  }
  SUBCASE("UUIDs are numbered 0..n-1") {
    f.vars["CUDA_VISIBLE_DEVICES"] = "GPU-8a3c1f2e-aaaa,GPU-77b0-bbbb,MIG-1234";
    for (const auto& n : f.Discover().nodes) CHECK(n.gpus == V{0, 1, 2});
  }
  SUBCASE("Slurm's NoDevFiles and CUDA's -1 mean none") {
    f.vars["CUDA_VISIBLE_DEVICES"] = "NoDevFiles";
    CHECK(f.Discover().nodes[0].gpus.empty());
    f.vars["CUDA_VISIBLE_DEVICES"] = "-1";
    CHECK(f.Discover().nodes[0].gpus.empty());
    f.vars["CUDA_VISIBLE_DEVICES"] = "1,-1,2";
    CHECK(f.Discover().nodes[0].gpus == V{1});
  }
  SUBCASE("none") {
    for (const auto& n : f.Discover().nodes) CHECK(n.gpus.empty());
  }
  SUBCASE("a malformed SLURM_JOB_GPUS is an error") {
    f.vars["SLURM_JOB_GPUS"] = "0,x";
    CHECK(f.DiscoverError().find("SLURM_JOB_GPUS='0,x'") != std::string::npos);
    f.vars["SLURM_JOB_GPUS"] = "1,1";
    CHECK(f.DiscoverError().find("SLURM_JOB_GPUS='1,1'") != std::string::npos);
  }
}

TEST_CASE("DiscoverAllocation: squeue failures leave no end time") {
  FakeEnv f = FourNodes();
  SUBCASE("non-zero exit") {
    f.squeue_exit = 1;
    f.squeue_output = "slurm_load_jobs error: Invalid job id specified\n";
  }
  SUBCASE("could not run") {
    f.squeue_exit = -1;
    f.squeue_output = "";
  }
  SUBCASE("UNLIMITED") { f.squeue_output = "2026-11-22T05:00:00 UNLIMITED\n"; }
  SUBCASE("N/A") { f.squeue_output = "N/A N/A\n"; }
  SUBCASE("garbage") { f.squeue_output = "what\n"; }
  Allocation a = f.Discover();
  CHECK(!a.end_time);
  CHECK(a.nodes.size() == 4);
  CHECK(f.runs.size() == 1);
}

TEST_CASE("DiscoverAllocation: time_limit override") {
  FakeEnv f = FourNodes();
  const double squeue_end = *ParseSlurmTime("2026-11-22T05:10:00");
  DiscoveryOptions o;
  SUBCASE("earlier than Slurm's end") {
    o.time_limit_seconds = 600;
    CHECK(*f.Discover(o, squeue_end - 3600).end_time == squeue_end - 3000);
  }
  SUBCASE("later than Slurm's end: Slurm's wins") {
    o.time_limit_seconds = 7200;
    CHECK(*f.Discover(o, squeue_end - 3600).end_time == squeue_end);
  }
  SUBCASE("no Slurm end") {
    f.squeue_output = "UNLIMITED\n";
    o.time_limit_seconds = 60;
    CHECK(*f.Discover(o, 5000).end_time == 5060);
  }
  SUBCASE("outside Slurm") {
    FakeEnv local;
    o.time_limit_seconds = 90.5;
    CHECK(*local.Discover(o, 100).end_time == 190.5);
    CHECK(local.runs.empty());
  }
  SUBCASE("negative is an error") {
    o.time_limit_seconds = -1;
    CHECK(f.DiscoverError(o).find("--time-limit") != std::string::npos);
  }
}

TEST_CASE("DiscoverAllocation: outside Slurm") {
  FakeEnv f;
  SUBCASE("the machine") {
    Allocation a = f.Discover();
    CHECK(!a.in_slurm);
    CHECK(a.slurm_job_id.empty());
    REQUIRE(a.nodes.size() == 1);
    CHECK(a.nodes[0].name == "laptop");
    CHECK(a.nodes[0].cpus == 8);
    CHECK(a.nodes[0].memory_bytes == 16000 * kMB);
    CHECK(a.nodes[0].gpus.empty());
    CHECK(!a.end_time);
    CHECK(f.runs.empty());  // no squeue outside Slurm
  }
  SUBCASE("Slurm variables other than SLURM_JOB_ID are ignored") {
    f.vars = {{"SLURM_JOB_NODELIST", "n[1-"}, {"SLURM_JOB_GPUS", "0"}, {"SLURM_JOB_ID", ""}};
    Allocation a = f.Discover();
    CHECK(!a.in_slurm);
    CHECK(a.nodes[0].gpus.empty());
  }
  SUBCASE("GPUs from CUDA_VISIBLE_DEVICES") {
    f.vars["CUDA_VISIBLE_DEVICES"] = "1,3";
    CHECK(f.Discover().nodes[0].gpus == std::vector<int>{1, 3});
  }
  SUBCASE("overrides") {
    DiscoveryOptions o;
    o.cpus = 3;
    o.memory_bytes = 1234;
    o.gpus = 2;
    f.vars["CUDA_VISIBLE_DEVICES"] = "4,5,6";
    Allocation a = f.Discover(o);
    CHECK(a.nodes[0].cpus == 3);
    CHECK(a.nodes[0].memory_bytes == 1234);
    CHECK(a.nodes[0].gpus == std::vector<int>{0, 1});
  }
  SUBCASE("a machine without CPUs needs --cpus") {
    f.cpus = 0;
    CHECK(f.DiscoverError().find("--cpus") != std::string::npos);
    DiscoveryOptions o;
    o.cpus = 2;
    CHECK(f.Discover(o).nodes[0].cpus == 2);
  }
}

TEST_CASE("DiscoverAllocation: overrides apply to every Slurm node") {
  FakeEnv f = FourNodes();
  DiscoveryOptions o;
  o.cpus = 2;
  o.memory_bytes = 0;
  o.gpus = 3;
  Allocation a = f.Discover(o);
  REQUIRE(a.nodes.size() == 4);
  for (const auto& n : a.nodes) {
    CHECK(n.cpus == 2);
    CHECK(n.memory_bytes == 0);
    CHECK(n.gpus == std::vector<int>{0, 1, 2});
  }
  o.gpus = 0;
  CHECK(f.Discover(o).nodes[0].gpus.empty());
}

TEST_CASE("DiscoverAllocation: malformed values are errors naming the variable") {
  FakeEnv f = FourNodes();
  auto error_for = [&](const char* var, const char* value) {
    f.vars[var] = value;
    return f.DiscoverError();
  };
  CHECK(error_for("SLURM_JOB_NODELIST", "n[1-") ==
        "SLURM_JOB_NODELIST='n[1-' is not a valid hostlist: unbalanced '['");
  f = FourNodes();
  CHECK(error_for("SLURM_JOB_NODELIST", "n[4-1]").find("SLURM_JOB_NODELIST='n[4-1]'") == 0);
  f = FourNodes();
  f.vars.erase("SLURM_JOB_NODELIST");
  CHECK(error_for("SLURM_NODELIST", "n[1-2").find("SLURM_NODELIST='n[1-2'") == 0);
  f = FourNodes();
  CHECK(error_for("SLURM_JOB_CPUS_PER_NODE", "4(x").find("SLURM_JOB_CPUS_PER_NODE='4(x'") == 0);
  f = FourNodes();
  CHECK(error_for("SLURM_JOB_CPUS_PER_NODE", "0(x4)").find("SLURM_JOB_CPUS_PER_NODE='0(x4)'") == 0);
  f = FourNodes();
  f.vars.erase("SLURM_JOB_CPUS_PER_NODE");
  CHECK(error_for("SLURM_CPUS_ON_NODE", "four").find("SLURM_CPUS_ON_NODE='four'") == 0);
  f = FourNodes();
  f.vars.erase("SLURM_JOB_CPUS_PER_NODE");
  CHECK(error_for("SLURM_CPUS_ON_NODE", "0").find("SLURM_CPUS_ON_NODE='0'") == 0);
  f = FourNodes();
  CHECK(error_for("SLURM_MEM_PER_NODE", "4G").find("SLURM_MEM_PER_NODE='4G'") == 0);
  f = FourNodes();
  CHECK(error_for("SLURM_MEM_PER_NODE", "-5").find("SLURM_MEM_PER_NODE='-5'") == 0);
  f = FourNodes();
  CHECK(error_for("SLURM_MEM_PER_NODE", "999999999999999999").find("too large") !=
        std::string::npos);
  f = FourNodes();
  f.vars.erase("SLURM_MEM_PER_NODE");
  CHECK(error_for("SLURM_MEM_PER_CPU", "1.5").find("SLURM_MEM_PER_CPU='1.5'") == 0);

  f = FourNodes();
  f.vars.erase("SLURM_JOB_NODELIST");
  CHECK(f.DiscoverError().find("SLURM_JOB_NODELIST") != std::string::npos);

  // Bad options are reported before anything runs.
  f = FourNodes();
  DiscoveryOptions o;
  o.cpus = 0;
  CHECK(f.DiscoverError(o).find("--cpus") != std::string::npos);
  o = {};
  o.memory_bytes = -1;
  CHECK(f.DiscoverError(o).find("--memory") != std::string::npos);
  o = {};
  o.gpus = -2;
  CHECK(f.DiscoverError(o).find("--gpus") != std::string::npos);
  CHECK(f.runs.empty());
}

TEST_CASE("DiscoveryEnv::Real runs commands and reads the machine") {
  DiscoveryEnv env = DiscoveryEnv::Real();
  std::string out;
  CHECK(env.run({"sh", "-c", "echo hello; echo world"}, &out) == 0);
  CHECK(out == "hello\nworld\n");
  CHECK(env.run({"sh", "-c", "echo partial; exit 3"}, &out) == 3);
  CHECK(out == "partial\n");
  CHECK(env.run({"/nonexistent/squeue", "-h"}, &out) == -1);  // could not start
  CHECK(env.run({}, &out) != 0);
  CHECK(env.machine_cpus() >= 1);
  CHECK(env.machine_memory_bytes() > 0);
  CHECK(!env.hostname().empty());
  CHECK(env.getenv("TORC_SURELY_NOT_SET_ANYWHERE") == nullptr);
}

TEST_CASE("SlurmStopReason: one scontrol call tells preemption, the time limit, or neither") {
  FakeEnv f;
  DiscoveryOptions o;
  o.scontrol = "/opt/slurm/bin/scontrol";
  // Measured on the lab during GraceTime: the job still RUNNING, PreemptTime set.
  f.squeue_output =
      "JobId=77 JobName=x JobState=RUNNING Reason=None Dependency=(null) Restarts=0 "
      "PreemptEligibleTime=2026-12-06T18:24:17 PreemptTime=2026-12-06T18:24:21 Partition=low\n";
  CHECK(SlurmStopReason(f.Env(), o, "77") == "preempted");
  REQUIRE(f.runs.size() == 1);
  CHECK(f.runs[0] == std::vector<std::string>{"/opt/slurm/bin/scontrol", "show", "job", "-o", "77"});
  f.squeue_output = "JobId=77 JobState=PREEMPTED Reason=None PreemptTime=None\n";
  CHECK(SlurmStopReason(f.Env(), o, "77") == "preempted");
  f.squeue_output = "JobId=77 JobState=PENDING Reason=BeginTime Restarts=1 PreemptTime=None\n";
  CHECK(SlurmStopReason(f.Env(), o, "77") == "preempted");  // requeued by Slurm
  // PreemptMode=REQUEUE, as the batch shell sees it when signalled (measured on the lab).
  f.squeue_output = "JobId=77 JobState=COMPLETING Reason=None Restarts=1 PreemptTime=None\n";
  CHECK(SlurmStopReason(f.Env(), o, "77") == "preempted");
  f.vars["SLURM_RESTART_COUNT"] = "1";  // this run is the restarted one: not requeued again
  CHECK(SlurmStopReason(f.Env(), o, "77") == "");
  f.vars.erase("SLURM_RESTART_COUNT");
  f.squeue_output = "JobId=77 JobState=RUNNING Reason=TimeLimit PreemptTime=None\n";
  CHECK(SlurmStopReason(f.Env(), o, "77") == "walltime");
  f.squeue_output = "JobId=77 JobState=TIMEOUT Reason=None PreemptTime=None\n";
  CHECK(SlurmStopReason(f.Env(), o, "77") == "walltime");
  f.squeue_output = "JobId=77 JobState=CANCELLED Reason=None PreemptTime=None\n";  // scancel
  CHECK(SlurmStopReason(f.Env(), o, "77") == "");
  f.squeue_output = "JobId=77 JobState=RUNNING Reason=None PreemptTime=2026-12-06T18:24:21\n";
  f.squeue_exit = 1;  // scontrol failed: nothing is known
  CHECK(SlurmStopReason(f.Env(), o, "77") == "");
}

TEST_CASE("SlurmStepLimit: MaxStepCount from scontrol show config, the steps before from SLURM_STEP_ID") {
  FakeEnv f;
  DiscoveryOptions o;
  o.scontrol = "/opt/slurm/bin/scontrol";
  // As 22.05 prints it (measured on the lab with MaxStepCount=25).
  f.squeue_output =
      "Configuration data as of 2026-12-06T19:02:11\n"
      "MaxNodeCount            = N/A\n"
      "MaxStepCount            = 25\n"
      "MaxTasksPerNode         = 512\n";
  StepLimit limit = SlurmStepLimit(f.Env(), o);
  CHECK(limit.max_steps == 25);
  CHECK(limit.from_slurm);
  CHECK(limit.steps_before == 0);  // the batch script: no numbered step
  REQUIRE(f.runs.size() == 1);
  CHECK(f.runs[0] == std::vector<std::string>{"/opt/slurm/bin/scontrol", "show", "config"});

  f.vars["SLURM_STEP_ID"] = "3";  // a worker run in step 3: steps 0-3 are taken
  CHECK(SlurmStepLimit(f.Env(), o).steps_before == 4);
  f.vars["SLURM_STEP_ID"] = "4294967291";  // Slurm's batch step id, not a numbered step
  CHECK(SlurmStepLimit(f.Env(), o).steps_before == 0);
  f.vars["SLURM_STEP_ID"] = "batch";
  CHECK(SlurmStepLimit(f.Env(), o).steps_before == 0);

  // Not read: Slurm's default.
  f.squeue_output = "MaxStepCountX = 3\nMaxTasksPerNode = 512\n";
  limit = SlurmStepLimit(f.Env(), o);
  CHECK(limit.max_steps == 40000);
  CHECK_FALSE(limit.from_slurm);
  f.squeue_output = "MaxStepCount = many\n";
  CHECK(SlurmStepLimit(f.Env(), o).max_steps == 40000);
  f.squeue_output = "MaxStepCount = 25\n";
  f.squeue_exit = 1;
  CHECK(SlurmStepLimit(f.Env(), o).max_steps == 40000);
}

TEST_CASE("SLURM_RESTART_COUNT: how often Slurm requeued the allocation") {
  FakeEnv f;
  f.vars = {{"SLURM_JOB_ID", "12"}, {"SLURM_JOB_NODELIST", "n1"}, {"SLURM_CPUS_ON_NODE", "4"},
            {"SLURM_MEM_PER_NODE", "1000"}};
  CHECK(f.Discover().restart_count == 0);
  f.vars["SLURM_RESTART_COUNT"] = "2";
  CHECK(f.Discover().restart_count == 2);
  f.vars["SLURM_RESTART_COUNT"] = "x";
  CHECK(f.Discover().restart_count == 0);
}

TEST_CASE("ClaimableRuntime: a job as long as the walltime starts in a fresh allocation") {
  Allocation a;
  const double start = 1000, end = start + 3600;  // PT1H walltime, the default
  a.start_time = start;
  a.end_time = end;
  // 3 s in (the worker's start-up): the whole hour, so PT1H (the default runtime) fits.
  CHECK(ClaimableRuntime(a, start + 3, 120) == doctest::Approx(3600));
  CHECK(ClaimableRuntime(a, start + 120, 120) == doctest::Approx(3600));
  // Later, what is left, plus the start-up allowance.
  CHECK(ClaimableRuntime(a, start + 600, 120) == doctest::Approx(3000 + 120));
  // Start unknown: only what is left.
  a.start_time.reset();
  CHECK(ClaimableRuntime(a, start + 3, 120) == doctest::Approx(3597));
  a.end_time.reset();
  CHECK(ClaimableRuntime(a, start + 3, 120) > 1e17);
}
