// The loader's limits (spec::LoadOptions, docs/limits.md) and hostile input: each limit refuses
// a file with a clear error before the memory or time it guards is spent, and no input crashes.
#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "spec/diagnostics.h"
#include "spec/plan.h"

using namespace torc::spec;

namespace {

std::string Repeat(const std::string& s, size_t n) {
  std::string out;
  out.reserve(s.size() * n);
  for (size_t i = 0; i < n; ++i) out += s;
  return out;
}

/// All errors of a refused file, one per line.
std::string Errors(const std::string& text, const LoadOptions& options = {},
                   Format format = Format::kYaml) {
  LoadResult r = ParsePlan(text, "t.yaml", format, options);
  CHECK_FALSE(r.ok());
  std::string out;
  for (const auto& e : r.errors) out += e.ToString() + "\n";
  return out;
}

// How much slower the ASan/UBSan build (CI's second pass) runs this code than a release build;
// time bounds that must tell a fix from the bug scale by it.
#if defined(__SANITIZE_ADDRESS__)
constexpr double kSanitizerSlowdown = 4;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr double kSanitizerSlowdown = 4;
#else
constexpr double kSanitizerSlowdown = 1;
#endif
#else
constexpr double kSanitizerSlowdown = 1;
#endif

double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

TEST_CASE("a sweep of 10^12 jobs is refused from its text, before expanding") {
  auto t0 = std::chrono::steady_clock::now();
  std::string e = Errors(
      "name: huge\njobs:\n  - name: j_{i}_{k}\n    command: x\n"
      "    parameters: {i: \"1:1000000\", k: \"1:1000000\"}\n");
  CHECK(e.find("the parameters expand to more than 10000000 combinations (1000000 x 1000000)") !=
        std::string::npos);
  // Expanding 10^12 jobs would never end; reading the two 10^6-value ranges takes ~1 s, and
  // 5.7 s under ASan on a busy 2-core machine (seen): 30 s still proves nothing was expanded.
  CHECK(SecondsSince(t0) < 30);
}

TEST_CASE("max_jobs is configurable") {
  LoadOptions o;
  o.max_jobs = 100;
  std::string text = "name: w\njobs:\n  - name: a_{i}\n    command: x\n    parameters: {i: \"1:60\"}\n"
                     "  - name: b_{i}\n    command: x\n    parameters: {i: \"1:60\"}\n";
  CHECK(Errors(text, o) == "t.yaml:6:11: the workflow expands to more than 100 jobs\n");
  o.max_jobs = 120;
  CHECK(ParsePlan(text, "t.yaml", Format::kYaml, o).ok());
}

TEST_CASE("parameter values are counted over the whole workflow") {
  LoadOptions o;
  o.max_parameter_values = 1000;
  std::string text = "name: w\njobs:\n"
                     "  - name: a_{i}\n    command: x\n    parameters: {i: \"1:600\"}\n"
                     "  - name: b_{i}\n    command: x\n    parameters: {i: \"1:600\"}\n";
  std::string e = Errors(text, o);
  CHECK(e.find("t.yaml:8:21: parameter 'i': invalid range '1:600': it has 600 values, more than "
               "the limit of 400") != std::string::npos);
  CHECK(e.find("the workflow may have 1000 parameter values in all and 600 are used before "
               "this one") != std::string::npos);
  // A YAML list counts the same.
  std::string list = "name: w\njobs:\n  - name: a_{i}\n    command: x\n    parameters:\n      i: [" +
                     Repeat("1, ", 1000) + "1]\n";
  CHECK(Errors(list, o).find("parameter 'i' has too many values (1001, limit 1000)") !=
        std::string::npos);
}

TEST_CASE("parameter combinations are counted over the whole workflow, fan-in included") {
  // Each job folds 1000 x 1000 combinations into one job: only 3 jobs, but 3 million
  // combinations rendered.
  LoadOptions o;
  o.max_combinations = 2'500'000;
  std::string job = "  - name: all{n}\n    command: x\n    parameters: {i: \"1:1000\", k: \"1:1000\"}\n";
  std::string text = "name: w\njobs:\n" + Repeat(job, 3);
  for (int n = 0; n < 3; ++n) text.replace(text.find("{n}"), 3, std::to_string(n));
  auto t0 = std::chrono::steady_clock::now();
  std::string e = Errors(text, o);
  CHECK(e == "t.yaml:9:11: job 'all2': its 1000000 parameter combinations bring the workflow "
             "over the limit of 2500000 combinations expanded in all (2000000 before this "
             "entry)\n");
  CHECK(SecondsSince(t0) < 20);
}

TEST_CASE("regular expressions: length, compiled size and the number of names tested") {
  std::string base = "name: w\njobs:\n  - name: a_{i}\n    command: x\n    parameters: {i: \"1:50\"}\n"
                     "  - name: b\n    command: x\n    depends_on_regexes: [\"";
  // Too long.
  std::string e = Errors(base + Repeat("a", 5000) + "\"]\n");
  CHECK(e.find("depends_on_regexes of job 'b': the regular expression is too long (5000 bytes, "
               "limit 4096)") != std::string::npos);
  // Short, but compiles to more than RE2 may use (a "regex bomb" for a backtracking engine is
  // harmless to RE2; one that is huge once compiled is refused).
  auto t0 = std::chrono::steady_clock::now();
  e = Errors(base + "((((a{100}){100}){100}){100})" + "\"]\n");
  CHECK(e.find("invalid regular expression") != std::string::npos);
  CHECK(SecondsSince(t0) < 5);
  // Many distinct patterns times many names.
  LoadOptions o;
  o.max_regex_tests = 1000;
  std::string many = "name: w\njobs:\n  - name: a_{i}\n    command: x\n    parameters: {i: \"1:50\"}\n"
                     "  - name: b_{i}\n    command: x\n    parameters: {i: \"1:50\"}\n"
                     "    depends_on_regexes: [\"a_{i}$\"]\n";
  e = Errors(many, o);
  CHECK(e.find("the regular expressions of the workflow would test more than 1000 names in all") !=
        std::string::npos);
  // Anchored, the same patterns test only the names in their range.
  std::string anchored = many;
  anchored.replace(anchored.find("\"a_{i}$\""), 8, "\"^a_{i}$\"");
  CHECK(ParsePlan(anchored, "t.yaml", Format::kYaml, o).ok());
}

TEST_CASE("user data: values over all entries, depth, and an alias inside itself") {
  LoadOptions o;
  o.max_data_values = 100;
  std::string entry = "  - name: d{n}\n    data: [" + Repeat("1, ", 59) + "1]\n";
  std::string text = "name: w\njobs:\n  - name: a\n    command: x\nuser_data:\n" + entry + entry;
  text.replace(text.find("{n}"), 3, "0");
  text.replace(text.find("{n}"), 3, "1");
  CHECK(Errors(text, o).find("'data' of user_data entry 'd1' has more than 39 values (YAML "
                             "aliases expanding?); the workflow may have 100 user_data values in "
                             "all and 61 are used before this one") != std::string::npos);
  CHECK(Errors("name: w\njobs:\n  - name: a\n    command: x\nuser_data:\n  - name: d\n"
               "    data: &a [*a]\n") ==
        "t.yaml:7:11: 'data' of user_data entry 'd' nests deeper than 100 levels (or a YAML "
        "alias refers to itself)\n");
  CHECK(Errors("name: w\njobs:\n  - name: a\n    command: x\nuser_data:\n  - name: d\n"
               "    data: " + Repeat("[", 150) + Repeat("]", 150) + "\n")
            .find("nests deeper than 100 levels") != std::string::npos);
}

TEST_CASE("hostile text: invalid UTF-8, 10 MB strings, deep nesting, huge numbers") {
  // Invalid UTF-8 anywhere (also in user data, which once crashed the loader when serialized).
  CHECK(Errors("name: w\njobs:\n  - name: a\n    command: x\nuser_data:\n  - name: d\n"
               "    data: \"ok \xff\"\n") ==
        "t.yaml:7:15: the file is not valid UTF-8 (byte 0xFF); a workflow file is YAML, JSON, JSON5 or KDL text\n");
  CHECK(Errors("name: w\xc0\xaf\njobs: []\n") ==
        "t.yaml:1:8: the file is not valid UTF-8 (byte 0xC0); a workflow file is YAML, JSON, JSON5 or KDL text\n");  // overlong '/'
  CHECK(Errors("{\"name\": \"\xed\xa0\x80\", \"jobs\": []}", {}, Format::kJson) ==
        "t.yaml:1:11: the file is not valid UTF-8 (byte 0xED); a workflow file is YAML, JSON, JSON5 or KDL text\n");  // a surrogate
  // A 10 MB string where a number belongs: the error quotes it, shortened.
  std::string big(10 << 20, '7');
  LoadResult r = ParsePlan("name: w\njobs:\n  - name: a\n    command: x\n    priority: x" + big +
                               "\n",
                           "t.yaml");
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].message.size() < 1100);
  CHECK(r.errors[0].message.find("more bytes)") != std::string::npos);
  // A 10 MB command is fine (a command may be long).
  r = ParsePlan("name: w\njobs:\n  - name: a\n    command: " + std::string(10 << 20, 'c') + "\n",
                "t.yaml");
  CHECK(r.ok());
  // Deep nesting: refused by the parsers, not by the stack.
  for (const std::string& deep : {Repeat("[", 100000), Repeat("{a: ", 100000)}) {
    std::string e = Errors("name: w\njobs: " + deep + "\n");
    CHECK(e.find("t.yaml:") == 0);
  }
  std::string e = Errors("{\"name\": \"w\", \"jobs\": " + Repeat("[", 100000) + Repeat("]", 100000) +
                             "}",
                         {}, Format::kJson);
  CHECK(e.find("t.yaml:") == 0);
  // Huge and negative numbers.
  CHECK(Errors("name: w\njobs:\n  - name: a\n    command: x\n    resource_requirements: r\n"
               "resource_requirements:\n  - {name: r, num_cpus: 99999999999999999999999}\n")
            .find("out of range") != std::string::npos);
  CHECK(Errors("name: w\njobs:\n  - name: a\n    command: x\n    resource_requirements: r\n"
               "resource_requirements:\n  - {name: r, num_cpus: -4, num_gpus: -1}\n")
            .find("must be") != std::string::npos);
}

