// The example workflows and the semantics of expansion and resolution.
#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "spec/plan.h"
#include "spec/plan_json.h"
#include "tests/spec/parse_ok.h"

using namespace torc::spec;

namespace {

// Torc's examples and the seed files live beside the project (../shared); torc's own test
// files in tests/data.
std::string Shared(const std::string& relative) {
  return std::string(TORC_SHARED_EXAMPLES) + "/" + relative;
}
std::string Data(const std::string& relative) {
  return std::string(TORC_TEST_DATA) + "/" + relative;
}

Plan Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in, "cannot read ", path);
  std::ostringstream text;
  text << in.rdbuf();
  return torc::test::ParseOk(text.str(), path);
}

Plan Parse(const std::string& text, Format format = Format::kYaml) {
  return torc::test::ParseOk(text, "test.yaml", format);
}

std::vector<std::string> Errors(const std::string& text) {
  LoadResult r = ParsePlan(text, "t.yaml");
  CHECK_FALSE(r.ok());
  std::vector<std::string> out;
  for (const auto& e : r.errors) out.push_back(e.ToString());
  return out;
}

const Job& JobNamed(const Plan& p, const std::string& name) {
  auto it = std::find_if(p.jobs.begin(), p.jobs.end(), [&](const Job& j) { return j.name == name; });
  REQUIRE_MESSAGE(it != p.jobs.end(), "no job ", name);
  return *it;
}

std::vector<std::string> Parents(const Plan& p, const std::string& name) {
  std::vector<std::string> out;
  for (Index i : p.AllParents(JobNamed(p, name))) out.push_back(p.jobs[i].name);
  std::sort(out.begin(), out.end());
  return out;
}

using S = std::vector<std::string>;

}  // namespace

TEST_CASE("seed: parallel_analysis is 100 jobs analyze_1..analyze_100 on multi_node") {
  Plan p = Load(Shared("seed/parallel_analysis.yaml"));
  REQUIRE(p.jobs.size() == 100);
  CHECK(p.jobs.front().name == "analyze_1");
  CHECK(p.jobs.back().name == "analyze_100");
  CHECK(JobNamed(p, "analyze_42").command == "python analyze.py --chunk 42");
  const auto& rr = p.RequirementsOf(p.jobs[0]);
  CHECK(rr.num_cpus == 8);
  CHECK(rr.memory_bytes == 32LL << 30);
  CHECK(rr.runtime_seconds == 3600);
  CHECK(p.schedulers.at(p.jobs[0].scheduler).name == "multi_node");
  CHECK(p.schedulers[0].nodes == 4);
  CHECK(p.schedulers[0].walltime_seconds == 8 * 3600);
  REQUIRE(p.actions.size() == 1);
  CHECK(p.actions[0].trigger == TriggerType::kOnWorkflowStart);
  CHECK(p.actions[0].type == ActionType::kScheduleNodes);
  CHECK(p.DependencyCount() == 0);
}

TEST_CASE("seed: parallel_analysis_direct runs one worker per node in direct mode") {
  Plan p = Load(Shared("seed/parallel_analysis_direct.yaml"));
  CHECK(p.jobs.size() == 20);
  CHECK(p.execution.mode == ExecutionMode::kDirect);
  CHECK(p.actions[0].start_one_worker_per_node);
  CHECK(p.RequirementsOf(p.jobs[0]).runtime_seconds == 180);
  CHECK(p.schedulers[0].walltime_seconds == 600);
}

TEST_CASE("seed: distributed training spans 4 nodes") {
  for (const char* f : {"seed/distributed_training.yaml",
                        "seed/distributed_training_mpi.yaml"}) {
    CAPTURE(f);
    Plan p = Load(Shared(f));
    REQUIRE(p.jobs.size() == 1);
    CHECK(p.jobs[0].name == "train");
    CHECK(p.RequirementsOf(p.jobs[0]).num_nodes == 4);
    CHECK(p.RequirementsOf(p.jobs[0]).num_cpus == 32);
    CHECK(p.RequirementsOf(p.jobs[0]).runtime_seconds == 8 * 3600);
  }
  CHECK(Load(Shared("seed/distributed_training_mpi.yaml")).jobs[0].command == "mpirun python train.py");
}

