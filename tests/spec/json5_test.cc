// The JSON5 reader (spec/json5.h): every JSON5 feature reads to the value JSON would give,
// positions survive the rewrite, and Torc's JSON5 examples plan like their YAML twins.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "spec/json5.h"
#include "spec/plan.h"
#include "tests/spec/parse_ok.h"

using namespace torc::spec;

namespace {

Plan Parse(const std::string& text, const std::string& name = "t.json5") {
  return torc::test::ParseOk(text, name);
}

std::string FirstError(const std::string& text, const std::string& name = "t.json5") {
  LoadResult r = ParsePlan(text, name);
  REQUIRE_FALSE(r.ok());
  return r.errors.front().ToString();
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in, "cannot read ", path.string());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

TEST_CASE("json5: comments, trailing commas, unquoted keys, single quotes, numbers") {
  Plan p = Parse(R"(// a workflow
{
  name: 'w', /* inline */ description: "it's \"quoted\"",
  resource_requirements: [
    {name: 'r', num_cpus: +0x4, memory: '1g', runtime: 'PT1M',},
  ],
  jobs: [
    {name: 'a', command: 'echo \'hi\'\ttab \x41\u00e9', priority: 0x10, resource_requirements: 'r'},
    {name: "b", command: 'line one \
line two', depends_on: ['a',],},
  ],
  failure_handlers: [{name: 'h', rules: [{exit_codes: [1], max_retries: 2, memory_multiplier: 1.5,
                                          runtime_multiplier: .5e1}]}],
}
)");
  CHECK(p.name == "w");
  CHECK(p.description == "it's \"quoted\"");
  REQUIRE(p.jobs.size() == 2);
  CHECK(p.jobs[0].command == "echo 'hi'\ttab A\xC3\xA9");
  CHECK(p.jobs[0].priority == 16);
  CHECK(p.resource_requirements[0].num_cpus == 4);
  CHECK(p.jobs[1].command == "line one line two");
  CHECK(p.jobs[1].depends_on == std::vector<Index>{0});
  CHECK(p.failure_handlers[0].rules[0].runtime_multiplier == 5);
}

TEST_CASE("json5: a continued string keeps the lines after it where they were") {
  // The unknown key is on line 5 of the file, after a string continued over two lines.
  LoadResult r = ParsePlan("{\n  name: 'a \\\n b \\\n c',\n  jobz: [],\n}\n", "t.json5");
  std::string all;
  for (const auto& e : r.errors) all += e.ToString() + "\n";
  CHECK(all.find("t.json5:5:3: unknown key 'jobz' in the workflow; did you mean 'jobs'?") !=
        std::string::npos);
}

TEST_CASE("json5: chosen by name or by content; strict JSON stays strict") {
  const std::string text = "// c\n{name: 'w', jobs: [{name: 'a', command: 'x'}]}\n";
  CHECK(Parse(text, "w.json5").name == "w");
  CHECK(Parse(text, "w.txt").name == "w");  // starts with a comment
  CHECK(Parse("{name: 'w', jobs: [{name: 'a', command: 'x'}]}", "w.yaml").name == "w");
  // A .json file is JSON: comments are an error there.
  CHECK(FirstError(text, "w.json").find("w.json:1:1: invalid JSON") == 0);
}

TEST_CASE("json5: errors say what and where") {
  CHECK(FirstError("{name: 'w', jobs: [{name: 'a', command: 'x', priority: -Infinity}]}") ==
        "t.json5:1:56: 'priority' of job 'a' must be an integer, not '-.inf'");
  CHECK(FirstError("{\n  name: 'w',\n  jobs: [\n") ==
        "t.json5:3:9: invalid JSON5: an array '[' is not closed with ']'");
  CHECK(FirstError("{name: 'w' / 2}") ==
        "t.json5:1:12: invalid JSON5: '/' starts no comment (a comment is // ... or /* ... */)");
  CHECK(FirstError("{name: '\\1'}") == "t.json5:1:9: invalid JSON5: \\1 is not an escape in JSON5");
  CHECK(FirstError("{name: '\\ud800'}") ==
        "t.json5:1:15: invalid JSON5: \\u escape of a lone UTF-16 surrogate (55296)");
  CHECK(FirstError("{a: 1x}") == "t.json5:1:6: invalid JSON5: unexpected 'x' after a number");
  CHECK(FirstError("{a: 0x}") == "t.json5:1:7: invalid JSON5: expected hex digits after 0x");
  CHECK(FirstError("{} {}") == "t.json5:1:4: invalid JSON5: unexpected '{' after the end of the value");
  CHECK(FirstError("// only a comment\n") == "t.json5:2:1: invalid JSON5: the file has no JSON5 value");
  CHECK(FirstError("[1, 2]") ==
        "t.json5:1:1: a workflow file must be a mapping with 'name' and 'jobs', not a list");
  std::string deep(600, '[');
  CHECK(FirstError("{a: " + deep) == "t.json5:1:516: invalid JSON5: nested deeper than 512 levels");
}

TEST_CASE("json5: a key longer than YAML's 1024-character implicit keys is read") {
  const std::string key(1100, 'k');
  for (const std::string& written : {key, "\"" + key + "\""}) {
    // The key reaches the schema (YAML alone said "end of map flow not found").
    std::string e = FirstError("{name: 'w', jobs: [{name: 'a', command: 'x', " + written +
                               ": 1}]}\n");
    CHECK(e.rfind("t.json5:1:", 0) == 0);
    CHECK(e.find(": unknown key 'kkkk") != std::string::npos);
  }
  // As a user_data value's key it is data, kept whole.
  Plan p = Parse("{name: 'w', jobs: [{name: 'a', command: 'x'}], user_data: [{name: 'u', data: {" +
                 key + ": 1}}]}\n");
  REQUIRE(p.user_data.size() == 1);
  CHECK(p.user_data[0].data_json.find("\"" + key + "\":1") != std::string::npos);
}

TEST_CASE("json5: every Torc JSON5 example in ../shared plans like its YAML twin") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(TORC_SHARED_EXAMPLES) / "torc";
  REQUIRE_MESSAGE(fs::is_directory(dir / "json5"),
                  "the shared examples are not at ", dir.string(), " (tests read them from ../shared)");
  int twins = 0, alone = 0;
  for (const auto& entry : fs::directory_iterator(dir / "json5")) {
    const fs::path path = entry.path();
    CAPTURE(path.string());
    Plan p = Parse(ReadFile(path), path.string());
    CHECK_FALSE(p.jobs.empty());
    fs::path twin = dir / (path.stem().string() + ".yaml");
    // Torc's own files differ here: the YAML has process1..3, the JSON5 one job 'process'.
    if (!fs::exists(twin) || path.stem() == "workflow_actions_simple_slurm") {
      ++alone;
      continue;
    }
    ++twins;
    Plan y = Parse(ReadFile(twin), twin.string());
    REQUIRE(p.jobs.size() == y.jobs.size());
    for (size_t j = 0; j < p.jobs.size(); ++j) {
      CHECK(p.jobs[j].name == y.jobs[j].name);
      std::vector<std::string> a, b;
      for (Index k : p.AllParents(p.jobs[j])) a.push_back(p.jobs[k].name);
      for (Index k : y.AllParents(y.jobs[j])) b.push_back(y.jobs[k].name);
      CHECK(a == b);
    }
  }
  CHECK(twins >= 5);
  CHECK(alone >= 1);
}
