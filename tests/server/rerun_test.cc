// The update rule (server/rerun.h): which jobs of a stored workflow run again once its file is
// read again, and when a file cannot update a workflow in place.
#include "server/rerun.h"
#include "tests/spec/parse_ok.h"

#include <doctest/doctest.h>

#include <map>

using namespace torc::server;
using torc::spec::Plan;

namespace {

Plan Parse(const std::string& text) {
  return torc::test::ParseOk(text);
}

// prep reads data/raw.csv -> train_{1,2,3} read prep's output, write models -> report.
std::string Pipeline(const std::string& train_command = "train {i}", int trains = 3) {
  std::string n = std::to_string(trains);
  return R"(name: p
files:
  - {name: raw, path: data/raw.csv}
  - {name: clean, path: out/clean.csv}
  - {name: 'model_{i}', path: 'models/m{i}.bin', parameters: {i: "1:)" + n + R"("}}
jobs:
  - {name: prep, command: prep, input_files: [raw], output_files: [clean]}
  - name: train_{i}
    command: )" + train_command + R"(
    input_files: [clean]
    output_files: ['model_{i}']
    parameters: {i: "1:)" + n + R"("}
  - {name: report, command: report, input_files: ['model_1', 'model_2', 'model_3']}
)";
}

/// The rule's answer as job name -> reasons.
struct Case {
  Plan old_plan = Parse(Pipeline()), new_plan = Parse(Pipeline());
  FileStamps old_stamps{{"data/raw.csv", {10, 1000, ""}}}, new_stamps{{"data/raw.csv", {10, 1000, ""}}};
  std::set<std::string> missing;
  std::vector<JobDynamic> states = std::vector<JobDynamic>(5, {JobStatus::kCompleted, 1});

  std::map<std::string, std::vector<std::string>> Rerun() const {
    RerunFacts facts{&old_plan, &new_plan, &old_stamps, &new_stamps, &missing, &states};
    std::map<std::string, std::vector<std::string>> out;
    for (const auto& r : DecideReruns(facts).rerun) out[new_plan.jobs[r.job].name] = r.reasons;
    return out;
  }
};

using Reasons = std::map<std::string, std::vector<std::string>>;
const std::vector<std::string> kUpstreamPrep{"upstream job 'prep' reruns"};

}  // namespace

TEST_CASE("rerun: nothing changed, nothing runs") {
  Case c;
  CHECK(UpdateScopeProblem(c.old_plan, c.new_plan).empty());
  CHECK(c.Rerun().empty());
}

TEST_CASE("rerun: a changed pure input reruns its reader and everything downstream") {
  Case c;
  c.new_stamps["data/raw.csv"].mtime_ns = 2000;
  Reasons r = c.Rerun();
  CHECK(r.size() == 5);
  CHECK(r["prep"] == std::vector<std::string>{"input file data/raw.csv changed"});
  CHECK(r["train_2"] == kUpstreamPrep);
  CHECK(r["report"].size() == 1);
  CHECK(r["report"][0].find("upstream job 'train_") == 0);
  c.new_stamps["data/raw.csv"] = {11, 1000, ""};  // the size alone
  CHECK(c.Rerun().size() == 5);
  c.new_stamps.clear();  // gone
  CHECK(c.Rerun()["prep"] == std::vector<std::string>{"input file data/raw.csv is gone"});
}

TEST_CASE("rerun: an input without a recorded stamp is not compared; a produced file never is") {
  Case c;
  c.old_stamps.clear();
  c.new_stamps["data/raw.csv"].mtime_ns = 5;
  CHECK(c.Rerun().empty());
  // out/clean.csv is prep's output: its stamps say nothing (prep's own state decides).
  Case d;
  d.old_stamps["out/clean.csv"] = {1, 1, ""};
  d.new_stamps["out/clean.csv"] = {2, 2, ""};
  CHECK(d.Rerun().empty());
}

TEST_CASE("rerun: an edited command reruns that job and its dependents only") {
  Case c;
  c.new_plan = Parse(Pipeline("train {i} --epochs {i}"));  // every train_{i} changes
  CHECK(c.Rerun().size() == 4);
  // One job of the sweep edited (as a file listing train_2 on its own would).
  Case d;
  d.new_plan.jobs[2].command += " --fast";
  CHECK(d.Rerun() == Reasons{{"train_2", {"command changed"}},
                     {"report", {"upstream job 'train_2' reruns"}}});
}

TEST_CASE("rerun: a missing output reruns its completed producer and dependents") {
  Case c;
  c.missing = {"models/m1.bin"};
  CHECK(c.Rerun() == Reasons{{"train_1", {"output file models/m1.bin is missing"}},
                             {"report", {"upstream job 'train_1' reruns"}}});
  // A job that did not complete is not judged by its outputs (it never made them).
  c.states[1].status = JobStatus::kFailed;
  c.states[5 - 1].status = JobStatus::kCanceled;
  CHECK(c.Rerun().empty());
}

