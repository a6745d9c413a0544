// The KDL reader (spec/kdl.h) and Torc's KDL workflow mapping (spec/kdl_workflow.h): every KDL
// feature reads to the value it means, every error is at the KDL line:col of what it concerns,
// and Torc's KDL examples plan like their YAML (or JSON5) twins.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "spec/kdl.h"
#include "spec/plan.h"
#include "tests/spec/parse_ok.h"

using namespace torc::spec;

namespace {

Plan Parse(const std::string& text, const std::string& name = "t.kdl") {
  return torc::test::ParseOk(text, name);
}

std::string FirstError(const std::string& text, const std::string& name = "t.kdl") {
  LoadResult r = ParsePlan(text, name);
  REQUIRE_FALSE(r.ok());
  return r.errors.front().ToString();
}

std::string AllErrors(const std::string& text, const std::string& name = "t.kdl") {
  LoadResult r = ParsePlan(text, name);
  std::string all;
  for (const auto& e : r.errors) all += e.ToString() + "\n";
  return all;
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in, "cannot read ", path.string());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

const Job& JobNamed(const Plan& p, const std::string& name) {
  for (const auto& j : p.jobs)
    if (j.name == name) return j;
  FAIL("no job ", name);
  return p.jobs.front();
}

std::vector<std::string> ParentNames(const Plan& p, const Job& job) {
  std::vector<std::string> names;
  for (Index k : p.AllParents(job)) names.push_back(p.jobs[k].name);
  return names;
}

}  // namespace

TEST_CASE("kdl: the document parser reads nodes, values, properties and blocks") {
  std::vector<KdlNode> nodes;
  KdlError error;
  REQUIRE(ParseKdl("a 1 -2 0x1F 0o17 0b101 1_000 2.5e3 #true #false false #null #inf #-inf #nan "
                   "k=\"v\" (t)x\nb { c; d \"e\" }\n",
                   &nodes, &error));
  REQUIRE(nodes.size() == 2);
  std::vector<std::string> texts;
  for (const auto& v : nodes[0].args) texts.push_back(v.text);
  CHECK(texts == std::vector<std::string>{"1", "-2", "31", "15", "5", "1000", "2.5e3", "true",
                                          "false", "false", "", ".inf", "-.inf", ".nan", "x"});
  CHECK(nodes[0].args[10].type == KdlValue::Type::kNull);
  CHECK(nodes[0].args[14].type == KdlValue::Type::kString);
  CHECK(nodes[0].args[14].loc.column == 86);  // after its dropped (t)
  REQUIRE(nodes[0].properties.size() == 1);
  CHECK(nodes[0].properties[0].key == "k");
  CHECK(nodes[0].properties[0].value.text == "v");
  CHECK(nodes[1].has_children);
  CHECK(nodes[1].children_loc.line == 2);
  CHECK(nodes[1].children_loc.column == 3);
  REQUIRE(nodes[1].children.size() == 2);
  CHECK(nodes[1].children[1].loc.column == 8);
}