TEST_CASE("seed: preprocess_then_train gives 9 jobs, train after all eight prep_*") {
  Plan p = Load(Shared("seed/preprocess_then_train.yaml"));
  CHECK(p.jobs.size() == 9);
  CHECK(Parents(p, "train") ==
        S{"prep_1", "prep_2", "prep_3", "prep_4", "prep_5", "prep_6", "prep_7", "prep_8"});
  CHECK(JobNamed(p, "prep_3").command == "python preprocess.py --shard 3");
  REQUIRE(p.actions.size() == 2);
  CHECK(p.actions[1].trigger == TriggerType::kOnJobsReady);
  REQUIRE(p.actions[1].jobs.size() == 1);
  CHECK(p.jobs[p.actions[1].jobs[0]].name == "train");
  CHECK(p.schedulers[p.actions[1].scheduler].name == "training_nodes");
}

TEST_CASE("torc: diamond infers its edges from ${files.*} in commands") {
  Plan p = Load(Shared("torc/diamond_workflow.yaml"));
  CHECK(p.jobs.size() == 4);
  CHECK(Parents(p, "preprocess").empty());
  CHECK(Parents(p, "work1") == S{"preprocess"});
  CHECK(Parents(p, "work2") == S{"preprocess"});
  CHECK(Parents(p, "postprocess") == S{"work1", "work2"});
  CHECK(JobNamed(p, "work1").command == "bash tests/scripts/work.sh -i f2.json -o f4.json");
}

TEST_CASE("torc: direct_mode_checkpointing expands files and file regexes") {
  Plan p = Load(Shared("torc/direct_mode_checkpointing.yaml"));
  CHECK(p.jobs.size() == 5);
  CHECK(p.files.size() == 5);
  CHECK(Parents(p, "train_model_1") == S{"prepare_data"});
  CHECK(Parents(p, "evaluate_best") == S{"train_model_0", "train_model_1", "train_model_2"});
  CHECK(JobNamed(p, "train_model_2").command ==
        "MODEL_INDEX=2 python3 examples/scripts/checkpointing_train.py");
  CHECK(p.execution.sigterm_lead_seconds == 45);
  CHECK(*p.execution.timeout_exit_code == 152);
  const auto& h = p.failure_handlers.at(JobNamed(p, "train_model_0").failure_handler);
  REQUIRE(h.rules.size() == 3);
  CHECK(h.rules[0].exit_codes == std::vector<int64_t>{152});
  CHECK(h.rules[0].max_retries == 5);
  CHECK(h.rules[2].match_all_exit_codes);
}

TEST_CASE("torc: failure_handler_demo, simple_retry, priority") {
  Plan f = Load(Shared("torc/failure_handler_demo.yaml"));
  CHECK(f.jobs.size() == 4);
  CHECK(Parents(f, "summary") == S{"flaky_job_2", "reliable_job"});
  CHECK(f.failure_handlers[0].rules.size() == 3);
  CHECK(f.failure_handlers[0].rules[0].recovery_script == "examples/scripts/recovery_demo.sh");
  Plan r = Load(Shared("torc/simple_retry.yaml"));
  CHECK(r.failure_handlers[0].rules[0].match_all_exit_codes);
  CHECK(r.failure_handlers[0].rules[0].max_retries == 3);
  Plan pr = Load(Shared("torc/priority_workflow.yaml"));
  CHECK(JobNamed(pr, "preprocess").priority == 10);
  CHECK(JobNamed(pr, "summary").priority == 0);
  CHECK(Parents(pr, "summary") == S{"background_report", "critical_analysis", "normal_analysis"});
}

TEST_CASE("torc: hundred_jobs_parameterized zero-pads names") {
  Plan p = Load(Shared("torc/hundred_jobs_parameterized.yaml"));
  CHECK(p.jobs.size() == 100);
  CHECK(p.jobs[0].name == "job_001");
  CHECK(p.jobs[99].name == "job_100");
  CHECK(p.jobs[6].command == "echo hello 7");
  CHECK(p.RequirementsOf(p.jobs[0]).runtime_seconds == 60);
  CHECK(p.RequirementsOf(p.jobs[0]).memory_bytes == 1LL << 30);
}

