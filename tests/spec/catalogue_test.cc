// The catalogue of broken workflow files: every file in tests/data/bad must be
// refused with exactly the errors it lists.
//
// A YAML file lists its expected errors in its first lines, one per line:
//   # expect: LINE:COL: MESSAGE
// A JSON file (which cannot hold comments) lists them in NAME.json.expect:
//   LINE:COL: MESSAGE
// A JSON5 or KDL file lists them in its first lines as
//   // expect: LINE:COL: MESSAGE
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "spec/plan.h"

namespace {

namespace fs = std::filesystem;

const fs::path kBadDir = fs::path(TORC_TEST_DATA) / "bad";
constexpr std::string_view kExpectPrefix = "# expect: ";
constexpr std::string_view kCommentExpectPrefix = "// expect: ";

std::string ReadText(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
  }
  return lines;
}

// The expected "LINE:COL: MESSAGE" strings of one catalogue file.
std::vector<std::string> Expectations(const fs::path& path, const std::string& text) {
  std::vector<std::string> expected;
  if (path.extension() == ".json") {
    for (auto& line : Lines(ReadText(path.string() + ".expect")))
      if (!line.empty()) expected.push_back(line);
    return expected;
  }
  std::string_view prefix = path.extension() == ".json5" || path.extension() == ".kdl"
                                ? kCommentExpectPrefix
                                : kExpectPrefix;
  for (const auto& line : Lines(text)) {
    if (line.rfind(prefix, 0) != 0) break;  // only the leading comment block
    expected.push_back(line.substr(prefix.size()));
  }
  return expected;
}

// One error per line, so that doctest prints both sides readably on a mismatch.
std::string Join(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) out += line + "\n";
  return out;
}

std::vector<fs::path> CatalogueFiles() {
  std::vector<fs::path> files;
  if (!fs::is_directory(kBadDir)) return files;
  for (const auto& entry : fs::directory_iterator(kBadDir)) {
    if (!entry.is_regular_file() || entry.path().extension() == ".expect") continue;
    files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

TEST_CASE("catalogue of broken workflow files") {
  const std::vector<fs::path> files = CatalogueFiles();
  CHECK(files.size() >= 40);

  for (const auto& path : files) {
    const std::string name = path.filename().string();
    CAPTURE(name);
    const std::string text = ReadText(path);
    const std::vector<std::string> expected = Expectations(path, text);
    CHECK_MESSAGE(!expected.empty(), "no expectations in " << name);

    torc::spec::LoadResult result = torc::spec::ParsePlan(text, name, torc::spec::Format::kAuto);
    std::vector<std::string> actual;
    for (const auto& d : result.errors) {
      CHECK(d.file == name);
      actual.push_back(std::to_string(d.line) + ":" + std::to_string(d.column) + ": " +
                       d.message);
    }
    CHECK_MESSAGE(!result.ok(), name << " was accepted");
    CHECK(Join(actual) == Join(expected));
  }
}

TEST_CASE("catalogue JSON files have their .expect sidecar") {
  for (const auto& path : CatalogueFiles()) {
    if (path.extension() != ".json") continue;
    CAPTURE(path.filename().string());
    CHECK(fs::is_regular_file(path.string() + ".expect"));
  }
}