TEST_CASE("kdl: comments, slashdash, strings, numbers, ';' and line continuations") {
  Plan p = Parse(R"KDL(// a workflow
/* a block /* nested */ comment */
"name" "w"; description """
    multi
      line
    """
/-project "dropped"
env { LOG_LEVEL info; RAW_PATH #"C:\raw\"path"#; V1_RAW r"a\b" }
resource_requirements "r" {
    num_cpus (u8)0x4
    memory "1g" /-"2g"
    runtime "PT1M"
}
job "a" {
    command "echo \"hi\"\t\u{e9}\s\
             joined"
    priority 0b1_0000
    resource_requirements "r"
}
job "b" command="true" {
    depends_on_job "a"
    cancel_on_blocking_job_failure false
}
/-job "c" { command "x" }
job "d" /-{ command "dropped" } {
    command "x" ; depends_on a b
    invocation_script #"""
        raw \n
        """#
    priority \
      7
}
failure_handler "h" {
    rule {
        exit_codes 1 2_0
        max_retries 3
        memory_multiplier 1.5e0
    }
}
)KDL");
  CHECK(p.name == "w");
  CHECK(p.description == "multi\n  line");
  CHECK(p.project.empty());
  CHECK(p.env == std::vector<std::pair<std::string, std::string>>{
                     {"LOG_LEVEL", "info"}, {"RAW_PATH", "C:\\raw\\\"path"}, {"V1_RAW", "a\\b"}});
  REQUIRE(p.jobs.size() == 3);
  CHECK(p.jobs[0].command == "echo \"hi\"\t\xC3\xA9 joined");
  CHECK(p.jobs[0].priority == 16);
  CHECK(p.resource_requirements[0].num_cpus == 4);
  CHECK(p.resource_requirements[0].memory_bytes == 1 << 30);
  CHECK(p.jobs[1].command == "true");
  CHECK_FALSE(p.jobs[1].cancel_on_blocking_job_failure);
  CHECK(ParentNames(p, p.jobs[1]) == std::vector<std::string>{"a"});
  CHECK(p.jobs[2].name == "d");
  CHECK(p.jobs[2].command == "x");
  CHECK(p.jobs[2].invocation_script == "raw \\n");
  CHECK(p.jobs[2].priority == 7);
  CHECK(ParentNames(p, p.jobs[2]) == std::vector<std::string>{"a", "b"});
  REQUIRE(p.failure_handlers.size() == 1);
  CHECK(p.failure_handlers[0].rules[0].exit_codes == std::vector<int64_t>{1, 20});
  CHECK(p.failure_handlers[0].rules[0].max_retries == 3);
  CHECK(p.failure_handlers[0].rules[0].memory_multiplier == 1.5);
}

TEST_CASE("kdl: Torc's nodes map onto the workflow's keys and lists") {
  Plan p = Parse(R"KDL(name "w"
parameters { i "1:2" }
file "in" path="in.txt"
file "out_{i}" { path "out_{i}.txt"; use_parameters "i" }
user_data "meta" {
    is_ephemeral #true
    data "{\"k\": [1, 2]}"
}
job "make_{i}" {
    command "make {i}"
    input_file "in"
    output_file "out_{i}"
    output_user_data "meta"
    use_parameters "i"
}
slurm_scheduler "s" { account "acct"; nodes 2; walltime "01:00:00" }
job "use" {
    command "use"
    input_files "out_1" "out_2"
    input_user_data "meta"
    depends_on_regexes "^make_"
    scheduler "s"
}
action {
    trigger_type "on_workflow_start"
    action_type "run_commands"
    command "echo one"
    command "echo two"
}
action {
    trigger_type "on_jobs_ready"
    action_type "schedule_nodes"
    scheduler "s"
    job "use"
    jobs "make_1" "make_2"
}
execution_config {
    mode "direct"
    stdio { mode "combined"; delete_on_success #true; }
}
// The form of Torc's priority how-to: a block of job nodes, names as children.
jobs {
    job { name "late"; command "late"; priority 100; depends_on_job "use"; }
}
)KDL");
  REQUIRE(p.jobs.size() == 4);
  CHECK(p.files.size() == 3);
  CHECK(p.files[2].path == "out_2.txt");
  CHECK(p.user_data[0].data_json == R"({"k":[1,2]})");
  CHECK(p.user_data[0].is_ephemeral);
  const Job& use = JobNamed(p, "use");
  CHECK(ParentNames(p, use) == std::vector<std::string>{"make_1", "make_2"});
  CHECK(use.input_files.size() == 2);
  CHECK(use.scheduler == 0);
  CHECK(JobNamed(p, "late").priority == 100);
  CHECK(ParentNames(p, JobNamed(p, "late")) == std::vector<std::string>{"use"});
  REQUIRE(p.actions.size() == 2);
  CHECK(p.actions[0].commands == std::vector<std::string>{"echo one", "echo two"});
  CHECK(p.actions[1].jobs.size() == 3);
  CHECK(p.schedulers[0].nodes == 2);
  CHECK(p.execution.mode == ExecutionMode::kDirect);
  CHECK(p.execution.stdio.mode == StdioMode::kCombined);
  CHECK(p.execution.stdio.delete_on_success);
  // A name longer than the 1024 characters YAML allows a plain key.
  Plan long_name = Parse("name \"w\"\nenv { " + std::string(2000, 'A') +
                         " \"v\" }\njob \"a\" { command \"x\"; }\n");
  REQUIRE(long_name.env.size() == 1);
  CHECK(long_name.env[0].first.size() == 2000);
}

TEST_CASE("kdl: errors in the KDL itself say what and where") {
  CHECK(FirstError("name \"w\"\njob \"a\" {\n  command \"x\n}\n") ==
        "t.kdl:3:13: invalid KDL: a line break inside a \"string\" (write \\n, or use a \"\"\" "
        "multi-line string)");
  CHECK(FirstError("name \"w\"\njob \"a\" {\n  command \"x\"\n") ==
        "t.kdl:2:9: invalid KDL: a '{' block is not closed with '}'");
  CHECK(FirstError("name \"w\"\n}\n") == "t.kdl:2:1: invalid KDL: '}' closes no '{' block");
  CHECK(FirstError("name #maybe\n") ==
        "t.kdl:1:6: invalid KDL: unknown keyword '#maybe' (KDL has #true, #false, #null, #inf, "
        "#-inf and #nan)");
  CHECK(FirstError("name 12ab\n") == "t.kdl:1:6: invalid KDL: '12ab' is not a number");
  CHECK(FirstError("name 0xFFFFFFFFFFFFFFFFF\n") == "t.kdl:1:6: invalid KDL: the number is too large");
  CHECK(FirstError("name .5\n") == "t.kdl:1:6: invalid KDL: a number needs a digit before its '.'");
  CHECK(FirstError("name inf\n") == "t.kdl:1:6: invalid KDL: 'inf' is written #inf (or \"inf\" for "
                                    "the string)");
  CHECK(FirstError("name \"a\\qb\"\n") == "t.kdl:1:8: invalid KDL: \\q is not an escape in KDL");
  CHECK(FirstError("name \"\\u{d800}\"\n") ==
        "t.kdl:1:7: invalid KDL: \\u{} escape of 55296, which is no Unicode scalar value");
  CHECK(FirstError("name \"w\" {} \"x\"\n") ==
        "t.kdl:1:13: invalid KDL: unexpected '\"' after a node's '{' block (end the node with a "
        "line break or ';')");
  CHECK(FirstError("name\"w\"\n") ==
        "t.kdl:1:5: invalid KDL: unexpected '\"' (separate a node's values with a space)");
  CHECK(FirstError("name \"w\"\n/* open\n") ==
        "t.kdl:2:1: invalid KDL: a /* comment is not closed with */");
  CHECK(FirstError("name \"w\" \\ oops\n") ==
        "t.kdl:1:10: invalid KDL: a '\\' outside a string must end its line (it continues the "
        "node on the next line)");
  CHECK(FirstError("name \"\"\"\n  a\n b\n  \"\"\"\n") ==
        "t.kdl:1:6: invalid KDL: line 2 of a multi-line string is not indented like its closing "
        "quotes");
  CHECK(FirstError("name #\"raw") == "t.kdl:1:6: invalid KDL: a raw string is not closed with \"#");
  CHECK(FirstError("name #\"raw\n\"#") ==
        "t.kdl:1:11: invalid KDL: a line break inside a raw string (use a #\"\"\" multi-line "
        "string)");
  CHECK(FirstError("name a=\n") == "t.kdl:1:8: invalid KDL: a value is missing after 'a='");
  CHECK(FirstError("name \"w\" { a } { b }\n") ==
        "t.kdl:1:16: invalid KDL: a node has one '{' block of children, not two");
  std::string deep;
  for (int k = 0; k < 600; ++k) deep += "a {";
  CHECK(FirstError(deep) == "t.kdl:1:1539: invalid KDL: '{' blocks nested deeper than 512 levels");
}

TEST_CASE("kdl: KDL that is no workflow setting says what and where") {
  CHECK(FirstError("name \"w\"\njob \"a\" \"b\" { command \"x\"; }\n") ==
        "t.kdl:2:9: 'job' takes one value, its name: write its other settings in its { } block "
        "or as key=value");
  CHECK(FirstError("name \"w\"\naction \"x\" { command \"y\"; }\n") ==
        "t.kdl:2:8: 'action' takes no value here: write its settings in its { } block");
  CHECK(FirstError("name \"w\"\njob \"a\" { depends_on_job; command \"x\"; }\n") ==
        "t.kdl:2:11: 'depends_on_job' needs at least one value");
  CHECK(FirstError("name \"w\"\njob \"a\" { input_file { x 1; }; command \"x\"; }\n") ==
        "t.kdl:2:22: 'input_file' takes values, not a { } block or key=value");
  CHECK(FirstError("name \"w\"\nuser_data \"d\" { data \"{oops\"; }\n") ==
        "t.kdl:2:22: 'data' of user_data is a string of JSON text (as Torc reads it), and this "
        "one is not JSON (byte 2)");
  CHECK(FirstError("name \"w\"\njobs {\n  job { name \"a\"; command \"x\"; }\n  task \"b\"\n}\n") ==
        "t.kdl:4:3: 'jobs' { } holds 'job' nodes, not 'task'");
}

TEST_CASE("kdl: later errors and warnings point at the KDL node or value they concern") {
  // Sections interleaved (jobs, a file, jobs again): every position still lands in the file.
  const std::string text = R"KDL(name "w"
job "a" {
    command "x"
    comand "y"
}
resource_requirements "r" {
    num_cpus "many"
}
file "f" path="p"
job "b" {
    command "x"
    depends_on_job "zzz"
}
job "a" { command "again"; }
)KDL";
  CHECK(AllErrors(text) ==
        "t.kdl:4:5: unknown key 'comand' in job 'a'; did you mean 'command'?\n"
        "t.kdl:7:14: 'num_cpus' of resource requirement 'r' must be an integer, not the string "
        "\"many\"\n");
  const std::string names = "name \"w\"\njob \"a\" { command \"x\"; }\nfile \"f\" path=\"p\"\n"
                            "job \"b\" {\n  command \"x\"\n  depends_on_job \"zzz\"\n}\n";
  CHECK(AllErrors(names) ==
        "t.kdl:6:18: depends_on of job 'b' names job 'zzz', which is not defined\n");
  // The line in the message is the KDL line too.
  CHECK(AllErrors(names + "job \"a\" { command \"y\"; }\n") ==
        "t.kdl:8:5: duplicate job name 'a' (first defined at line 2)\n");
  CHECK(AllErrors("job \"a\" { command \"x\"; }\n") == "t.kdl:1:1: the workflow needs 'name'\n");
  // A warning of the plan, at the KDL line of its key.
  Plan p = Parse("name \"w\"\njob \"a\" { command \"x\"; }\nresource_monitor {\n"
                 "    compute_node { enabled #true; }\n}\n");
  REQUIRE_FALSE(p.warnings.empty());
  CHECK(p.warnings[0].ToString().rfind("t.kdl:4:5: warning: ", 0) == 0);
  // A key torc does not act on, at its KDL line.
  Plan q = Parse("name \"w\"\nuse_pending_failed #true\njob \"a\" { command \"x\"; }\n");
  REQUIRE(q.warnings.size() == 1);
  CHECK(q.warnings[0].ToString().rfind(
            "t.kdl:2:1: warning: 'use_pending_failed' has no effect in torc", 0) == 0);
}

TEST_CASE("kdl: chosen by name or by content") {
  const std::string text = "// a comment\nname \"w\"\njob \"a\" { command \"x\"; }\n";
  CHECK(Parse(text, "w.kdl").name == "w");
  CHECK(Parse(text, "w.txt").name == "w");
  CHECK(Parse(text, "w.yaml").name == "w");  // a KDL file misnamed .yaml
  CHECK(Parse("job \"a\" {\n  command \"x\"\n}\nname w\n", "w").name == "w");
  // YAML and JSON5 stay what they are.
  CHECK(Parse("name: w\njobs: [{name: a, command: x}]\n", "w.txt").name == "w");
  CHECK(Parse("// c\n{name: 'w', jobs: [{name: 'a', command: 'x'}]}\n", "w.txt").name == "w");
  CHECK(FirstError("// c\nname: 'w'\n", "w.txt").find("invalid JSON5") != std::string::npos);
}

TEST_CASE("input that is no workflow format gets one line, its text not echoed") {
  // Binary data: the first control byte.
  std::string gz("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03", 10);
  CHECK(AllErrors(gz, "w.yaml") ==
        "w.yaml:1:1: the file holds the control byte 0x1F (is it binary?); a workflow file is "
        "YAML, JSON, JSON5 or KDL text\n");
  CHECK(AllErrors(std::string("ab\0cd", 5), "w.kdl") ==
        "w.kdl:1:3: the file holds the control byte 0x00 (is it binary?); a workflow file is "
        "YAML, JSON, JSON5 or KDL text\n");
  CHECK(AllErrors("\xff\xfe" + std::string(3000, 'x'), "w.yaml") ==
        "w.yaml:1:1: the file is not valid UTF-8 (byte 0xFF); a workflow file is YAML, JSON, "
        "JSON5 or KDL text\n");
  // Another text format: a short quote of its start.
  CHECK(AllErrors("<?xml version=\"1.0\"?>\n<workflow name=\"w\">" + std::string(5000, 'x') +
                      "</workflow>\n",
                  "w.yaml") ==
        "w.yaml:1:1: a workflow file must be a mapping with 'name' and 'jobs', not a text starting "
        "'<?xml version=\"1.0\"?> <workflo...' (a workflow file is YAML, JSON, JSON5 or KDL)\n");
}

TEST_CASE("kdl: every Torc KDL example in ../shared plans like its twin") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(TORC_SHARED_EXAMPLES) / "torc";
  REQUIRE_MESSAGE(fs::is_directory(dir / "kdl"), "the shared examples are not at ", dir.string(),
                  " (tests read them from ../shared)");
  // Which twin each file is compared with. Torc's own files differ in places: where the YAML
  // twin is another workflow, the JSON5 twin is used; where both are, the test says how.
  std::set<std::string> seen;
  auto plan = [&](const std::string& stem) {
    const fs::path path = dir / "kdl" / (stem + ".kdl");
    CAPTURE(path.string());
    seen.insert(stem);
    return Parse(ReadFile(path), path.string());
  };
  auto same_jobs = [](const Plan& k, const Plan& t, bool commands) {
    REQUIRE(k.jobs.size() == t.jobs.size());
    for (size_t j = 0; j < k.jobs.size(); ++j) {
      CAPTURE(k.jobs[j].name);
      CHECK(k.jobs[j].name == t.jobs[j].name);
      if (commands) CHECK(k.jobs[j].command == t.jobs[j].command);
      CHECK(ParentNames(k, k.jobs[j]) == ParentNames(t, t.jobs[j]));
    }
  };
  auto yaml = [&](const std::string& stem) {
    return Parse(ReadFile(dir / (stem + ".yaml")), stem + ".yaml");
  };
  auto json5 = [&](const std::string& stem) {
    return Parse(ReadFile(dir / "json5" / (stem + ".json5")), stem + ".json5");
  };

  same_jobs(plan("diamond_workflow"), yaml("diamond_workflow"), true);
  same_jobs(plan("workflow_actions_simple"), yaml("workflow_actions_simple"), true);
  // The YAML has five jobs (two more stages); the JSON5 is the KDL's workflow.
  same_jobs(plan("workflow_actions_simple_slurm"), json5("workflow_actions_simple_slurm"), true);
  // Torc's KDL writes commands with ${files.input.NAME} of other paths than the YAML and JSON5
  // (e.g. /data/input/raw_data.csv for input_data.csv): the same jobs and dependencies.
  same_jobs(plan("sample_workflow"), yaml("sample_workflow"), false);
  same_jobs(plan("sample_workflow"), json5("sample_workflow"), false);
  {
    // The YAML and JSON5 have the 100 jobs only; the KDL adds 'postprocess' after all of them
    // (depends_on_regexes "job_\\d+").
    Plan k = plan("hundred_jobs_parameterized");
    Plan y = yaml("hundred_jobs_parameterized");
    REQUIRE(k.jobs.size() == 101);
    Plan first100 = k;
    first100.jobs.pop_back();
    same_jobs(first100, y, true);
    CHECK(k.jobs[100].name == "postprocess");
    CHECK(ParentNames(k, k.jobs[100]).size() == 100);
  }
  {
    // The YAML and JSON5 process ten inputs; the KDL three: setup, work_001..003, postprocess.
    Plan k = plan("slurm_staged_pipeline");
    REQUIRE(k.jobs.size() == 5);
    CHECK(ParentNames(k, JobNamed(k, "work_002")) == std::vector<std::string>{"setup"});
    CHECK(ParentNames(k, JobNamed(k, "postprocess")) ==
          std::vector<std::string>{"work_001", "work_002", "work_003"});
    CHECK(k.schedulers.size() == 3);
  }
  {
    // No twin: the three-job chain with two resource sets, as Torc's comments describe.
    Plan k = plan("simple_slurm");
    REQUIRE(k.jobs.size() == 3);
    CHECK(ParentNames(k, JobNamed(k, "finalize")) == std::vector<std::string>{"process"});
    CHECK(k.resource_requirements.size() == 2);
  }
  {
    // No twin: 100 short jobs, 20 long ones and a postprocess job after all of them (both
    // regexes of its depends_on_regexes).
    Plan k = plan("mixed_workload");
    REQUIRE(k.jobs.size() == 121);
    CHECK(k.jobs[0].name == "short_job_001");
    CHECK(k.jobs[119].name == "long_job_020");
    CHECK(ParentNames(k, k.jobs[120]).size() == 120);
  }
  // Every file of the folder was checked above.
  for (const auto& entry : fs::directory_iterator(dir / "kdl"))
    CHECK_MESSAGE(seen.count(entry.path().stem().string()), entry.path().string(), " not checked");
}
