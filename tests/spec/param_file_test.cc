// Parameter values read from a file: `x: "@vals.txt"` (docs/workflow-format.md, "Parameters").
// The file is read through LoadOptions::read_parameter_file; here a map stands in for the disk.
#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "spec/params.h"
#include "spec/plan.h"

using namespace torc::spec;

namespace {

using S = std::vector<std::string>;

std::vector<std::string> FileValues(const std::string& contents, uint64_t limit = 1000) {
  std::vector<ParamValue> values;
  std::string error;
  REQUIRE_MESSAGE(ParseParameterFile(contents, limit, &values, &error), error);
  std::vector<std::string> out;
  for (const auto& v : values) out.push_back(v.ToString());
  return out;
}

std::string FileError(const std::string& contents, uint64_t limit = 1000) {
  std::vector<ParamValue> values;
  std::string error;
  CHECK_FALSE(ParseParameterFile(contents, limit, &values, &error));
  return error;
}

// Reads "files" from a map, counting the reads of each path.
struct FakeFiles {
  std::map<std::string, std::string> files;
  std::map<std::string, int> reads;

  LoadOptions Options() {
    LoadOptions o;
    o.read_parameter_file = [this](const std::string& path, std::string* contents,
                                   std::string* error) {
      ++reads[path];
      auto it = files.find(path);
      if (it == files.end()) {
        *error = "No such file or directory (/home/u/" + path + ")";
        return false;
      }
      *contents = it->second;
      return true;
    };
    return o;
  }
};

LoadResult Load(const std::string& text, const LoadOptions& options,
                const std::string& name = "wf.yaml") {
  return ParsePlan(text, name, Format::kAuto, options);
}

S JobNames(const LoadResult& r) {
  std::string errors;
  for (const auto& e : r.errors) errors += e.ToString() + "\n";
  REQUIRE_MESSAGE(r.ok(), errors);
  S names;
  for (const auto& j : r.plan->jobs) names.push_back(j.name);
  return names;
}

S Errors(const LoadResult& r) {
  CHECK_FALSE(r.ok());
  S out;
  for (const auto& e : r.errors) out.push_back(e.ToString());
  return out;
}

const char* kSweep =
    "name: w\n"
    "jobs:\n"
    "  - name: j_{x}\n"
    "    command: echo {x}\n"
    "    parameters:\n"
    "      x: \"@vals.txt\"\n";

}  // namespace

TEST_CASE("a parameter file: one value per line, trimmed, blank and '#' lines skipped") {
  CHECK(FileValues("1\n2\n3\n") == S{"1", "2", "3"});
  CHECK(FileValues("# sizes\n\n  10  \n\t20\r\n#30\n   \n40") == S{"10", "20", "40"});
  CHECK(FileValues("only") == S{"only"});
  CHECK(FileValues("a b c\n") == S{"a b c"});  // a line is one value, spaces and all
}

TEST_CASE("each value of a parameter file is an integer, else a float, else a string") {
  std::vector<ParamValue> v;
  std::string error;
  REQUIRE(ParseParameterFile("7\n-3\n2.5\n1e3\nadam\n0x10\n", 100, &v, &error));
  REQUIRE(v.size() == 6);
  CHECK(v[0].kind == ParamValue::Kind::kInt);
  CHECK(v[1].kind == ParamValue::Kind::kInt);
  CHECK(v[2].kind == ParamValue::Kind::kFloat);
  CHECK(v[3].kind == ParamValue::Kind::kFloat);
  CHECK(v[4].kind == ParamValue::Kind::kString);
  CHECK(v[5].kind == ParamValue::Kind::kString);
  // A file holds values, not the text forms of a parameter: no ranges, no lists.
  CHECK(FileValues("1:3\n[a,b]\n") == S{"1:3", "[a,b]"});
}

TEST_CASE("a parameter file with no values, or more than the limit, is refused") {
  CHECK(FileError("") == "the file is empty");
  CHECK(FileError("\n  \n# nothing\n") ==
        "it has no values (blank lines and lines starting with '#' are skipped)");
  CHECK(FileValues("1\n2\n3\n", 3).size() == 3);
  CHECK(FileError("1\n2\n3\n4\n", 3) == "it has more values than the limit of 3");
}

