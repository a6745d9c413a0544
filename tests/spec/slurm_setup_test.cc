// The Slurm setup derived from a workflow (spec/slurm/): reading scontrol, choosing partitions,
// sizing stages, writing the workflow back, and the one-large / many-small plan.
#include <doctest/doctest.h>

#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "spec/plan.h"
#include "spec/slurm/setup.h"
#include "tests/spec/parse_ok.h"

using namespace torc::spec;
using namespace torc::spec::slurm;

namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in, "cannot read ", path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}
std::string Read(const std::string& relative) {
  return ReadFile(std::string(TORC_TEST_DATA) + "/" + relative);
}

Cluster ClusterOf(const std::string& name) {
  Cluster c;
  std::string error;
  REQUIRE_MESSAGE(ParseScontrol(Read("slurm/" + name + "_partitions.txt"),
                                Read("slurm/" + name + "_nodes.txt"), &c, &error),
                  error);
  return c;
}

Plan Parse(const std::string& text, Format format = Format::kYaml) {
  return torc::test::ParseOk(text, "test.yaml", format);
}

SetupOptions Options(std::string partition, int64_t max_nodes = 0, std::string account = "") {
  SetupOptions o;
  o.partition = std::move(partition);
  o.max_nodes = max_nodes;
  o.account = std::move(account);
  return o;
}

const Partition& PartitionNamed(const Cluster& c, const std::string& name) {
  for (const auto& p : c.partitions)
    if (p.name == name) return p;
  FAIL("no partition ", name);
  throw 0;
}

// 40 CPU jobs, then 4 GPU jobs after all of them, then one fan-in (the lab's acceptance shape).
const char* kStages = R"(name: stages
resource_requirements:
  - {name: small, num_cpus: 1, memory: 100m, runtime: PT1M}
  - {name: gpu, num_cpus: 1, num_gpus: 1, memory: 100m, runtime: PT2M}
jobs:
  - name: prep_{i}
    command: "echo {i}"
    resource_requirements: small
    parameters: {i: "1:40"}
  - name: train_{g}
    command: |
      echo train {g}
      true
    resource_requirements: gpu
    depends_on_regexes: ["^prep_"]
    parameters: {g: "1:4"}
  - name: fanin
    command: echo done
    resource_requirements: small
    depends_on_regexes: ["^train_"]
)";

Setup SetupOf(const Plan& plan, const Cluster& cluster, const SetupOptions& options = {}) {
  Setup s;
  std::string error;
  REQUIRE_MESSAGE(PlanSetup(plan, cluster, options, &s, &error), error);
  return s;
}

std::string SetupError(const std::string& text, const Cluster& cluster,
                       const SetupOptions& options = {}) {
  Plan plan = Parse(text);
  Setup s;
  std::string error;
  CHECK_FALSE(PlanSetup(plan, cluster, options, &s, &error));
  return error;
}

std::set<std::string> JobNames(const Plan& plan, const std::vector<Index>& jobs) {
  std::set<std::string> out;
  for (Index j : jobs) out.insert(plan.jobs[j].name);
  return out;
}

}  // namespace

TEST_CASE("scontrol: the lab's two partitions, GPUs on the gpu partition only") {
  Cluster c = ClusterOf("lab");
  REQUIRE(c.partitions.size() == 2);
  const Partition& cpu = PartitionNamed(c, "cpu");
  const Partition& gpu = PartitionNamed(c, "gpu");
  CHECK(cpu.is_default);
  CHECK_FALSE(gpu.is_default);
  CHECK(cpu.max_time_seconds == 0);  // UNLIMITED
  REQUIRE(cpu.nodes.size() == 1);
  CHECK(cpu.nodes[0].count == 2);
  CHECK(cpu.nodes[0].cpus == 4);
  CHECK(cpu.nodes[0].memory_bytes == int64_t{4000} << 20);
  CHECK(cpu.nodes[0].gpus == 0);
  REQUIRE(gpu.nodes.size() == 1);
  CHECK(gpu.nodes[0].gpus == 2);
}