TEST_CASE("10,000 jobs naming one missing job: the 'did you mean' search is done once") {
  // Found by fuzzing: each unknown reference scanned every job name (edit distance), 10^8
  // comparisons here; over a minute before.
  auto t0 = std::chrono::steady_clock::now();
  LoadResult r = ParsePlan("name: w\njobs:\n  - name: prep_{i}\n    command: x\n"
                           "    parameters: {i: \"1:10000\"}\n"
                           "  - name: run_{i}\n    command: x\n    parameters: {i: \"1:10000\"}\n"
                           "    depends_on: [\"prep_{i}\", gone]\n",
                           "t.yaml");
  CHECK(SecondsSince(t0) < 5);
  REQUIRE_FALSE(r.ok());
  CHECK(r.errors.size() == 201);  // 200 and "too many errors"
  CHECK(r.errors[0].message == "depends_on of job 'run_{i}' (as 'run_1') names job 'gone', "
                               "which is not defined");
}

TEST_CASE("long unknown names against 19,000 long job names: hints stop at a work budget") {
  // Found by fuzzing (a 311-byte file): 20 distinct unknown 60-character names, each compared
  // with every one of 20,000 60-character job names, took over 15 s under the sanitizers.
  const std::string stem = "a_job_name_long_enough_to_make_each_edit_distance_costly_";
  auto t0 = std::chrono::steady_clock::now();
  LoadResult r = ParsePlan("name: w\njobs:\n  - name: " + stem + "{i}\n    command: x\n" +
                               "    parameters: {i: \"1:19000\"}\n  - name: b_{i}\n" +
                               "    command: x\n    parameters: {i: \"1:30\"}\n" +
                               "    depends_on: [\"" + stem + "x{i}\"]\n",
                           "t.yaml");
  // 0.17 s in release (2.7 s without the budget); 1.5 s under the sanitizers (over 15 s without).
  CHECK(SecondsSince(t0) < 1.5 * kSanitizerSlowdown);
  REQUIRE_FALSE(r.ok());
  CHECK(r.errors.size() == 30);
  CHECK(r.errors[0].message.find("which is not defined") != std::string::npos);
}

TEST_CASE("SuggestClosest spends its budget and gives no hint past it") {
  std::vector<std::string_view> names = {"prepare", "train", "evaluate"};
  CHECK(SuggestClosest("trian", names) == "did you mean 'train'?");
  uint64_t budget = 1000;
  CHECK(SuggestClosest("trian", names, &budget) == "did you mean 'train'?");
  CHECK(budget < 1000);
  budget = 10;  // less than one comparison of 5 by 7 characters
  CHECK(SuggestClosest("prepar", names, &budget) == "");
  CHECK(budget == 0);
}
