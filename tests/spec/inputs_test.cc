// Inputs checked before start (spec/inputs.h): a declared input that does not exist and that
// no job produces.
#include <doctest/doctest.h>

#include <set>

#include "spec/inputs.h"
#include "tests/spec/parse_ok.h"

using namespace torc::spec;

namespace {

Plan Parse(const std::string& text) {
  return torc::test::ParseOk(text);
}

const char* kPipeline = R"(name: p
files:
  - {name: raw, path: data/raw.csv}
  - {name: clean, path: out/clean.csv}
  - {name: 'model_{i}', path: 'models/m{i}.bin', parameters: {i: "1:3"}}
  - {name: notes, path: notes.txt}
jobs:
  - {name: prep, command: prep, input_files: [raw], output_files: [clean]}
  - name: train_{i}
    command: train {i}
    input_files: [clean, raw]
    output_files: ['model_{i}']
    parameters: {i: "1:3"}
  - {name: report, command: report, input_files: ['model_1', 'model_2', 'model_3']}
)";

}  // namespace

TEST_CASE("inputs: a missing input nothing produces is named with its first reader") {
  Plan p = Parse(kPipeline);
  std::set<std::string> asked;
  auto missing = MissingInputs(p, [&](const std::string& path) {
    asked.insert(path);
    return false;  // nothing exists yet
  });
  // Only data/raw.csv: the others are produced by jobs (and notes.txt is read by no job).
  REQUIRE(missing.size() == 1);
  CHECK(p.files[missing[0].file].path == "data/raw.csv");
  CHECK(p.jobs[missing[0].job].name == "prep");
  CHECK(missing[0].readers == 4);
  CHECK(asked == std::set<std::string>{"data/raw.csv"});
  CHECK(Describe(p, missing[0]) ==
        "job 'prep' reads input file 'raw' (data/raw.csv), which does not exist and which no "
        "job of the workflow produces (and 3 more job(s) read it)");
  // Once it exists, nothing is missing.
  CHECK(MissingInputs(p, [](const std::string& path) { return path == "data/raw.csv"; }).empty());
}

TEST_CASE("inputs: a workflow without files has nothing to check") {
  Plan p = Parse("name: w\njobs: [{name: a, command: x}]\n");
  CHECK(MissingInputs(p, [](const std::string&) { return false; }).empty());
}