TEST_CASE("scontrol: a site's limits, typed GPUs, a down partition, values with spaces") {
  Cluster c = ClusterOf("site");
  CHECK(PartitionNamed(c, "short").max_time_seconds == 4 * 3600);
  CHECK(PartitionNamed(c, "standard").max_time_seconds == 2 * 86400);
  CHECK(PartitionNamed(c, "standard").max_nodes == 64);
  CHECK(PartitionNamed(c, "standard").TotalNodes() == 200);
  CHECK(PartitionNamed(c, "short").TotalNodes() == 100);
  CHECK_FALSE(PartitionNamed(c, "debug").up);
  const Partition& h100 = PartitionNamed(c, "gpu-h100");
  REQUIRE(h100.nodes.size() == 1);
  CHECK(h100.nodes[0].gpus == 4);  // gpu:h100:4(S:0-3)
  CHECK(h100.nodes[0].cpus == 128);
}

TEST_CASE("scontrol: a record it cannot read is an error naming the line") {
  Cluster c;
  std::string error;
  CHECK_FALSE(ParseScontrol("PartitionName=a MaxTime=UNLIMITED\nState=UP\n", "", &c, &error));
  CHECK(error.find("line 2") != std::string::npos);
  CHECK_FALSE(ParseScontrol("PartitionName=a MaxTime=soon\n", "", &c, &error));
  CHECK(error.find("MaxTime='soon'") != std::string::npos);
  CHECK_FALSE(ParseScontrol("PartitionName=a\n", "NodeName=n1 CPUTot=x RealMemory=1\n", &c, &error));
  CHECK(error.find("scontrol show node, line 1") != std::string::npos);
}

TEST_CASE("cluster file: written, read back the same; bad files say what is wrong") {
  Cluster c = ClusterOf("site");
  Cluster back;
  std::string error;
  REQUIRE_MESSAGE(ClusterFromJson(ClusterToJson(c), &back, &error), error);
  REQUIRE(back.partitions.size() == c.partitions.size());
  for (size_t k = 0; k < c.partitions.size(); ++k) {
    CHECK(back.partitions[k].name == c.partitions[k].name);
    CHECK(back.partitions[k].max_time_seconds == c.partitions[k].max_time_seconds);
    CHECK(back.partitions[k].max_nodes == c.partitions[k].max_nodes);
    CHECK(back.partitions[k].up == c.partitions[k].up);
    CHECK(back.partitions[k].TotalNodes() == c.partitions[k].TotalNodes());
  }
  CHECK_FALSE(ClusterFromJson("[1]", &back, &error));
  CHECK(error.find("--save-cluster") != std::string::npos);
  CHECK_FALSE(ClusterFromJson(R"({"partitions":[{"name":"p","nodes":[{"cpus":4}]}]})", &back,
                              &error));
  CHECK(error == "partitions[0] (p): each node shape needs 'count', 'cpus' and 'memory_mb' "
                 "(counts) and may have 'gpus'");
}

TEST_CASE("setup: partitions by shape, stages by dependency, sizes from counts and runtimes") {
  Plan plan = Parse(kStages);
  Setup s = SetupOf(plan, ClusterOf("lab"), Options("", 0, "acct"));
  REQUIRE(s.schedulers.size() == 2);
  const SetupScheduler& cpu = s.schedulers[0];
  const SetupScheduler& gpu = s.schedulers[1];
  CHECK(cpu.partition == "cpu");  // not on the GPU nodes
  CHECK(cpu.gres == "");
  CHECK(gpu.partition == "gpu");
  CHECK(gpu.gres == "gpu:2");  // the node's GPUs: allocations are exclusive
  CHECK(cpu.account == "acct");
  REQUIRE(s.groups.size() == 3);
  const StageGroup& prep = s.groups[0];
  CHECK(prep.stage == 0);
  CHECK(prep.jobs.size() == 40);
  CHECK(prep.jobs_per_node == 4);
  CHECK(prep.blocks == 2);  // the partition's two nodes
  CHECK(prep.waves == 5);
  // 5 rounds x 60 s x 1.5, in whole minutes
  CHECK(prep.walltime_seconds == 480);
  const StageGroup& train = s.groups[1];
  CHECK(train.stage == 1);
  CHECK(train.scheduler == 1);
  CHECK(train.jobs_per_node == 2);  // 2 GPUs per node, 1 per job
  CHECK(train.blocks == 2);
  CHECK(train.waves == 1);
  CHECK(s.groups[2].stage == 2);
  CHECK(JobNames(plan, s.groups[2].jobs) == std::set<std::string>{"fanin"});
  CHECK(s.entry_scheduler == std::vector<std::string>{cpu.name, gpu.name, cpu.name});
}