TEST_CASE("rerun: jobs that have not ended are not listed; a ready dependent waits again") {
  Case c;
  c.new_stamps["data/raw.csv"].size = 99;
  c.states[4].status = JobStatus::kReady;    // report
  c.states[3].status = JobStatus::kBlocked;  // train_3 (as if restarted)
  RerunFacts facts{&c.old_plan, &c.new_plan, &c.old_stamps, &c.new_stamps, &c.missing, &c.states};
  RerunDecision d = DecideReruns(facts);
  REQUIRE(d.rerun.size() == 3);  // prep, train_1, train_2
  CHECK(d.rerun[2].job == 2);
  CHECK(d.wait_again == std::vector<JobIndex>{4});
  // A disabled job stays as it is.
  c.states[1].status = JobStatus::kDisabled;
  CHECK(c.Rerun().count("train_1") == 0);
}

TEST_CASE("rerun: a failed job whose command is fixed runs again") {
  Case c;
  c.states[2] = {JobStatus::kFailed, 1};
  c.states[4] = {JobStatus::kCanceled, 1};
  c.new_plan.jobs[2].command = "train 2 --fixed";
  CHECK(c.Rerun() == Reasons{{"train_2", {"command changed"}},
                             {"report", {"upstream job 'train_2' reruns"}}});
}

TEST_CASE("rerun: a dependency group reaches all its users from any member") {
  const char* text = R"(name: g
jobs:
  - {name: 'a_{i}', command: 'a {i}', parameters: {i: "1:3"}}
  - {name: 'b_{i}', command: 'b {i}', parameters: {i: "1:2"}, depends_on_regexes: ['^a_\d+$']}
)";
  Case c;
  c.old_plan = Parse(text);
  c.new_plan = Parse(text);
  c.states.assign(5, {JobStatus::kCompleted, 1});
  CHECK(UpdateScopeProblem(c.old_plan, c.new_plan).empty());
  c.new_plan.jobs[1].command = "a 2 --again";
  Reasons r = c.Rerun();
  CHECK(r.size() == 3);
  CHECK(r["b_1"] == std::vector<std::string>{"upstream job 'a_2' reruns"});
  CHECK(r["b_2"] == std::vector<std::string>{"upstream job 'a_2' reruns"});
}

TEST_CASE("rerun: other jobs or other dependencies cannot update in place") {
  Plan old_plan = Parse(Pipeline());
  std::string more = Pipeline("train {i}", 5);
  std::string problem = UpdateScopeProblem(old_plan, Parse(more));
  CHECK(problem.find("the jobs changed (5 -> 7 jobs; added 'train_4', 'train_5')") == 0);
  problem = UpdateScopeProblem(Parse(more), old_plan);
  CHECK(problem.find("removed 'train_4', 'train_5'") != std::string::npos);
  // Same jobs, report no longer reads model_3.
  std::string rewired = Pipeline();
  rewired.replace(rewired.find(", 'model_3']"), 12, "]");
  problem = UpdateScopeProblem(old_plan, Parse(rewired));
  CHECK(problem == "the dependencies of 1 job(s) changed: 'report'");
}

TEST_CASE("rerun: stamps read from and written to JSON") {
  FileStamps s;
  std::string error;
  REQUIRE(ParseStamps(nlohmann::json::parse(R"({"a.csv": [3, 1700000000123456789]})"), &s, &error));
  CHECK(s["a.csv"] == FileStamp{3, 1700000000123456789, ""});
  CHECK(StampsJson(s).dump() == R"({"a.csv":[3,1700000000123456789]})");
  CHECK_FALSE(ParseStamps(nlohmann::json::parse(R"({"a.csv": [3]})"), &s, &error));
  CHECK(error == "input_stamps[\"a.csv\"] must be [size, mtime_ns] (two integers) or "
                 "[size, mtime_ns, \"hash\"] (a hash of 1 to 128 characters)");
  // With a content hash (--hash): a third element, kept as it is.
  REQUIRE(ParseStamps(nlohmann::json::parse(R"({"a.csv": [3, 5, "fnv1a64:00ff"]})"), &s, &error));
  CHECK(s["a.csv"].hash == "fnv1a64:00ff");
  CHECK(StampsJson(s).dump() == R"({"a.csv":[3,5,"fnv1a64:00ff"]})");
  CHECK_FALSE(ParseStamps(nlohmann::json::parse(R"({"a.csv": [3, 5, 7]})"), &s, &error));
  CHECK_FALSE(ParseStamps(nlohmann::json::parse(R"({"a.csv": [3, 5, ""]})"), &s, &error));
  CHECK_FALSE(ParseStamps(nlohmann::json::parse("[]"), &s, &error));
}

TEST_CASE("rerun: with content hashes, a touch is no change and new bytes are") {
  Case c;
  c.old_stamps["data/raw.csv"] = {10, 1000, "fnv1a64:1"};
  c.new_stamps["data/raw.csv"] = {10, 2000, "fnv1a64:1"};  // touched: same bytes
  CHECK(c.Rerun().empty());
  c.new_stamps["data/raw.csv"] = {10, 1000, "fnv1a64:2"};  // same size and time, new bytes
  CHECK(c.Rerun()["prep"] == std::vector<std::string>{"input file data/raw.csv changed"});
  // Only one side hashed (an update without --hash): size and time decide.
  c.new_stamps["data/raw.csv"] = {10, 2000, ""};
  CHECK(c.Rerun().size() == 5);
  c.new_stamps["data/raw.csv"] = {10, 1000, ""};
  CHECK(c.Rerun().empty());
}
