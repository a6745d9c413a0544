// The digest of a job's definition (spec/digest.h): what changes it and what does not.
#include <doctest/doctest.h>

#include "spec/digest.h"
#include "tests/spec/parse_ok.h"

using namespace torc::spec;

namespace {

Plan Parse(const std::string& text) {
  return torc::test::ParseOk(text);
}

/// A one-job workflow with `job_extra` added to the job and `top_extra` to the workflow.
std::string Workflow(const std::string& job_extra, const std::string& top_extra = "") {
  return "name: w\n" + top_extra +
         "files:\n"
         "  - {name: in, path: data/in.csv}\n"
         "  - {name: out, path: out/o.csv}\n"
         "  - {name: other, path: data/other.csv}\n"
         "user_data:\n"
         "  - {name: cfg, data: {alpha: 1}}\n"
         "  - {name: cfg2, data: {alpha: 2}}\n"
         "resource_requirements:\n"
         "  - {name: small, num_cpus: 1, memory: 1g, runtime: PT10M}\n"
         "  - {name: big, num_cpus: 4, memory: 1g, runtime: PT10M}\n"
         "  - {name: small_again, num_cpus: 1, memory: 1g, runtime: PT10M}\n"
         "jobs:\n"
         "  - name: a\n" +
         job_extra;
}

const std::string kBase =
    "    command: run {x}\n"
    "    parameters: {x: '1:1'}\n"
    "    input_files: [in]\n"
    "    output_files: [out]\n"
    "    input_user_data: [cfg]\n"
    "    resource_requirements: small\n";

JobDigest DigestOfText(const std::string& text) {
  Plan p = Parse(text);
  REQUIRE(p.jobs.size() == 1);
  return DigestOf(p, p.jobs[0]);
}

std::vector<std::string> Changes(const std::string& job_extra, const std::string& top = "") {
  return DescribeChanges(DigestOfText(Workflow(kBase)), DigestOfText(Workflow(job_extra, top)));
}

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  size_t at = s.find(from);
  REQUIRE(at != std::string::npos);
  return s.replace(at, from.size(), to);
}

}  // namespace

TEST_CASE("digest: the same definition gives the same digest, parsed twice") {
  JobDigest a = DigestOfText(Workflow(kBase)), b = DigestOfText(Workflow(kBase));
  CHECK(a == b);
  CHECK(a.Combined() == b.Combined());
  CHECK(DescribeChanges(a, b).empty());
}

TEST_CASE("digest: each part of the definition changes it, and says which") {
  using V = std::vector<std::string>;
  CHECK(Changes(Replace(kBase, "run {x}", "run {x} --fast")) == V{"command changed"});
  // The expanded command: the parameter's value is part of it.
  CHECK(Changes(Replace(kBase, "'1:1'", "'2:2'")) == V{"command changed"});
  CHECK(Changes(kBase + "    invocation_script: bash -x\n") == V{"invocation_script changed"});
  CHECK(Changes(kBase + "    env: {SEED: '1'}\n") == V{"env changed"});
  CHECK(Changes(kBase, "env: {SEED: '1'}\n") == V{"env changed"});  // the workflow's env
  CHECK(Changes(Replace(kBase, "small", "big")) == V{"resources changed"});
  CHECK(Changes(Replace(kBase, "[in]", "[other]")) == V{"input_files changed"});
  CHECK(Changes(Replace(kBase, "[out]", "[other]")) == V{"output_files changed"});
  CHECK(Changes(Replace(kBase, "[cfg]", "[cfg2]")) == V{"input user_data changed"});
  CHECK(Changes(kBase + "    output_user_data: [cfg2]\n") == V{"output user_data changed"});
  CHECK(Changes(Replace(Replace(kBase, "run {x}", "go"), "small", "big")) ==
        V{"command changed", "resources changed"});
}

TEST_CASE("digest: a user_data value the job reads is part of it") {
  std::string changed = Replace(Workflow(kBase), "{alpha: 1}", "{alpha: 3}");
  CHECK(DescribeChanges(DigestOfText(Workflow(kBase)), DigestOfText(changed)) ==
        std::vector<std::string>{"input user_data changed"});
}

TEST_CASE("digest: what does not change a result is not part of it") {
  // The requirements' name, the priority, the stdio: the same result.
  CHECK(Changes(Replace(kBase, "small", "small_again")).empty());
  CHECK(Changes(kBase + "    priority: 5\n").empty());
  CHECK(Changes(kBase + "    stdio: {mode: combined}\n").empty());
  // A file's name is not its path: renaming the entry changes nothing.
  std::string renamed = Replace(Replace(Workflow(kBase), "{name: in,", "{name: input,"),
                                "input_files: [in]", "input_files: [input]");
  CHECK(DescribeChanges(DigestOfText(Workflow(kBase)), DigestOfText(renamed)).empty());
}