TEST_CASE("\"@file\" values expand jobs, and the plan keeps the files it read") {
  FakeFiles disk;
  disk.files["vals.txt"] = "# sizes\n1\n\n2.5\nabc\n";
  LoadResult r = Load(kSweep, disk.Options());
  CHECK(JobNames(r) == S{"j_1", "j_2.5", "j_abc"});
  CHECK(r.plan->jobs[2].command == "echo abc");
  CHECK(r.plan->parameter_files ==
        std::map<std::string, std::string>{{"vals.txt", disk.files["vals.txt"]}});
  // Spaces around the '@' and the path are not part of the path.
  std::string spaced = kSweep;
  spaced.replace(spaced.find("\"@vals.txt\""), 11, "\" @ vals.txt \"");
  CHECK(JobNames(Load(spaced, disk.Options())) == S{"j_1", "j_2.5", "j_abc"});
}

TEST_CASE("\"@file\" works wherever parameters are: jobs, files, user_data, workflow level") {
  FakeFiles disk;
  disk.files["ids.txt"] = "a\nb\n";
  disk.files["/abs/n.txt"] = "1\n2\n";
  LoadResult r = Load(
      "name: w\n"
      "parameters:\n"
      "  n: \"@/abs/n.txt\"\n"
      "files:\n"
      "  - name: f_{id}\n"
      "    path: out/{id}.txt\n"
      "    parameters: {id: \"@ids.txt\"}\n"
      "user_data:\n"
      "  - name: u_{id}\n"
      "    data: {id: \"{id}\"}\n"
      "    parameters: {id: \"@ids.txt\"}\n"
      "jobs:\n"
      "  - name: make_{id}_{n}\n"
      "    command: make {id} {n}\n"
      "    use_parameters: [n]\n"
      "    parameters: {id: \"@ids.txt\"}\n"
      "    output_files: [\"f_{id}\"]\n",
      disk.Options());
  CHECK(JobNames(r) == S{"make_a_1", "make_a_2", "make_b_1", "make_b_2"});
  REQUIRE(r.plan->files.size() == 2);
  CHECK(r.plan->files[1].path == "out/b.txt");
  REQUIRE(r.plan->user_data.size() == 2);
  CHECK(r.plan->user_data[0].name == "u_a");
  // Each path is read once however many parameters name it.
  CHECK(disk.reads == std::map<std::string, int>{{"/abs/n.txt", 1}, {"ids.txt", 1}});
  CHECK(r.plan->parameter_files.size() == 2);
}

TEST_CASE("\"@file\" in JSON, JSON5 and KDL workflow files") {
  FakeFiles disk;
  disk.files["vals.txt"] = "1\n2\n";
  CHECK(JobNames(Load(R"({"name": "w", "jobs": [{"name": "j_{x}", "command": "echo {x}",
                          "parameters": {"x": "@vals.txt"}}]})",
                      disk.Options(), "wf.json")) == S{"j_1", "j_2"});
  CHECK(JobNames(Load("// Torc's JSON5\n{name: 'w', jobs: [{name: 'j_{x}', command: 'echo {x}',"
                      " parameters: {x: '@vals.txt'},},],}\n",
                      disk.Options(), "wf.json5")) == S{"j_1", "j_2"});
  CHECK(JobNames(Load("name \"w\"\n"
                      "job \"j_{x}\" {\n"
                      "    command \"echo {x}\"\n"
                      "    parameters {\n"
                      "        x \"@vals.txt\"\n"
                      "    }\n"
                      "}\n",
                      disk.Options(), "wf.kdl")) == S{"j_1", "j_2"});
  // A KDL file's error is at the KDL value.
  disk.files.clear();
  CHECK(Errors(Load("name \"w\"\njob \"j_{x}\" {\n    command \"echo {x}\"\n"
                    "    parameters { x \"@vals.txt\"; }\n}\n",
                    disk.Options(), "wf.kdl")) ==
        S{"wf.kdl:4:20: parameter 'x': cannot read the parameter file 'vals.txt': No such file "
          "or directory (/home/u/vals.txt)"});
}