TEST_CASE("setup: a job larger than every node names the job, its request and the largest node") {
  std::string text = R"(name: big
resource_requirements: [{name: huge, num_cpus: 64, runtime: PT1H}]
jobs:
  - {name: fine, command: "true"}
  - {name: hog, command: "true", resource_requirements: huge}
)";
  std::string e = SetupError(text, ClusterOf("lab"));
  CHECK(e == "job 'hog' needs 64 CPUs, 0 GPUs, no memory request per node on 1 node for "
             "01:00:00: no partition has a node that large; the largest node has 4 CPUs, 2 GPUs, "
             "3.9 GiB (partition gpu)");
  // GPUs the cluster does not have.
  e = SetupError(R"(name: g
resource_requirements: [{name: g8, num_gpus: 8}]
jobs: [{name: eight, command: "true", resource_requirements: g8}])",
                 ClusterOf("site"));
  CHECK(e.find("job 'eight' needs 1 CPUs, 8 GPUs") == 0);
  CHECK(e.find("the largest node has 128 CPUs, 4 GPUs") != std::string::npos);
  // A runtime longer than every MaxTime.
  e = SetupError(R"(name: long
resource_requirements: [{name: week, runtime: P7D}]
jobs: [{name: slow, command: "true", resource_requirements: week}])",
                 ClusterOf("site"));
  CHECK(e.find("job 'slow' needs") == 0);
  CHECK(e.find("longer than every partition's MaxTime; the longest is 2-00:00:00") !=
        std::string::npos);
  // Only the named partition counts.
  e = SetupError(text, ClusterOf("lab"), Options("nope"));
  CHECK(e == "the cluster has no partition 'nope' (it has: cpu, gpu)");
}

TEST_CASE("setup: MaxTime, MaxNodes and --max-nodes bound the allocations") {
  std::string sweep = R"(name: sweep
resource_requirements: [{name: one, num_cpus: 1, memory: 1g, runtime: PT3H}]
jobs:
  - {name: "w_{i}", command: "true", resource_requirements: one, parameters: {i: "1:1000"}}
)";
  Plan plan = Parse(sweep);
  Cluster site = ClusterOf("site");
  // Standard (the default; 104 CPUs, 240 GiB): 104 a node, 10 nodes, one round.
  Setup s = SetupOf(plan, site);
  REQUIRE(s.groups.size() == 1);
  CHECK(s.schedulers[0].partition == "standard");
  CHECK(s.groups[0].jobs_per_node == 104);
  CHECK(s.groups[0].blocks == 10);
  CHECK(s.groups[0].waves == 1);
  CHECK_FALSE(s.groups[0].elastic);
  // At most 4 nodes: 3 rounds of 3 h x 1.5.
  s = SetupOf(plan, site, Options("", 4));
  CHECK(s.groups[0].blocks == 4);
  CHECK(s.groups[0].waves == 3);
  CHECK(s.groups[0].walltime_seconds == 3 * 3 * 3600 * 3 / 2);
  // On `short` (MaxTime 4 h) those rounds do not fit one walltime: capped, and elastic.
  s = SetupOf(plan, site, Options("short", 4));
  CHECK(s.groups[0].walltime_seconds == 4 * 3600);
  CHECK(s.groups[0].walltime_capped);
  CHECK(s.groups[0].elastic);
  REQUIRE(s.notes.size() == 1);
  CHECK(s.notes[0].find("elastic") != std::string::npos);
}

TEST_CASE("setup: nodes with too little memory in a partition make the scheduler ask for it") {
  Cluster c;
  std::string error;
  REQUIRE(ParseScontrol("PartitionName=mixed Default=YES MaxTime=UNLIMITED\n",
                        "NodeName=a CPUTot=8 RealMemory=8000 Partitions=mixed\n"
                        "NodeName=b CPUTot=16 RealMemory=64000 Partitions=mixed\n",
                        &c, &error));
  Plan plan = Parse(R"(name: m
resource_requirements: [{name: r, num_cpus: 4, memory: 16g}]
jobs: [{name: j, command: "true", resource_requirements: r}])");
  Setup s = SetupOf(plan, c);
  CHECK(s.schedulers[0].mem == "16384M");
  CHECK(s.schedulers[0].extra == "--mincpus=4");
  CHECK(s.groups[0].jobs_per_node == 3);  // node b: min(16/4, 64000 MiB / 16 GiB)
}

