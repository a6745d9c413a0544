// Limits against a real `torc server run` (docs/limits.md), and the whole catalogue of broken
// workflow files (tests/data/bad) submitted over HTTP: each is refused with a 400 that lists
// the file's errors, none crashes or wedges the server (health answers after each), and none
// leaves a workflow behind (the workflow list is unchanged, the next id is not used up).
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "server_process.h"

using namespace torc;
using nlohmann::json;

namespace {

namespace fs = std::filesystem;
constexpr auto kTimeout = std::chrono::seconds(60);

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string Repeat(const std::string& s, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += s;
  return out;
}

struct Answer {
  int status = 0;
  json body;
  std::string raw;
};

class Server {
 public:
  explicit Server(std::vector<std::string> flags = {})
      : process_(TORC_BINARY, dir_.path(), std::move(flags)) {
    process_.Start();
    std::string token = ReadFile(dir_.path() + "/token");
    while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
    http_ = server::MakeHttpClient(process_.url(), token, kTimeout);
  }

  Answer Send(const std::string& method, const std::string& path, const std::string& body = "") {
    server::HttpResult r = http_->Request(method, "/api/v1" + path, body);
    Answer a{r.status, json::parse(r.body, nullptr, false), r.body};
    return a;
  }

  /// Submits `text` as it is: bytes that are not UTF-8 go into the JSON string unchanged (a JSON
  /// body that is not UTF-8 must be refused too).
  Answer Submit(const std::string& text, const std::string& file_name = "wf.yaml") {
    const std::string kMark = "@@SPEC@@";
    std::string body = json{{"spec_text", kMark}, {"file_name", file_name}}.dump();
    std::string escaped = json(text).dump(-1, ' ', false, json::error_handler_t::ignore);
    if (json::parse(escaped, nullptr, false).get<std::string>() != text) {
      escaped = "\"";
      for (unsigned char ch : text) {
        if (ch == '"' || ch == '\\') escaped += '\\';
        if (ch == '\n') escaped += "\\n";
        else if (ch < 0x20) escaped += ' ';
        else escaped += static_cast<char>(ch);
      }
      escaped += '"';
    }
    body.replace(body.find("\"" + kMark + "\""), kMark.size() + 2, escaped);
    return Send("POST", "/workflows", body);
  }

  /// The ids of the server's workflows.
  std::vector<int64_t> Workflows() {
    Answer a = Send("GET", "/workflows");
    REQUIRE(a.status == 200);
    std::vector<int64_t> ids;
    for (const auto& w : a.body["workflows"]) ids.push_back(w["workflow_id"].get<int64_t>());
    return ids;
  }

  bool Healthy() { return Send("GET", "/health").status == 200; }