TEST_CASE("\"@file\" errors say what and where") {
  FakeFiles disk;
  // The file cannot be read: the reader's reason, at the value.
  CHECK(Errors(Load(kSweep, disk.Options())) ==
        S{"wf.yaml:6:10: parameter 'x': cannot read the parameter file 'vals.txt': No such file "
          "or directory (/home/u/vals.txt)"});
  // No reader at all (a caller that reads no files): not a job named "j_@vals.txt".
  CHECK(Errors(Load(kSweep, LoadOptions{})) ==
        S{"wf.yaml:6:10: parameter 'x': the values come from the file 'vals.txt', which torc "
          "cannot read here (the commands given the workflow file, such as 'torc validate' and "
          "'torc submit', read it)"});
  std::string bare = kSweep;
  bare.replace(bare.find("\"@vals.txt\""), 11, "\"@  \"");
  CHECK(Errors(Load(bare, disk.Options())) ==
        S{"wf.yaml:6:10: parameter 'x': '@' must be followed by the path of a file of values, "
          "one per line (\"@values.txt\")"});
  disk.files["vals.txt"] = "# none yet\n\n";
  CHECK(Errors(Load(kSweep, disk.Options())) ==
        S{"wf.yaml:6:10: parameter 'x': parameter file 'vals.txt': it has no values (blank lines "
          "and lines starting with '#' are skipped)"});
  disk.files["vals.txt"] = "1\n2\n\xff\n";
  CHECK(Errors(Load(kSweep, disk.Options())) ==
        S{"wf.yaml:6:10: parameter 'x': parameter file 'vals.txt': line 3 is not valid UTF-8 "
          "(byte 0xFF); a parameter file is text, one value per line"});
  disk.files["vals.txt"] = "1\n\x01\n";
  CHECK(Errors(Load(kSweep, disk.Options())) ==
        S{"wf.yaml:6:10: parameter 'x': parameter file 'vals.txt': line 2 holds the control "
          "byte 0x01 (is it binary?); a parameter file is text, one value per line"});
}

TEST_CASE("\"@file\" values count against max_parameter_values with the others") {
  FakeFiles disk;
  disk.files["vals.txt"] = "1\n2\n3\n4\n";
  LoadOptions o = disk.Options();
  o.max_parameter_values = 3;
  CHECK(Errors(Load(kSweep, o)) ==
        S{"wf.yaml:6:10: parameter 'x': parameter file 'vals.txt': it has more values than the "
          "limit of 3"});
  o.max_parameter_values = 5;
  CHECK(Errors(Load("name: w\n"
                    "jobs:\n"
                    "  - name: j_{y}_{x}\n"
                    "    command: echo\n"
                    "    parameters:\n"
                    "      y: \"1:2\"\n"
                    "      x: \"@vals.txt\"\n",
                    o)) ==
        S{"wf.yaml:7:10: parameter 'x': parameter file 'vals.txt': it has more values than the "
          "limit of 3; the workflow may have 5 parameter values in all and 2 are used before "
          "this one"});
  o.max_parameter_values = 6;  // 2 + 4: exactly the limit
  CHECK(JobNames(Load("name: w\n"
                      "jobs:\n"
                      "  - name: j_{y}_{x}\n"
                      "    command: echo\n"
                      "    parameters:\n"
                      "      y: \"1:2\"\n"
                      "      x: \"@vals.txt\"\n",
                      o))
            .size() == 8);
}

TEST_CASE("parameter files larger than the workflow file limit, together, are refused") {
  FakeFiles disk;
  disk.files["a.txt"] = "1\n";
  disk.files["big.txt"] = std::string(static_cast<size_t>(kMaxWorkflowFileBytes), '\n');
  CHECK(Errors(Load("name: w\n"
                    "jobs:\n"
                    "  - name: j_{a}_{b}\n"
                    "    command: echo\n"
                    "    parameters:\n"
                    "      a: \"@a.txt\"\n"
                    "      b: \"@big.txt\"\n",
                    disk.Options())) ==
        S{"wf.yaml:7:10: parameter 'b': parameter file 'big.txt': it has 67108864 bytes, more "
          "than the 67108862 left of the limit of 67108864 (64 MiB) for all parameter files"});
}