TEST_CASE("write: the workflow reads back with the setup; jobs that name a scheduler stay") {
  std::string text = std::string(kStages) + R"(  - name: own
    command: "true"
    scheduler: mine
slurm_schedulers:
  - {name: mine, nodes: 1, walltime: "01:00:00"}
)";
  Plan plan = Parse(text);
  Setup s = SetupOf(plan, ClusterOf("lab"));
  std::string out, error;
  REQUIRE_MESSAGE(WriteSetup(text, plan, s, false, &out, &error), error);
  CHECK(out.rfind("# Slurm setup written by `torc slurm generate`", 0) == 0);
  CHECK(out.find("stage 1: allocated once these jobs are ready") != std::string::npos);
  Plan back = Parse(out);
  REQUIRE(back.jobs.size() == plan.jobs.size());
  for (size_t j = 0; j < plan.jobs.size(); ++j) {
    CHECK(back.jobs[j].name == plan.jobs[j].name);
    CHECK(back.jobs[j].command == plan.jobs[j].command);  // the literal block survives
    CHECK(back.AllParents(back.jobs[j]) == plan.AllParents(plan.jobs[j]));
  }
  REQUIRE(back.schedulers.size() == 3);
  CHECK(back.schedulers[0].name == "mine");
  CHECK(back.schedulers[2].gres == "gpu:2");
  CHECK(back.schedulers[2].partition == "gpu");
  auto scheduler_of = [&](const std::string& job) {
    for (const auto& j : back.jobs)
      if (j.name == job) return back.schedulers[j.scheduler].name;
    return std::string("?");
  };
  CHECK(scheduler_of("own") == "mine");
  CHECK(scheduler_of("prep_7") == s.schedulers[0].name);
  CHECK(scheduler_of("train_2") == s.schedulers[1].name);
  REQUIRE(back.actions.size() == 3);
  CHECK(back.actions[0].trigger == TriggerType::kOnWorkflowStart);
  CHECK(back.actions[0].num_allocations == 2);
  CHECK(back.actions[1].trigger == TriggerType::kOnJobsReady);
  CHECK(JobNames(back, back.actions[1].jobs) ==
        std::set<std::string>{"train_1", "train_2", "train_3", "train_4"});
  CHECK(JobNames(back, back.actions[2].jobs) == std::set<std::string>{"fanin"});
  // As JSON: the same workflow.
  REQUIRE_MESSAGE(WriteSetup(text, plan, s, true, &out, &error), error);
  Plan json = Parse(out, Format::kJson);
  CHECK(json.jobs.size() == plan.jobs.size());
  CHECK(json.actions.size() == 3);
  CHECK(json.schedulers.size() == 3);
}

TEST_CASE("write: a large stage is listed by name patterns that match exactly its jobs") {
  std::string text = R"(name: wide
jobs:
  - {name: "a_{i}", command: "true", parameters: {i: "1:100"}}
  - {name: "b_{i}", command: "true", depends_on: ["a_{i}"], parameters: {i: "1:100"}}
  - {name: "b_x_{i}", command: "true", depends_on: ["a_{i}"], parameters: {i: "1:100"}}
)";
  Plan plan = Parse(text);
  Setup s = SetupOf(plan, ClusterOf("lab"));
  std::string out, error;
  REQUIRE_MESSAGE(WriteSetup(text, plan, s, false, &out, &error), error);
  Plan back = Parse(out);
  REQUIRE(back.actions.size() == 2);
  REQUIRE(s.groups.size() == 2);
  CHECK(JobNames(back, back.actions[1].jobs) == JobNames(plan, s.groups[1].jobs));
  CHECK(back.actions[1].jobs.size() == 200);
  // "^b_.+$" would also match b_x_*: both entries are in the stage, so patterns are exact.
  CHECK(out.find("job_name_regexes") != std::string::npos);
}

