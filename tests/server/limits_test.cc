// Limits against a real `torc server run` (docs/limits.md), and the whole catalogue of broken
// workflow files (tests/data/bad) submitted over HTTP: each is refused with a 400 that lists
// the file's errors, none crashes or wedges the server (health answers after each), and none
// leaves a workflow behind (the workflow list is unchanged, the next id is not used up).
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <thread>
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
  int port() const { return std::stoi(process_.url().substr(process_.url().rfind(':') + 1)); }
  long ResidentKiB() const { return process_.MemoryKiB(); }

 private:
  testing::TempDir dir_;
  testing::ServerProcess process_;
  std::unique_ptr<server::HttpClient> http_;
};

std::string Sweep(int n) {
  return "name: sweep\njobs:\n  - name: j_{i}\n    command: echo {i}\n    parameters: {i: \"1:" +
         std::to_string(n) + "\"}\n";
}

/// A connection to the server from `source` (any 127.x.y.z is this host), 10 s timeouts.
int Connect(int port, const char* source = "127.0.0.1") {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  timeval timeout{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  REQUIRE(inet_pton(AF_INET, source, &address.sin_addr) == 1);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
  return fd;
}

bool SendAll(int fd, const std::string& bytes) {
  for (size_t sent = 0; sent < bytes.size();) {
    ssize_t n = send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

/// What the server sends until it closes the connection (or 10 s pass).
std::string ReadUntilClosed(int fd) {
  std::string out;
  char chunk[4096];
  for (ssize_t n; (n = recv(fd, chunk, sizeof(chunk), 0)) > 0;) out.append(chunk, n);
  return out;
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

TEST_CASE("request heads and connections are bounded: --max-header-bytes, --max-connections-per-client") {
  Server server({"--max-header-bytes", "4096", "--max-connections-per-client", "3"});
  const int port = server.port();

  // A head one byte over the limit: 431, whatever the token.
  int fd = Connect(port);
  std::string head = "GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Pad: ";
  head += std::string(4096 - head.size() - 3, 'p') + "\r\n\r\n";
  REQUIRE(head.size() == 4097);
  SendAll(fd, head);
  std::string raw = ReadUntilClosed(fd);
  close(fd);
  CHECK(raw.rfind("HTTP/1.1 431 ", 0) == 0);
  CHECK(raw.find(R"j({"error":"request line and headers too large: more than 4096 bytes (limit 4096)"})j") !=
        std::string::npos);

  // A 200 MiB header line streamed at the server: answered early, its memory stays put.
  const long before_kib = server.ResidentKiB();
  fd = Connect(port);
  const std::string mebibyte(1 << 20, 'h');
  std::string answer;
  int sent_mib = 0;
  SendAll(fd, "GET /api/v1/health HTTP/1.1\r\nX-Big: ");
  long peak_kib = before_kib;
  for (; sent_mib < 200 && answer.find("\r\n\r\n{") == std::string::npos; ++sent_mib) {
    if (!SendAll(fd, mebibyte)) break;
    peak_kib = std::max(peak_kib, server.ResidentKiB());
    char chunk[4096];
    for (ssize_t n; (n = recv(fd, chunk, sizeof(chunk), MSG_DONTWAIT)) > 0;) answer.append(chunk, n);
  }
  if (answer.find("\r\n\r\n{") == std::string::npos) {
    SendAll(fd, "\r\n\r\n");
    answer += ReadUntilClosed(fd);
  }
  close(fd);
  MESSAGE("server memory ", before_kib, " KiB before, ", peak_kib, " KiB at most; ", sent_mib,
          " MiB sent");
  CHECK(answer.rfind("HTTP/1.1 431 ", 0) == 0);
  CHECK(sent_mib < 200);
  CHECK(peak_kib - before_kib < 32 * 1024);
  CHECK(server.Healthy());

  // Three connections from 127.0.0.2 are served; a fourth gets 503; 127.0.0.1 still works.
  std::vector<int> open;
  for (int i = 0; i < 3; ++i) open.push_back(Connect(port, "127.0.0.2"));
  const std::string ping = "GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n";
  for (int c : open) {
    REQUIRE(SendAll(c, ping));
    char chunk[4096];
    ssize_t n = recv(c, chunk, sizeof(chunk), 0);
    REQUIRE(n > 12);
    CHECK(std::string(chunk, 13) == "HTTP/1.1 200 ");
  }
  fd = Connect(port, "127.0.0.2");
  SendAll(fd, ping);
  raw = ReadUntilClosed(fd);
  close(fd);
  CHECK(raw.rfind("HTTP/1.1 503 ", 0) == 0);
  CHECK(raw.find(R"j({"error":"too many connections from 127.0.0.2 (limit 3)"})j") != std::string::npos);
  CHECK(server.Healthy());
  for (int c : open) close(c);
}