TEST_CASE("torc: multi_node_slurm") {
  Plan p = Load(Shared("torc/multi_node_slurm.yaml"));
  CHECK(p.jobs.size() == 7);
  CHECK(Parents(p, "parallel_matrix_multiply_02") == S{"prepare_inputs"});
  CHECK(Parents(p, "distributed_eigensolve") ==
        S{"parallel_matrix_multiply_00", "parallel_matrix_multiply_01",
          "parallel_matrix_multiply_02", "parallel_matrix_multiply_03"});
  CHECK(Parents(p, "collect_results") == S{"distributed_eigensolve"});
  CHECK(p.actions[1].jobs.size() == 4);
  CHECK(p.actions[1].start_one_worker_per_node);
  CHECK(p.actions[1].num_allocations == 2);
}

TEST_CASE("torc: sample_workflow env, user data and the afterany flag") {
  Plan p = Load(Shared("torc/sample_workflow.yaml"));
  CHECK(p.jobs.size() == 3);
  CHECK(p.env.size() == 2);
  CHECK_FALSE(JobNamed(p, "data_download").cancel_on_blocking_job_failure);
  CHECK(JobNamed(p, "data_validation").cancel_on_blocking_job_failure);
  CHECK(JobNamed(p, "data_validation").invocation_script == "#!/bin/bash\nset -e\n");
  CHECK(Parents(p, "data_validation") == S{"data_download"});
  CHECK(Parents(p, "data_analysis") == S{"data_validation"});
  CHECK(p.user_data.size() == 3);
  CHECK(p.schedulers[1].gres == "gpu:1");
  CHECK(p.schedulers[0].extra == "--constraint=haswell");
  CHECK(*p.schedulers[0].ntasks_per_node == 1);
}

TEST_CASE("torc: slurm_staged_pipeline, stdio, actions examples") {
  Plan s = Load(Shared("torc/slurm_staged_pipeline.yaml"));
  CHECK(s.jobs.size() == 12);
  CHECK(Parents(s, "postprocess").size() == 10);
  CHECK(Parents(s, "work_005") == S{"setup"});
  CHECK(s.execution.mode == ExecutionMode::kSlurm);
  Plan io = Load(Shared("torc/stdio_configuration.yaml"));
  CHECK(io.execution.stdio.mode == StdioMode::kCombined);
  CHECK(io.execution.stdio.delete_on_success);
  CHECK(JobNamed(io, "validate_results").stdio->mode == StdioMode::kSeparate);
  CHECK(JobNamed(io, "publish_results").stdio->mode == StdioMode::kNone);
  Plan a = Load(Shared("torc/workflow_actions_simple.yaml"));
  CHECK(a.actions.size() == 2);
  CHECK(a.actions[1].commands.size() == 6);
  Plan as = Load(Shared("torc/workflow_actions_simple_slurm.yaml"));
  CHECK(as.actions[1].jobs.size() == 3);
  CHECK(as.actions[1].num_allocations == 3);
}

TEST_CASE("fan-in: parameters missing from a job's name expand its references") {
  Plan p = Load(Data("good/fan_in.yaml"));
  CHECK(p.jobs.size() == 11);
  CHECK(Parents(p, "report_sales") ==
        S{"analyze_sales_anomaly", "analyze_sales_summary", "analyze_sales_trend"});
  CHECK(Parents(p, "report_ops") ==
        S{"analyze_ops_anomaly", "analyze_ops_summary", "analyze_ops_trend"});
  CHECK(Parents(p, "aggregate") == S{"report_ops", "report_sales"});
  CHECK(JobNamed(p, "lr_0.2500___sgd").command == "train --lr 0.25 --opt sgd --i 008_$HOME_${HOME}");
}

TEST_CASE("defaults a Torc user expects") {
  Plan p = Parse("name: d\njobs:\n  - name: a\n    command: 'true'\n");
  const auto& rr = p.RequirementsOf(p.jobs[0]);
  CHECK(rr.num_cpus == 1);
  CHECK(rr.num_gpus == 0);
  CHECK(rr.num_nodes == 1);
  CHECK(rr.runtime_seconds == 3600);
  CHECK(p.jobs[0].cancel_on_blocking_job_failure);
  CHECK(p.jobs[0].priority == 0);
  CHECK(p.execution.mode == ExecutionMode::kAuto);
  CHECK(p.execution.srun_launch_interval_ms == 25);
  CHECK(p.jobs[0].scheduler == kNone);
  Plan q = Parse("name: d\nexecution_config: {srun_launch_interval_ms: 0}\n"
                 "jobs:\n  - name: a\n    command: 'true'\n");
  CHECK(q.execution.srun_launch_interval_ms == 0);
}