TEST_CASE("write: a pattern that would reach other jobs falls back to names") {
  std::string text = R"(name: overlap
jobs:
  - {name: "a_{i}", command: "true", parameters: {i: "1:100"}}
  - {name: "b_{i}", command: "true", depends_on: ["a_{i}"], parameters: {i: "1:100"}}
  - {name: "b_x_{i}", command: "true", depends_on: ["b_{i}"], parameters: {i: "1:100"}}
)";
  Plan plan = Parse(text);
  Setup s = SetupOf(plan, ClusterOf("lab"));
  std::string out, error;
  REQUIRE_MESSAGE(WriteSetup(text, plan, s, false, &out, &error), error);
  Plan back = Parse(out);
  REQUIRE(back.actions.size() == 3);
  CHECK(JobNames(back, back.actions[1].jobs) == JobNames(plan, s.groups[1].jobs));
  CHECK(back.actions[1].jobs.size() == 100);
  CHECK(JobNames(back, back.actions[2].jobs) == JobNames(plan, s.groups[2].jobs));
}

TEST_CASE("plan: the seed parallel_analysis, one large against many small, with node-hours") {
  Plan plan = Parse(ReadFile(std::string(TORC_SHARED_EXAMPLES) + "/seed/parallel_analysis.yaml"));
  Cluster site = ClusterOf("site");
  SetupOptions o;
  o.all_jobs = true;  // the seed names its own scheduler; plan looks at the jobs
  o.max_nodes = 4;    // its own scheduler's 4 nodes
  Setup s = SetupOf(plan, site, o);
  nlohmann::json j = nlohmann::json::parse(SetupPlanJson(plan, site, s));
  REQUIRE(j["groups"].size() == 1);
  const auto& g = j["groups"][0];
  // 8 CPUs / 32 GiB each on 104-CPU, 240 GiB nodes: 7 a node (memory), 4 nodes, 4 rounds.
  CHECK(g["jobs"] == 100);
  CHECK(g["jobs_per_node"] == 7);
  CHECK(g["allocations"] == 4);
  CHECK(g["rounds"] == 4);
  // 100 one-hour jobs on 28 slots: three nodes run 4 rounds, one runs 3 (16 jobs over 7 slots:
  // 25 on node 0..., each node's last job decides when it ends).
  double small = g["strategies"]["many_small"]["node_hours"];
  double large = g["strategies"]["one_large"]["node_hours"];
  CHECK(large == 16);  // 4 nodes held 4 h
  CHECK(small < large);
  CHECK(small >= 100.0 / 7);
  CHECK(j["strategies"]["many_small"]["node_hours"] == small);
  CHECK(j["strategies"]["one_large"]["node_hours"] == large);
  CHECK((j["recommendation"] == "many_small" || j["recommendation"] == "one_large"));
  CHECK_FALSE(j["why"].get<std::string>().empty());
  CHECK(SetupPlanText(plan, site, s).find("one large (4 nodes): 16 node-hours") !=
        std::string::npos);
}

TEST_CASE("write: --elastic, and a stage one walltime cannot finish, make elastic actions") {
  Plan plan = Parse(kStages);
  SetupOptions o;
  o.elastic = true;
  Setup s = SetupOf(plan, ClusterOf("lab"), o);
  std::string out, error;
  REQUIRE_MESSAGE(WriteSetup(kStages, plan, s, false, &out, &error), error);
  Plan back = Parse(out);
  REQUIRE(back.actions.size() == 3);
  for (const auto& a : back.actions) CHECK(a.elastic());
  CHECK(back.actions[0].max_allocations == 2);
  CHECK(back.actions[1].max_allocations == 2);
  CHECK(PlanWarnings(back).empty());  // no num_allocations beside max_allocations
  // A sweep on `short` (MaxTime 4 h) that needs three 3-hour rounds on 4 nodes.
  std::string sweep = R"(name: sweep
resource_requirements: [{name: one, num_cpus: 1, memory: 1g, runtime: PT3H}]
jobs:
  - {name: "w_{i}", command: "true", resource_requirements: one, parameters: {i: "1:1000"}}
)";
  Plan p = Parse(sweep);
  s = SetupOf(p, ClusterOf("site"), Options("short", 4));
  REQUIRE_MESSAGE(WriteSetup(sweep, p, s, false, &out, &error), error);
  back = Parse(out);
  REQUIRE(back.actions.size() == 1);
  CHECK(back.actions[0].max_allocations == 4);
  CHECK(back.schedulers[0].walltime_seconds == 4 * 3600);
  CHECK(out.find("note: stage 0 on one_short: 3 rounds of 03:00:00 do not fit in one MaxTime") !=
        std::string::npos);
}