 private:
  testing::TempDir dir_;
  testing::ServerProcess process_;
  std::unique_ptr<server::HttpClient> http_;
};

std::string Sweep(int n) {
  return "name: sweep\njobs:\n  - name: j_{i}\n    command: echo {i}\n    parameters: {i: \"1:" +
         std::to_string(n) + "\"}\n";
}

double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

TEST_CASE("workflow limits are server flags; a submit over one is refused whole") {
  Server server({"--max-jobs", "50", "--max-parameter-values", "200", "--max-combinations", "120",
                 "--max-data-values", "40", "--max-regex-tests", "100"});
  Answer ok = server.Submit(Sweep(50));
  REQUIRE_MESSAGE(ok.status == 201, ok.raw);
  const auto before = server.Workflows();

  struct Case {
    std::string name, text, error_has;
  };
  std::vector<Case> cases = {
      {"--max-jobs (one entry)", Sweep(51), "the parameters expand to more than 50 combinations"},
      {"--max-jobs (in all)",
       Sweep(30) + "  - name: k_{i}\n    command: x\n    parameters: {i: \"1:30\"}\n",
       "the workflow expands to more than 50 jobs"},
      {"--max-parameter-values",
       "name: w\njobs:\n  - name: a_{i}\n    command: x\n    parameters: {i: \"1:150\", k: \"1:60\"}\n",
       "more than the limit of 50"},
      {"--max-combinations",  // fan-in: 3 jobs, 3 x 49 combinations
       "name: w\njobs:\n" + Repeat("  - name: all_{i}\n    command: x\n    parameters: {i: \"1:7\", "
                                  "k: \"1:7\", n: \"[N]\"}\n", 3),
       "over the limit of 120 combinations"},
      {"--max-data-values",
       "name: w\njobs:\n  - name: a\n    command: x\nuser_data:\n  - name: d\n    data: [" +
           Repeat("1, ", 50) + "1]\n",
       "has more than 40 values"},
      {"--max-regex-tests",
       "name: w\njobs:\n  - name: a_{i}\n    command: x\n    parameters: {i: \"1:20\"}\n"
       "  - name: b_{i}\n    command: x\n    parameters: {i: \"1:20\"}\n"
       "    depends_on_regexes: [\"a_{i}$\"]\n",
       "would test more than 100 names"},
  };
  for (auto& c : cases) {
    CAPTURE(c.name);
    for (char n = '1'; c.text.find("[N]") != std::string::npos; ++n)
      c.text.replace(c.text.find("[N]"), 3, std::string("[") + n + "]");
    Answer a = server.Submit(c.text);
    CHECK_MESSAGE(a.status == 400, a.raw);
    REQUIRE(a.body.is_object());
    REQUIRE(a.body["errors"].is_array());
    CHECK_MESSAGE(a.body["errors"].dump().find(c.error_has) != std::string::npos, a.raw);
    CHECK(server.Healthy());
    CHECK(server.Workflows() == before);
  }
  // The next workflow gets the next id: the refused ones used none.
  Answer next = server.Submit(Sweep(3));
  REQUIRE(next.status == 201);
  CHECK(next.body["workflow_id"] == before.back() + 1);
}

TEST_CASE("default limits: a 10^12-job sweep and a 10^12 product are refused at once") {
  Server server;
  for (const std::string& text :
       {Sweep(1) + "  - name: k_{i}\n    command: x\n    parameters: {i: \"1:1000000000000\"}\n",
        std::string("name: w\njobs:\n  - name: a_{i}_{k}\n    command: x\n"
                    "    parameters: {i: \"1:1000000\", k: \"1:1000000\"}\n")}) {
    auto t0 = std::chrono::steady_clock::now();
    Answer a = server.Submit(text);
    CHECK(SecondsSince(t0) < 5);
    CHECK_MESSAGE(a.status == 400, a.raw);
    CHECK(a.body["errors"].dump().find("more than") != std::string::npos);
  }
  CHECK(server.Workflows().empty());
  // The job list's name filter: a pattern over the length limit is refused before compiling.
  REQUIRE(server.Submit(Sweep(3)).status == 201);
  Answer a = server.Send("GET", "/workflows/1/jobs?name=" + std::string(5000, 'a'));
  CHECK(a.status == 400);
  CHECK(a.body["error"].get<std::string>().find("too long (5000 bytes, limit 4096)") !=
        std::string::npos);
}

TEST_CASE("every broken workflow file of the catalogue is refused over HTTP, leaving nothing") {
  Server server;
  REQUIRE(server.Submit(Sweep(2)).status == 201);  // one workflow that must stay alone
  const auto before = server.Workflows();
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(fs::path(TORC_TEST_DATA) / "bad"))
    if (e.path().extension() != ".expect") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  CHECK(files.size() >= 100);
  for (const auto& path : files) {
    const std::string name = path.filename().string();
    CAPTURE(name);
    auto t0 = std::chrono::steady_clock::now();
    Answer a = server.Submit(ReadFile(path.string()), name);
    CHECK(SecondsSince(t0) < 10);
    CHECK_MESSAGE(a.status == 400, a.raw.substr(0, 300));
    REQUIRE(a.body.is_object());
    CHECK(a.body["error"].is_string());
    if (a.body["error"] == "the request body is not valid JSON") {
      // A file that is not UTF-8 cannot be put in a JSON string: refused before the reader.
      CHECK(json(ReadFile(path.string())).dump(-1, ' ', false, json::error_handler_t::replace) !=
            json(ReadFile(path.string())).dump(-1, ' ', false, json::error_handler_t::ignore));
      REQUIRE(server.Healthy());
      continue;
    }
    REQUIRE_MESSAGE(a.body["errors"].is_array(), a.raw.substr(0, 300));
    REQUIRE(!a.body["errors"].empty());
    // Each error is "file:line:col: message" (or "file: message"), the file's own name first.
    for (const auto& e : a.body["errors"])
      CHECK(e.get<std::string>().rfind(name + ":", 0) == 0);
    REQUIRE_MESSAGE(server.Healthy(), "the server died on " << name);
  }
  CHECK(server.Workflows() == before);
  Answer next = server.Submit(Sweep(2));
  REQUIRE(next.status == 201);
  CHECK(next.body["workflow_id"] == before.back() + 1);
}