TEST_CASE("JSON workflow files") {
  Plan p = Parse(R"({"name": "j", "jobs": [
      {"name": "a_{i}", "command": "echo {i}", "parameters": {"i": "1:3"}},
      {"name": "b", "command": "echo b", "depends_on_regexes": ["^a_"]}],
    "resource_requirements": [{"name": "r", "num_cpus": 2, "memory": "1g"}]})",
                 Format::kJson);
  CHECK(p.jobs.size() == 4);
  CHECK(Parents(p, "b") == S{"a_1", "a_2", "a_3"});
  CHECK(p.dependency_groups.size() == 1);
}

TEST_CASE("workflow parameters shared through use_parameters, lists and zip") {
  Plan p = Parse(R"(
name: w
parameters:
  lr: [0.1, 0.01]
  opt: "['adam', 'sgd']"
jobs:
  - name: train_{lr}_{opt}
    command: train --lr {lr:.3f} --opt {opt}
    use_parameters: [lr, opt]
  - name: pair_{a}_{b}
    command: echo {a} {b}
    parameters: {a: "1:3", b: "[x, y, z]"}
    parameter_mode: zip
)");
  CHECK(p.jobs.size() == 7);
  CHECK(JobNamed(p, "train_0.01_sgd").command == "train --lr 0.010 --opt sgd");
  CHECK(JobNamed(p, "pair_2_y").command == "echo 2 y");
}

TEST_CASE("a group dependency is stored once, however many jobs use it") {
  Plan p = Parse(R"(
name: g
jobs:
  - name: a_{i}
    command: echo {i}
    parameters: {i: "1:50"}
  - name: b_{i}
    command: echo {i}
    depends_on_regexes: ["^a_\\d+$"]
    parameters: {i: "1:50"}
)");
  CHECK(p.jobs.size() == 100);
  REQUIRE(p.dependency_groups.size() == 1);
  CHECK(p.dependency_groups[0].members.size() == 50);
  CHECK(JobNamed(p, "b_7").dependency_groups.size() == 1);
  CHECK(JobNamed(p, "b_7").depends_on.empty());
  CHECK(p.DependencyCount() == 2500);
  CHECK(Parents(p, "b_7").size() == 50);
}

TEST_CASE("regexes search unless anchored; anchored ones use the prefix index correctly") {
  Plan p = Parse(R"(
name: r
jobs:
  - {name: x_abc, command: 'true'}
  - {name: abc_y, command: 'true'}
  - {name: zzz, command: 'true'}
  - {name: u, command: 'true', depends_on_regexes: ["abc"]}
  - {name: v, command: 'true', depends_on_regexes: ["^abc"]}
  - {name: w, command: 'true', depends_on_regexes: ["^x|^z"]}
)");
  CHECK(Parents(p, "u") == S{"abc_y", "x_abc"});
  CHECK(Parents(p, "v") == S{"abc_y"});
  CHECK(Parents(p, "w") == S{"x_abc", "zzz"});
}

TEST_CASE("implicit dependencies from output/input files and user data") {
  Plan p = Parse(R"(
name: i
files:
  - {name: raw, path: /d/raw.csv}
  - {name: "out_{k}", path: "/d/out_{k}.csv", parameters: {k: "1:2"}}
user_data:
  - {name: meta, data: {rows: 10}}
jobs:
  - {name: make, command: "fetch > ${files.output.raw}", output_user_data: [meta]}
  - name: use_{k}
    command: "proc ${files.input.raw} ${user_data.input.meta} > ${files.output.out_{k}}"
    parameters: {k: "1:2"}
  - {name: last, command: merge, input_file_regexes: ["^out_"]}
)");
  CHECK(JobNamed(p, "use_2").command == "proc /d/raw.csv meta > /d/out_2.csv");
  CHECK(Parents(p, "use_1") == S{"make"});
  CHECK(Parents(p, "last") == S{"use_1", "use_2"});
}

TEST_CASE("cycles name the jobs on them") {
  auto errors = Errors(R"(
name: c
jobs:
  - {name: a, command: x, depends_on: [c]}
  - {name: b, command: x, depends_on: [a]}
  - {name: c, command: x, depends_on: [b]}
  - {name: d, command: x, depends_on: [c]}
)");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].find("dependency cycle: ") != std::string::npos);
  for (const char* j : {"a", "b", "c"}) CHECK(errors[0].find(j) != std::string::npos);
  CHECK(errors[0].find(" d ") == std::string::npos);
}

TEST_CASE("several errors in one file are all reported, sorted by line") {
  auto errors = Errors(R"(name: e
jobs:
  - name: a
    command: x
    num_cpus: 4
  - name: b
resource_requirements:
  - name: r
    memory: 12q
)");
  REQUIRE(errors.size() == 3);
  CHECK(errors[0].find("t.yaml:5:5: unknown key 'num_cpus' in job 'a'") == 0);
  CHECK(errors[1] == "t.yaml:6:5: job 'b' needs 'command'");
  CHECK(errors[2].find("t.yaml:9:13: invalid memory unit 'q'") == 0);
}

TEST_CASE("the job limit refuses a huge expansion before expanding") {
  LoadOptions small;
  small.max_jobs = 1000;
  LoadResult r = ParsePlan(R"(
name: big
jobs:
  - {name: "a_{i}_{j}", command: x, parameters: {i: "1:100", j: "1:100"}}
)",
                           "big.yaml", Format::kYaml, small);
  REQUIRE_FALSE(r.ok());
  CHECK(r.errors[0].message.find("more than 1000 combinations (100 x 100)") != std::string::npos);
}

TEST_CASE("PlanWarnings: jobs no scheduler can hold, and workflows that never ask for compute") {
  auto plan = [](const std::string& yaml) {
    auto r = torc::spec::ParsePlan(yaml, "w.yaml");
    REQUIRE(r.ok());
    return std::move(*r.plan);
  };
  auto w = torc::spec::PlanWarnings(plan(R"(name: w
resource_requirements:
  - {name: long, runtime: PT2H}
jobs:
  - {name: slow, command: x, resource_requirements: long, scheduler: s}
  - {name: fine, command: x, scheduler: s}
slurm_schedulers:
  - {name: s, nodes: 1}
actions:
  - {trigger_type: on_workflow_start, action_type: schedule_nodes, scheduler: s, scheduler_type: slurm}
)"));
  REQUIRE(w.size() == 1);
  CHECK(w[0].line == 0);
  CHECK(w[0].message == "warning: job 'slow' can never run: runtime 7200 s exceeds the walltime of 's' (01:00:00); "
                "raise the scheduler's walltime or nodes, or lower the job's runtime");
  // The defaults (runtime PT1H, walltime 01:00:00) fit: no warning for 'fine'.
  w = torc::spec::PlanWarnings(plan("name: w\njobs:\n  - {name: a, command: x, scheduler: s}\n"
                                    "slurm_schedulers:\n  - {name: s}\n"));
  REQUIRE(w.size() == 1);
  CHECK(w[0].message.find("warning: slurm_schedulers but no schedule_nodes action") == 0);
  w = torc::spec::PlanWarnings(plan(R"(name: w
jobs:
  - {name: a, command: x, scheduler: s}
  - {name: b, command: x, depends_on: [a]}
slurm_schedulers:
  - {name: s}
  - {name: t}
actions:
  - {trigger_type: on_workflow_start, action_type: schedule_nodes, scheduler: s, scheduler_type: slurm}
)"));
  REQUIRE(w.size() == 1);
  CHECK(w[0].message.find("warning: 1 job(s) name no scheduler ('b') while the workflow's actions ask Slurm") == 0);
  w = torc::spec::PlanWarnings(plan("name: w\njobs:\n  - {name: a, command: x}\n"));
  REQUIRE(w.size() == 1);
  CHECK(w[0].ToString().find("w.yaml: warning: no slurm_schedulers: 'torc submit' alone will not run the jobs") == 0);
}

TEST_CASE("resource_monitor: Torc's format, legacy keys, and warnings for what torc ignores") {
  Plan d = Parse("name: d\njobs:\n  - name: a\n    command: 'true'\n");
  CHECK(d.resource_monitor.enabled);
  CHECK_FALSE(d.resource_monitor.time_series);
  CHECK(d.resource_monitor.sample_interval_seconds == 10);
  Plan p = Parse(
      "name: d\n"
      "resource_monitor:\n"
      "  sample_interval_seconds: 2\n"
      "  jobs: {enabled: true, granularity: time_series}\n"
      "  generate_plots: true\n"
      "  metrics: [cpu_percent, memory_bytes, gpu_util]\n"
      "  compute_node: {enabled: true}\n"
      "  colour: blue\n"
      "jobs:\n  - name: a\n    command: 'true'\n");
  CHECK(p.resource_monitor.time_series);
  CHECK(p.resource_monitor.sample_interval_seconds == 2);
  std::vector<std::string> w;
  for (const auto& d : PlanWarnings(p)) w.push_back(d.ToString());
  auto has = [&](const std::string& text) {
    return std::any_of(w.begin(), w.end(),
                       [&](const std::string& s) { return s.find(text) != std::string::npos; });
  };
  CHECK(has("test.yaml:8:3: warning: resource_monitor key 'colour' is not one torc knows"));
  CHECK(has("test.yaml:5:3: warning: resource_monitor 'generate_plots' has no effect"));
  CHECK(has("test.yaml:6:40: warning: resource_monitor metric 'gpu_util' is not measured"));
  CHECK(has("resource_monitor 'compute_node' has no effect"));
  CHECK_FALSE(has("cpu_percent'"));
  Plan legacy = Parse("name: d\nresource_monitor: {enabled: false, granularity: time_series}\n"
                      "jobs:\n  - name: a\n    command: 'true'\n");
  CHECK_FALSE(legacy.resource_monitor.enabled);
  CHECK(legacy.resource_monitor.time_series);
  CHECK(Errors("name: d\nresource_monitor: {sample_interval_seconds: 0}\njobs:\n  - name: a\n"
               "    command: 'true'\n")
            .size() == 1);
  CHECK(Errors("name: d\nresource_monitor: {jobs: {granularity: often}}\njobs:\n  - name: a\n"
               "    command: 'true'\n")[0]
            .find("granularity of resource_monitor jobs must be summary or time_series, not "
                  "'often'") != std::string::npos);
}

TEST_CASE("elastic schedule_nodes: max_allocations, max_nodes, idle_timeout (ISO or seconds)") {
  const std::string head =
      "name: e\njobs:\n  - {name: a, command: x, scheduler: s}\n"
      "slurm_schedulers:\n  - {name: s, nodes: 2}\n"
      "actions:\n";
  Plan p = Parse(head +
                 "  - {trigger_type: on_workflow_start, action_type: schedule_nodes, scheduler: s,\n"
                 "     max_allocations: 3, max_nodes: 4, idle_timeout: PT1M30S}\n"
                 "  - {trigger_type: on_workflow_start, action_type: schedule_nodes, scheduler: s,\n"
                 "     idle_timeout: 45}\n"
                 "  - {trigger_type: on_workflow_start, action_type: schedule_nodes, scheduler: s}\n");
  REQUIRE(p.actions.size() == 3);
  CHECK(p.actions[0].elastic());
  CHECK(p.actions[0].max_allocations == 3);
  CHECK(p.actions[0].max_nodes == 4);
  CHECK(p.actions[0].idle_timeout_seconds == 90);
  // idle_timeout alone: not elastic, but its workers get the timeout.
  CHECK_FALSE(p.actions[1].elastic());
  CHECK(p.actions[1].idle_timeout_seconds == 45);
  CHECK_FALSE(p.actions[2].elastic());
  CHECK(p.actions[2].max_nodes == 0);
  CHECK(p.actions[2].idle_timeout_seconds == 0);
  CHECK(PlanWarnings(p).empty());

  // num_allocations beside max_allocations: accepted, with a warning saying where.
  Plan w = Parse(head +
                 "  - trigger_type: on_workflow_start\n"
                 "    action_type: schedule_nodes\n"
                 "    scheduler: s\n"
                 "    num_allocations: 2\n"
                 "    max_allocations: 5\n");
  CHECK(w.actions[0].max_allocations == 5);
  std::vector<Diagnostic> warnings = PlanWarnings(w);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].ToString() ==
        "test.yaml:10:5: warning: 'num_allocations' has no effect in torc on action #1, which has "
        "max_allocations: the server decides how many allocations to ask for, up to "
        "max_allocations");
}

TEST_CASE("no silent key: each Torc key torc does not act on draws a warning at the key") {
  Plan p = Parse(R"(name: w
user: someone
metadata: {team: x}
compute_node_expiration_buffer_seconds: 60
compute_node_wait_for_new_jobs_seconds: 30
compute_node_ignore_workflow_completion: true
compute_node_wait_for_healthy_database_minutes: 5
use_pending_failed: true
enable_ro_crate: true
access_groups: [a]
dynamic_jobs: true
execution_config:
  sigkill_headroom_seconds: 60
  staggered_start: true
  srun_mpi: pmix
resource_requirements:
  - {name: r, step_nodes: 1}
files:
  - {name: f, path: f.txt, identifier: abc, st_mtime: 1.5}
slurm_schedulers:
  - {name: s, serialize_allocations: true}
jobs:
  - {name: a, command: x, supports_termination: true, resource_requirements: r, scheduler: s}
actions:
  - {trigger_type: on_workflow_start, action_type: schedule_nodes, scheduler: s, max_parallel_jobs: 2, persistent: true}
)");
  std::vector<std::string> w;
  for (const auto& d : PlanWarnings(p)) w.push_back(d.ToString());
  const std::vector<std::pair<std::string, std::string>> keys = {
      {"2:1", "user"},
      {"3:1", "metadata"},
      {"4:1", "compute_node_expiration_buffer_seconds"},
      {"7:1", "compute_node_wait_for_healthy_database_minutes"},
      {"8:1", "use_pending_failed"},
      {"9:1", "enable_ro_crate"},
      {"10:1", "access_groups"},
      {"11:1", "dynamic_jobs"},
      {"17:15", "step_nodes"},
      {"19:28", "identifier"},
      {"19:45", "st_mtime"},
      {"21:15", "serialize_allocations"},
      {"23:27", "supports_termination"},
      {"25:104", "persistent"},
  };
  for (const auto& [at, key] : keys) {
    CAPTURE(key);
    std::string want = "test.yaml:" + at + ": warning: '" + key + "' has no effect in torc: ";
    CHECK(std::any_of(w.begin(), w.end(), [&](const std::string& s) { return s.rfind(want, 0) == 0; }));
  }
  CHECK(p.warnings.size() == keys.size());
  // Those torc acts on: the workers' idle timeout, staying at completion, the staggered start
  // and the cap on a worker's jobs.
  CHECK(p.worker_idle_timeout_seconds == 30);
  CHECK(p.execution.sigkill_headroom_seconds == 60);
  CHECK(p.execution.srun_mpi == "pmix");  // mode auto: slurm-mode steps may take it
  CHECK(p.workers_ignore_completion);
  CHECK(p.execution.staggered_start);
  CHECK(p.actions.at(0).max_parallel_jobs == 2);
  for (const char* key : {"compute_node_ignore_workflow_completion", "staggered_start",
                          "max_parallel_jobs"}) {
    CAPTURE(key);
    CHECK(std::none_of(w.begin(), w.end(), [&](const std::string& s) {
      return s.find("'" + std::string(key) + "'") != std::string::npos;
    }));
  }
}

TEST_CASE("max_parallel_jobs, staggered_start and compute_node_ignore_workflow_completion: "
          "values, defaults, ranges") {
  const std::string head = R"(name: w
jobs:
  - {name: a, command: x, scheduler: s}
slurm_schedulers:
  - {name: s}
)";
  Plan d = Parse(head + "actions:\n  - {trigger_type: on_workflow_start, action_type: "
                        "schedule_nodes, scheduler: s}\n");
  CHECK(d.actions.at(0).max_parallel_jobs == 0);  // no cap
  CHECK_FALSE(d.execution.staggered_start);         // torc's default (Torc's is true)
  CHECK_FALSE(d.workers_ignore_completion);
  Plan off = Parse(head + "execution_config: {staggered_start: false}\n"
                          "compute_node_ignore_workflow_completion: false\n");
  CHECK_FALSE(off.execution.staggered_start);
  CHECK_FALSE(off.workers_ignore_completion);
  Plan top = Parse(head + "actions:\n  - {trigger_type: on_workflow_start, action_type: "
                          "schedule_nodes, scheduler: s, max_parallel_jobs: 100000}\n");
  CHECK(top.actions.at(0).max_parallel_jobs == 100000);
  CHECK(top.warnings.empty());
  // torc plan --json shows them (docs/plan-json.md).
  const nlohmann::json tj = PlanToJson(top);
  CHECK(tj["actions"][0]["max_parallel_jobs"] == 100000);
  CHECK(tj["execution_config"]["staggered_start"] == false);
  CHECK(tj["workers_ignore_completion"] == false);
  CHECK(PlanToJson(d)["actions"][0]["max_parallel_jobs"].is_null());
  Plan on = Parse(head + "execution_config: {staggered_start: true}\n"
                         "compute_node_ignore_workflow_completion: true\n");
  CHECK(PlanToJson(on)["execution_config"]["staggered_start"] == true);
  CHECK(PlanToJson(on)["workers_ignore_completion"] == true);

  auto action = [&](const std::string& value) {
    return Errors(head + "actions:\n  - {trigger_type: on_workflow_start, action_type: "
                         "schedule_nodes, scheduler: s, max_parallel_jobs: " + value + "}\n");
  };
  CHECK(action("0") == std::vector<std::string>{
                           "t.yaml:7:101: 'max_parallel_jobs' of action #1 must be between 1 and "
                           "100000, not 0"});
  CHECK(action("100001") == std::vector<std::string>{
                                "t.yaml:7:101: 'max_parallel_jobs' of action #1 must be between 1 "
                                "and 100000, not 100001"});
  CHECK(action("many") == std::vector<std::string>{
                              "t.yaml:7:101: 'max_parallel_jobs' of action #1 must be an integer, "
                              "not 'many'"});
  CHECK(Errors(head + "execution_config:\n  staggered_start: 3\n") ==
        std::vector<std::string>{
            "t.yaml:7:20: 'staggered_start' of execution_config must be true or false, not '3'"});
  CHECK(Errors(head + "compute_node_ignore_workflow_completion: sometimes\n") ==
        std::vector<std::string>{"t.yaml:6:42: 'compute_node_ignore_workflow_completion' of the "
                                 "workflow must be true or false, not 'sometimes'"});

  // On a run_commands action it means nothing: a warning at the key, as Torc ignores it there.
  Plan rc = Parse(head + "actions:\n  - {trigger_type: on_workflow_start, action_type: "
                         "run_commands, commands: [x], max_parallel_jobs: 3}\n");
  REQUIRE(rc.warnings.size() == 1);
  CHECK(rc.warnings[0].ToString() ==
        "test.yaml:7:81: warning: 'max_parallel_jobs' has no effect in torc on action #1 "
        "(run_commands): it limits the workers of a schedule_nodes action's allocations");
}

TEST_CASE("srun_mpi: one safe word; in direct mode it needs a start_one_worker_per_node action") {
  const std::string head = "name: w\njobs: [{name: a, command: x}]\nexecution_config:\n";
  auto warnings = [](const Plan& p) {
    std::vector<std::string> w;
    for (const auto& d : PlanWarnings(p)) w.push_back(d.ToString());
    return w;
  };
  auto bad = ParsePlan(head + "  srun_mpi: \"pmix; rm -rf /\"\n", "test.yaml");
  REQUIRE(!bad.ok());
  CHECK(bad.errors[0].ToString() ==
        "test.yaml:4:13: srun_mpi must be one word of letters, digits and '+_.-' (an MPI plugin "
        "of 'srun --mpi=list', such as pmix or none)");
  Plan direct = Parse(head + "  mode: direct\n  srun_mpi: pmix\n");
  auto w = warnings(direct);
  CHECK(std::count_if(w.begin(), w.end(), [](const std::string& s) {
          return s.rfind("test.yaml:5:13: warning: 'srun_mpi' has no effect in torc: ", 0) == 0;
        }) == 1);
  Plan per_node = Parse(head + "  mode: direct\n  srun_mpi: pmix\n"
                        "slurm_schedulers: [{name: s, nodes: 2}]\n"
                        "actions:\n  - {trigger_type: on_workflow_start, action_type: schedule_nodes,"
                        " scheduler: s, start_one_worker_per_node: true}\n");
  w = warnings(per_node);
  CHECK(std::none_of(w.begin(), w.end(),
                     [](const std::string& s) { return s.find("'srun_mpi'") != std::string::npos; }));
  CHECK(per_node.execution.srun_mpi == "pmix");
}
