// Malformed requests, authentication and the token file, against a real `torc server run`
// process over HTTP. Every bad request must get a 4xx with a JSON {"error": "..."} body, change
// nothing, and leave the server answering normal requests.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <regex>
#include <sstream>
#include <thread>

#include "server_process.h"

using namespace torc;
using nlohmann::json;

namespace {

constexpr auto kTimeout = std::chrono::seconds(20);

// Five ready jobs, one with a long run of 'a' for the regex-bomb case, and an action that is due
// waiting for a job the test never completes (so a stray /actions/N/done would show).
const char* kWorkflow = R"(name: errs
jobs:
  - name: job_{i}
    command: "true"
    parameters: {i: "0:3"}
  - name: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
    command: "true"
actions:
  - trigger_type: on_jobs_complete
    jobs: [aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]
    action_type: run_commands
    commands: ["echo done"]
)";
constexpr int kWorkflowJobs = 5;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string TokenOf(const testing::ServerProcess& server) {
  std::string token = ReadFile(server.dir() + "/token");
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
  return token;
}

std::string UrlEncode(const std::string& s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size())
    s.replace(pos, from.size(), to);
  return s;
}

std::string Repeat(const std::string& s, size_t n) {
  std::string out;
  out.reserve(s.size() * n);
  for (size_t i = 0; i < n; ++i) out += s;
  return out;
}

/// An answer: status, raw body, and the body parsed as JSON (discarded when it is not JSON).
struct Answer {
  int status = 0;
  std::string raw;
  std::string transport_error;
  json body;
};

Answer Send(server::HttpClient& http, const std::string& method, const std::string& path,
            const std::string& body = "") {
  server::HttpResult r = http.Request(method, path, body);
  Answer a;
  a.status = r.status;
  a.raw = r.body;
  a.transport_error = r.error;
  a.body = json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  return a;
}

bool HasErrorString(const Answer& a) {
  return a.body.is_object() && a.body.contains("error") && a.body["error"].is_string();
}

std::string ErrorOf(const Answer& a) {
  return HasErrorString(a) ? a.body["error"].get<std::string>() : std::string();
}

/// One HTTP/1.1 request over a plain socket with exactly the headers given (cpprestsdk's client
/// always adds its own), read until the server closes the connection.
Answer RawRequest(int port, const std::string& method, const std::string& path,
                  const std::vector<std::string>& headers, const std::string& body = "") {
  Answer a;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    a.transport_error = "connect failed";
    return a;
  }
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  for (const auto& h : headers) req += h + "\r\n";
  if (!body.empty()) req += "Content-Type: application/json\r\n";
  req += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  for (size_t sent = 0; sent < req.size();) {
    ssize_t n = send(fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  std::string response;
  char buf[65536];
  // Read the headers, then exactly Content-Length bytes (cpprestsdk may keep the socket open).
  size_t header_end = std::string::npos, want = std::string::npos;
  while (true) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    response.append(buf, static_cast<size_t>(n));
    if (header_end == std::string::npos && (header_end = response.find("\r\n\r\n")) != std::string::npos) {
      std::string lower = response.substr(0, header_end);
      for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      size_t cl = lower.find("content-length:");
      if (cl != std::string::npos) want = header_end + 4 + std::stoul(lower.substr(cl + 15));
    }
    if (want != std::string::npos && response.size() >= want) break;
  }
  close(fd);
  if (response.rfind("HTTP/1.", 0) != 0 || header_end == std::string::npos) {
    a.transport_error = "no HTTP response: " + response.substr(0, 200);
    return a;
  }
  a.status = std::atoi(response.c_str() + response.find(' ') + 1);
  a.raw = response.substr(header_end + 4);
  a.body = json::parse(a.raw, nullptr, false);
  return a;
}

/// One bad request and what the server must answer.
struct Case {
  std::string name;
  std::string method;
  std::string path;  // under /api/v1 unless it starts with '!'; {wf} and {w} are substituted
  std::string body;  // {wf} and {w} are substituted in bodies shorter than 4 KiB
  int status;
  std::string error_has;  // the "error" message must contain this
  std::function<void(const json&)> extra = nullptr;
};

json Node() { return {{"free_cpus", 4}, {"free_memory_bytes", 1LL << 30}}; }

std::string ClaimBody(const json& patch = json::object()) {
  json b = {{"worker_id", "{w}"}, {"max_jobs", 1}, {"nodes", json::array({Node()})}};
  b.merge_patch(patch);
  return Replace(b.dump(), "\"{w}\"", "{w}");
}

std::string CompleteBody(const json& result = json::object()) {
  json r = {{"id", 0}, {"attempt", 1}, {"status", "completed"}, {"exit_code", 0}};
  r.merge_patch(result);
  return Replace(json{{"worker_id", "{w}"}, {"results", json::array({r})}}.dump(), "\"{w}\"",
                 "{w}");
}

std::vector<Case> BadRequests() {
  const std::string wfp = "/workflows/{wf}";
  const std::string two70 = "1180591620717411303424";  // 2^70
  const std::string deep = Repeat("[", 100000) + Repeat("]", 100000);
  const std::string deep_obj = Repeat("{\"a\":", 100000) + "1" + Repeat("}", 100000);
  std::vector<Case> cases = {
      // --- Bodies that are not JSON objects.
      {"malformed JSON", "POST", "/workflows", "{\"spec_text\": ", 400, "not valid JSON"},
      {"trailing garbage", "POST", "/workflows", "{} x", 400, "not valid JSON"},
      {"single quotes", "POST", "/workflows", "{'spec_text': 'x'}", 400, "not valid JSON"},
      {"array body", "POST", "/workflows", "[1, 2]", 400, "must be a JSON object"},
      {"number body", "POST", "/workflows", "42", 400, "must be a JSON object"},
      {"string body", "POST", "/workflows", "\"name: x\"", 400, "must be a JSON object"},
      {"null body on claim", "POST", wfp + "/claim", "null", 400, "must be a JSON object"},
      {"array body on register", "POST", wfp + "/workers", "[]", 400, "must be a JSON object"},
      {"array body on cancel", "POST", wfp + "/cancel", "[\"job_0\"]", 400,
       "must be a JSON object"},
      {"string body on restart", "POST", wfp + "/restart", "\"job_0\"", 400,
       "must be a JSON object"},
      {"invalid UTF-8 in a string", "POST", wfp + "/workers", "{\"hostname\": \"\xff\xfe\xc3\"}",
       400, "not valid JSON"},
      {"lone surrogate escape", "POST", wfp + "/workers", R"({"hostname": "\ud800"})", 400,
       "not valid JSON"},
      // Deep nesting: refused before parsing (nlohmann's dump() recurses, so echoing such a
      // value in an error message used to overflow the server's stack).
      {"100000 nested arrays", "POST", wfp + "/claim", deep, 400, "nested too deeply"},
      {"100000 unclosed arrays", "POST", wfp + "/claim", Repeat("[", 100000), 400,
       "nested too deeply"},
      {"100000 nested arrays as worker_id", "POST", wfp + "/claim",
       "{\"worker_id\": " + deep + ", \"nodes\": []}", 400, "nested too deeply"},
      {"100000 nested objects as resources", "POST", wfp + "/workers",
       "{\"resources\": " + deep_obj + "}", 400, "nested too deeply"},
      {"257 nested arrays as max_jobs", "POST", wfp + "/claim",
       Replace(ClaimBody(), "\"max_jobs\":1",
               "\"max_jobs\":" + Repeat("[", 256) + Repeat("]", 256)),
       400, "nested too deeply"},
      {"255 nested arrays as max_jobs", "POST", wfp + "/claim",
       Replace(ClaimBody(), "\"max_jobs\":1",
               "\"max_jobs\":" + Repeat("[", 254) + Repeat("]", 254)),
       400, "'max_jobs' must be an integer"},
      {"brackets inside strings do not count", "POST", wfp + "/workers",
       json{{"hostname", Repeat("[{", 1000)}}.dump(), 400, "'hostname' is too long"},
      // A key twice in one object (the parser would keep the last one silently), and text after
      // a NUL byte (the parser would stop at the NUL): refused, as in workflow files.
      {"a key twice", "POST", wfp + "/claim",
       Replace(ClaimBody(), "\"max_jobs\":1", "\"max_jobs\":1,\"max_jobs\":1000"), 400,
       "the request body has the key 'max_jobs' twice in one object"},
      {"a key twice in a result", "POST", wfp + "/complete",
       Replace(CompleteBody(), "\"status\":\"completed\"",
               "\"status\":\"completed\",\"status\":\"failed\""),
       400, "the key 'status' twice"},
      {"a key twice in a submit", "POST", "/workflows",
       json{{"spec_text", kWorkflow}}.dump().insert(1, "\"spec_text\": \"name: x\", "), 400,
       "the key 'spec_text' twice"},
      {"a NUL byte and garbage after a submit", "POST", "/workflows",
       json{{"spec_text", kWorkflow}}.dump() + std::string("\0garbage", 8), 400,
       "the request body has a NUL byte at offset " +
           std::to_string(json{{"spec_text", kWorkflow}}.dump().size())},
      {"a NUL byte inside a string", "POST", wfp + "/workers",
       std::string("{\"hostname\": \"a\0b\"}", 19), 400, "a NUL byte at offset 15"},
      // --- Submit.
      {"submit without spec_text", "POST", "/workflows", "{}", 400, "'spec_text' is required"},
      {"spec_text a number", "POST", "/workflows", R"({"spec_text": 5})", 400,
       "'spec_text' must be a string"},
      {"file_name an array", "POST", "/workflows", R"({"spec_text": "x", "file_name": ["a"]})",
       400, "'file_name' must be a string"},
      {"owner an object", "POST", "/workflows", R"({"spec_text": "x", "owner": {}})", 400,
       "'owner' must be a string"},
      {"working_dir true", "POST", "/workflows", R"({"spec_text": "x", "working_dir": true})",
       400, "'working_dir' must be a string"},
      {"parameter_files a list", "POST", "/workflows",
       R"({"spec_text": "x", "parameter_files": ["vals.txt"]})", 400,
       "'parameter_files' must be an object of paths to the files' texts"},
      {"a parameter file's text a number", "POST", "/workflows",
       R"({"spec_text": "x", "parameter_files": {"vals.txt": 5}})", 400,
       "'parameter_files' entry 'vals.txt' must be a string (the file's text)"},
      {"a parameter file with an empty path", "POST", "/workflows",
       R"({"spec_text": "x", "parameter_files": {"": "1"}})", 400,
       "'parameter_files' has a path of 0 bytes (1 to 4096)"},
      {"an \"@file\" the submit does not carry", "POST", "/workflows",
       json{{"spec_text", "name: w\njobs:\n  - name: j_{x}\n    command: echo\n"
                          "    parameters: {x: \"@vals.txt\"}\n"},
            {"file_name", "w.yaml"},
            {"parameter_files", {{"other.txt", "1\n"}}}}
           .dump(),
       400, "the workflow file has 1 error(s)",
       [](const json& b) {
         CHECK(b["errors"] ==
               json::array({"w.yaml:5:21: parameter 'x': cannot read the parameter file "
                            "'vals.txt': it was not sent with the workflow ('parameter_files' of "
                            "the submit request has no 'vals.txt'; the server reads no files of "
                            "its own)"}));
       }},
      {"10 MB spec_text that is no workflow", "POST", "/workflows",
       json{{"spec_text", std::string(10 << 20, 'x')}}.dump(), 400, "the workflow file has",
       [](const json& b) {
         REQUIRE(b.contains("errors"));
         REQUIRE(b["errors"].is_array());
         CHECK(!b["errors"].empty());
       }},
      {"valid YAML, bad workflow", "POST", "/workflows",
       json{{"spec_text",
             "name: bad\njobs:\n  - name: a\n    command: echo a\n    depends_on: [nope]\n"
             "  - name: b\n    command: 5\n    num_cpus: lots\n"},
            {"file_name", "bad.yaml"}}
           .dump(),
       400, "the workflow file has",
       [](const json& b) {
         REQUIRE(b.contains("errors"));
         REQUIRE(b["errors"].is_array());
         REQUIRE(!b["errors"].empty());
         for (const auto& e : b["errors"]) {
           REQUIRE(e.is_string());
           CHECK_MESSAGE(std::regex_search(e.get<std::string>(),
                                           std::regex("^bad\\.yaml:[0-9]+:[0-9]+: ")),
                         e.get<std::string>());
         }
       }},
      // --- Workflow ids, endpoints, methods.
      {"unknown workflow", "GET", "/workflows/999999", "", 404, "no workflow 999999"},
      {"unknown workflow, claim", "POST", "/workflows/999999/claim", ClaimBody(), 404,
       "no workflow 999999"},
      {"delete unknown workflow", "DELETE", "/workflows/999999", "", 404, "no workflow 999999"},
      {"non-numeric workflow id", "GET", "/workflows/abc", "", 400, "invalid workflow id"},
      {"negative workflow id", "GET", "/workflows/-1", "", 400, "invalid workflow id"},
      {"workflow id 2^70", "GET", "/workflows/" + two70, "", 400, "invalid workflow id"},
      {"workflow id with invalid UTF-8", "GET", "/workflows/%FF%FE", "", 400,
       "invalid workflow id"},
      {"unknown endpoint", "GET", "/nothing", "", 404, "no endpoint"},
      {"outside the API", "!GET", "/elsewhere", "", 404, "under /api/v1"},
      {"unknown workflow sub-endpoint", "GET", wfp + "/bogus", "", 404, "no endpoint"},
      {"wrong method on /workflows", "PUT", "/workflows", "{}", 405, "use GET or POST"},
      {"wrong method on a workflow", "PATCH", wfp, "{}", 405, "use GET or DELETE"},
      {"wrong method on jobs", "POST", wfp + "/jobs", "{}", 405, "use GET on jobs"},
      // --- Jobs.
      {"unknown job name", "GET", wfp + "/jobs/nope", "", 404, "no job named 'nope'"},
      {"unknown job index", "GET", wfp + "/jobs/77", "", 404, "no job 77"},
      {"job index 2^70", "GET", wfp + "/jobs/" + two70, "", 404, "no job named"},
      {"job name with invalid UTF-8", "GET", wfp + "/jobs/%FF%C3", "", 404, "no job named"},
      {"unknown status filter", "GET", wfp + "/jobs?status=exploded", "", 400,
       "unknown status 'exploded'"},
      {"status filter with invalid UTF-8", "GET", wfp + "/jobs?status=%FF", "", 400,
       "unknown status"},
      {"invalid name regex", "GET", wfp + "/jobs?name=" + UrlEncode("(job_"), "", 400,
       "invalid name regex"},
      {"nested repetition regex", "GET", wfp + "/jobs?name=" + UrlEncode("a{1000}{1000}{1000}"),
       "", 400, "invalid name regex"},
      {"regex with invalid UTF-8", "GET", wfp + "/jobs?name=%FF(", "", 400, "invalid name regex"},
      {"negative offset", "GET", wfp + "/jobs?offset=-1", "", 400, "'offset'"},
      {"negative limit", "GET", wfp + "/jobs?limit=-5", "", 400, "'limit'"},
      {"zero limit", "GET", wfp + "/jobs?limit=0", "", 400, "'limit'"},
      {"limit 2^70", "GET", wfp + "/jobs?limit=" + two70, "", 400, "'limit'"},
      {"non-numeric offset", "GET", wfp + "/jobs?offset=ten", "", 400, "'offset'"},
      {"malformed percent-encoding", "GET", wfp + "/jobs?name=%G1", "", 400, "percent-encoding"},
      // --- Events.
      {"non-numeric cursor", "GET", wfp + "/events?after=abc", "", 400, "'after'"},
      {"negative cursor", "GET", wfp + "/events?after=-1", "", 400, "'after'"},
      {"cursor 1e400", "GET", wfp + "/events?after=1e400", "", 400, "'after'"},
      {"events limit float", "GET", wfp + "/events?limit=1.5", "", 400, "'limit'"},
      {"events of unknown workflow", "GET", "/workflows/999999/events", "", 404, "no workflow"},
      // --- Actions.
      {"action done with a bad status", "POST", wfp + "/actions/0/done",
       R"({"status": "bogus"})", 400, "'status' must be 'done' or 'failed'"},
      {"action status a number", "POST", wfp + "/actions/0/done", R"({"status": 1})", 400,
       "'status' must be a string"},
      {"action detail an array", "POST", wfp + "/actions/0/done",
       R"({"status": "done", "detail": []})", 400, "'detail' must be a string"},
      {"unknown action", "POST", wfp + "/actions/99/done", R"({"status": "done"})", 404,
       "no action 99"},
      {"action index 2^32", "POST", wfp + "/actions/4294967296/done", R"({"status": "done"})",
       404, "no action 4294967296"},
      {"non-numeric action index", "POST", wfp + "/actions/x/done", R"({"status": "done"})", 400,
       "invalid action index"},
      // --- Cancel / restart.
      {"cancel jobs not an array", "POST", wfp + "/cancel", R"({"jobs": "job_0"})", 400,
       "'jobs' must be an array"},
      {"cancel a job given as an object", "POST", wfp + "/cancel", R"({"jobs": [{"id": 0}]})",
       400, "index or its name"},
      {"cancel an unknown job", "POST", wfp + "/cancel", R"({"jobs": ["job_0", "nope"]})", 404,
       "no job named 'nope'"},
      {"restart an unknown job index", "POST", wfp + "/restart", R"({"jobs": [99]})", 404,
       "no job 99"},
      {"restart memory_multiplier 1", "POST", wfp + "/restart", R"({"memory_multiplier": 1})",
       400, "'memory_multiplier' must be a number greater than 1 and at most 100, not 1"},
      {"restart runtime_multiplier 101", "POST", wfp + "/restart",
       R"({"failed": true, "runtime_multiplier": 101})", 400,
       "'runtime_multiplier' must be a number greater than 1 and at most 100, not 101"},
      {"restart memory_multiplier a string", "POST", wfp + "/restart",
       R"({"memory_multiplier": "2"})", 400, "'memory_multiplier' must be a number"},
      {"restart failed with jobs", "POST", wfp + "/restart", R"({"failed": true, "jobs": [0]})",
       400, "give it without 'jobs'"},
      {"restart failed not a boolean", "POST", wfp + "/restart", R"({"failed": 1})", 400,
       "'failed' must be true or false"},
      // --- Workers: register, heartbeat.
      {"hostname a number", "POST", wfp + "/workers", R"({"hostname": 5})", 400,
       "'hostname' must be a string"},
      {"negative pid", "POST", wfp + "/workers", R"({"pid": -5})", 400, "'pid' must be between"},
      {"pid a float", "POST", wfp + "/workers", R"({"pid": 1.5})", 400,
       "'pid' must be an integer"},
      {"hostname too long", "POST", wfp + "/workers",
       json{{"hostname", std::string(300, 'h')}}.dump(), 400, "'hostname' is too long"},
      {"10 MB hostname", "POST", wfp + "/workers",
       json{{"hostname", std::string(10 << 20, 'h')}}.dump(), 400,
       "'hostname' is too long (10485760 bytes, limit 256)"},
      {"10 MB action detail", "POST", wfp + "/actions/0/done",
       json{{"status", "failed"}, {"detail", std::string(10 << 20, 'd')}}.dump(), 400,
       "'detail' is too long"},
      {"60 KB job name filter", "GET", wfp + "/jobs?name=" + std::string(60000, 'j'), "", 400,
       "the name regex is too long (60000 bytes, limit 4096)"},
      {"10 MB job name filter (a request line over the header limit)", "GET",
       wfp + "/jobs?name=" + std::string(10 << 20, 'j'), "", 431,
       "request line and headers too large: more than 65536 bytes (limit 65536)"},
      {"negative resources in a submitted workflow", "POST", "/workflows",
       json{{"spec_text", "name: neg\njobs:\n  - name: a\n    command: x\n"
                          "    resource_requirements: r\nresource_requirements:\n"
                          "  - {name: r, num_cpus: -4, memory: -1g}\n"}}
           .dump(),
       400, "the workflow file has 2 error(s)",
       [](const json& b) {
         REQUIRE(b["errors"].is_array());
         CHECK(b["errors"][0].get<std::string>().find("'num_cpus' of resource requirement 'r' "
                                                      "must be between 1 and") != std::string::npos);
       }},
      {"a regex bomb in a submitted workflow", "POST", "/workflows",
       json{{"spec_text", "name: bomb\njobs:\n  - name: a\n    command: x\n  - name: b\n"
                          "    command: x\n    depends_on_regexes: [\"((a{1000}){1000}){1000}\"]\n"}}
           .dump(),
       400, "the workflow file has 1 error(s)"},
      {"heartbeat of an unknown worker", "POST", wfp + "/workers/999999/heartbeat", "", 409,
       "has no lease"},
      {"heartbeat with a non-numeric worker id", "POST", wfp + "/workers/abc/heartbeat", "", 400,
       "invalid worker id"},
      {"heartbeat with a bad body", "POST", wfp + "/workers/{w}/heartbeat", "nonsense", 400,
       "not valid JSON"},
      // --- Claim.
      {"worker_id as a string", "POST", wfp + "/claim", ClaimBody({{"worker_id", "1"}}), 400,
       "'worker_id' must be an integer"},
      {"worker_id missing", "POST", wfp + "/claim", R"({"nodes": []})", 400,
       "'worker_id' is required"},
      {"worker_id 0", "POST", wfp + "/claim", ClaimBody({{"worker_id", 0}}), 400,
       "'worker_id' must be between"},
      {"worker_id 2^70", "POST", wfp + "/claim",
       Replace(ClaimBody({{"worker_id", 7}}), "\"worker_id\":7", "\"worker_id\":" + two70), 400,
       "'worker_id' must be an integer"},
      {"max_jobs negative", "POST", wfp + "/claim", ClaimBody({{"max_jobs", -1}}), 400,
       "'max_jobs' must be between"},
      {"max_jobs huge", "POST", wfp + "/claim",
       ClaimBody({{"max_jobs", std::numeric_limits<uint64_t>::max()}}), 400,
       "'max_jobs' must be between"},
      {"max_jobs 2^70", "POST", wfp + "/claim",
       Replace(ClaimBody(), "\"max_jobs\":1", "\"max_jobs\":" + two70), 400,
       "'max_jobs' must be an integer"},
      {"max_jobs 1e400 (overflows a double)", "POST", wfp + "/claim",
       Replace(ClaimBody(), "\"max_jobs\":1", "\"max_jobs\":1e400"), 400, "not valid JSON"},
      {"max_jobs 1e300", "POST", wfp + "/claim",
       Replace(ClaimBody(), "\"max_jobs\":1", "\"max_jobs\":1e300"), 400,
       "'max_jobs' must be an integer"},
      {"max_jobs a string", "POST", wfp + "/claim", ClaimBody({{"max_jobs", "3"}}), 400,
       "'max_jobs' must be an integer"},
      {"remaining_seconds 1e400 (overflows a double)", "POST", wfp + "/claim",
       Replace(ClaimBody({{"remaining_seconds", 7}}), "\"remaining_seconds\":7",
               "\"remaining_seconds\":1e400"),
       400, "not valid JSON"},
      {"remaining_seconds a string", "POST", wfp + "/claim",
       ClaimBody({{"remaining_seconds", "soon"}}), 400, "'remaining_seconds' must be a number"},
      {"nodes missing", "POST", wfp + "/claim", R"({"worker_id": {w}})", 400,
       "'nodes' is required"},
      {"nodes not an array", "POST", wfp + "/claim", ClaimBody({{"nodes", {{"a", 1}}}}), 400,
       "'nodes' must be an array"},
      {"node entry not an object", "POST", wfp + "/claim", ClaimBody({{"nodes", {1, 2}}}), 400,
       "each of 'nodes' must be an object"},
      {"free_cpus a float", "POST", wfp + "/claim",
       ClaimBody({{"nodes", {{{"free_cpus", 1.5}, {"free_memory_bytes", 1000}}}}}), 400,
       "'free_cpus' must be an integer"},
      {"free_cpus negative", "POST", wfp + "/claim",
       ClaimBody({{"nodes", {{{"free_cpus", -2}, {"free_memory_bytes", 1000}}}}}), 400,
       "'free_cpus' must be between"},
      {"free_memory_bytes missing", "POST", wfp + "/claim",
       ClaimBody({{"nodes", {{{"free_cpus", 2}}}}}), 400, "'free_memory_bytes' is required"},
      {"free_gpus a string", "POST", wfp + "/claim",
       ClaimBody({{"nodes", {{{"free_cpus", 2}, {"free_memory_bytes", 1000}, {"free_gpus", "1"}}}}}),
       400, "'free_gpus' must be an integer"},
      {"scheduler a number", "POST", wfp + "/claim", ClaimBody({{"scheduler", 3}}), 400,
       "'scheduler' must be a string"},
      {"claim with an unregistered worker", "POST", wfp + "/claim",
       ClaimBody({{"worker_id", 999999}}), 409, "has no lease"},
      {"claim as worker 2^63", "POST", wfp + "/claim",
       Replace(ClaimBody({{"worker_id", 7}}), "\"worker_id\":7",
               "\"worker_id\":9223372036854775808"),
       409, "has no lease"},
      // --- Start.
      {"start jobs not an array", "POST", wfp + "/start", R"({"worker_id": {w}, "jobs": 3})", 400,
       "'jobs' must be an array"},
      {"start job entry not an object", "POST", wfp + "/start",
       R"({"worker_id": {w}, "jobs": [[0, 1]]})", 400, "must be an object"},
      {"start attempt 0", "POST", wfp + "/start",
       R"({"worker_id": {w}, "jobs": [{"id": 0, "attempt": 0}]})", 400,
       "'attempt' must be between"},
      {"start id 2^32", "POST", wfp + "/start",
       R"({"worker_id": {w}, "jobs": [{"id": 4294967296, "attempt": 1}]})", 400,
       "'id' must be between"},
      // --- Complete.
      {"results missing", "POST", wfp + "/complete", R"({"worker_id": {w}})", 400,
       "'results' is required"},
      {"results not an array", "POST", wfp + "/complete",
       R"({"worker_id": {w}, "results": {"id": 0}})", 400, "'results' must be an array"},
      {"result not an object", "POST", wfp + "/complete", R"({"worker_id": {w}, "results": [5]})",
       400, "each of 'results' must be an object"},
      {"result with an unknown status", "POST", wfp + "/complete",
       CompleteBody({{"status", "exploded"}}), 400, "must be completed, failed, terminated"},
      {"result with status running", "POST", wfp + "/complete",
       CompleteBody({{"status", "running"}}), 400, "must be completed, failed, terminated"},
      {"result without status", "POST", wfp + "/complete", CompleteBody({{"status", nullptr}}),
       400, "'status' is required"},
      {"completed with a non-zero exit code", "POST", wfp + "/complete",
       CompleteBody({{"exit_code", 3}}), 400, "completed result must have exit code 0"},
      {"exit code 2^40", "POST", wfp + "/complete",
       CompleteBody({{"status", "failed"}, {"exit_code", 1LL << 40}}), 400,
       "'exit_code' must be between"},
      {"attempt 0", "POST", wfp + "/complete", CompleteBody({{"attempt", 0}}), 400,
       "'attempt' must be between"},
      {"negative job id", "POST", wfp + "/complete", CompleteBody({{"id", -1}}), 400,
       "'id' must be between"},
      {"start_time a string", "POST", wfp + "/complete", CompleteBody({{"start_time", "now"}}),
       400, "'start_time' must be a number"},
      {"signal out of range", "POST", wfp + "/complete",
       CompleteBody({{"status", "terminated"}, {"signal", 5000}}), 400,
       "'signal' must be between"},
      {"job id out of range", "POST", wfp + "/complete", CompleteBody({{"id", 4000000}}), 409,
       "rejected",
       [](const json& b) {
         // Only rejected results are listed, each with its reason.
         REQUIRE_MESSAGE(b["rejected"].is_array(), b.dump());
         REQUIRE(b["rejected"].size() == 1);
         CHECK(b["rejected"][0]["id"] == 4000000);
         CHECK(b["rejected"][0]["attempt"] == 1);
         CHECK(b["rejected"][0]["reason"].is_string());
         CHECK(b["applied"] == 0);
       }},
      {"result for a job this worker does not hold", "POST", wfp + "/complete", CompleteBody(),
       409, "rejected",
       [](const json& b) {
         REQUIRE_MESSAGE(b["rejected"].is_array(), b.dump());
         REQUIRE(b["rejected"].size() == 1);
         CHECK(b["rejected"][0]["id"] == 0);
         CHECK(b["applied"] == 0);
       }},
  };
  return cases;
}

/// Submits kWorkflow and returns its id.
int64_t Submit(server::HttpClient& http, const std::string& name = "errs") {
  std::string spec = Replace(kWorkflow, "name: errs", "name: " + name);
  Answer a = Send(http, "POST", "/api/v1/workflows", json{{"spec_text", spec}}.dump());
  REQUIRE_MESSAGE(a.status == 201, a.raw);
  return a.body["workflow_id"].get<int64_t>();
}

int64_t Register(server::HttpClient& http, int64_t wf) {
  Answer a = Send(http, "POST", "/api/v1/workflows/" + std::to_string(wf) + "/workers",
                  R"({"hostname": "test"})");
  REQUIRE_MESSAGE(a.status == 201, a.raw);
  return a.body["worker_id"].get<int64_t>();
}

}  // namespace

TEST_CASE("bad requests get a 4xx JSON error, change nothing, and the server keeps serving") {
  testing::TempDir dir;
  testing::ServerProcess server(TORC_BINARY, dir.path());
  server.Start();
  auto http = server::MakeHttpClient(server.url(), TokenOf(server), kTimeout);

  const int64_t wf = Submit(*http);
  const int64_t w = Register(*http, wf);
  const std::string base = "/api/v1/workflows/" + std::to_string(wf);
  Answer before = Send(*http, "GET", base);
  REQUIRE(before.status == 200);
  REQUIRE(before.body["counts"]["ready"] == kWorkflowJobs);
  REQUIRE(before.body["actions"].size() == 1);

  auto cases = BadRequests();
  CHECK(cases.size() >= 30);
  for (const auto& c : cases) {
    CAPTURE(c.name);
    std::string method = c.method, path = c.path, body = c.body;
    if (method[0] == '!') {
      method = method.substr(1);
    } else {
      path = "/api/v1" + path;
    }
    path = Replace(Replace(path, "{wf}", std::to_string(wf)), "{w}", std::to_string(w));
    if (body.size() < 4096)
      body = Replace(Replace(body, "{wf}", std::to_string(wf)), "{w}", std::to_string(w));
    auto t0 = std::chrono::steady_clock::now();
    Answer a = Send(*http, method, path, body);
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    CHECK_MESSAGE(a.status != 0, a.transport_error);
    CHECK_MESSAGE(a.status == c.status, a.raw.substr(0, 500));
    CHECK_MESSAGE(HasErrorString(a), a.raw.substr(0, 500));
    CHECK_MESSAGE(ErrorOf(a).find(c.error_has) != std::string::npos, a.raw.substr(0, 500));
    CHECK(seconds < 5);
    if (c.extra && a.body.is_object()) c.extra(a.body);
    // The server is still there after every case.
    REQUIRE_MESSAGE(Send(*http, "GET", "/api/v1/health").status == 200, "server died");
  }

  // A regex that backtracking engines take forever on: RE2 answers quickly (or refuses it).
  for (const std::string& re : {std::string("^(a*)*b$"), std::string("^(a|aa)*$x"),
                                "^" + Repeat("(a*)*", 200) + "b$", std::string("^((a+)+)+b")}) {
    CAPTURE(re);
    auto t0 = std::chrono::steady_clock::now();
    Answer a = Send(*http, "GET", base + "/jobs?name=" + UrlEncode(re));
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    CHECK(seconds < 2);
    CHECK_MESSAGE((a.status == 200 || a.status == 400), a.raw);
    if (a.status == 200) CHECK(a.body["total"] == 0);
    if (a.status == 400) CHECK(HasErrorString(a));
  }

  // Nothing was created or changed by the bad requests.
  Answer list = Send(*http, "GET", "/api/v1/workflows");
  REQUIRE(list.status == 200);
  REQUIRE(list.body["workflows"].size() == 1);
  CHECK(list.body["workflows"][0]["workflow_id"] == wf);
  Answer after = Send(*http, "GET", base);
  REQUIRE(after.status == 200);
  CHECK(after.body["counts"] == before.body["counts"]);
  CHECK(after.body["actions"] == before.body["actions"]);
  CHECK(after.body["workers"].size() == 1);  // the bad registrations registered no one
  Answer held = Send(*http, "GET", base + "/workers/" + std::to_string(w) + "/jobs");
  REQUIRE(held.status == 200);
  CHECK(held.body["jobs"].empty());

  // Normal requests still work: health, a submit (the next id: no failed submit took one), a
  // claim, a completion.
  CHECK(Send(*http, "GET", "/api/v1/health").status == 200);
  const int64_t wf2 = Submit(*http, "second");
  CHECK(wf2 == wf + 1);
  CHECK(Send(*http, "GET", "/api/v1/workflows").body["workflows"].size() == 2);
  Answer claim = Send(*http, "POST", base + "/claim",
                      json{{"worker_id", w}, {"max_jobs", 2}, {"nodes", {Node()}}}.dump());
  REQUIRE_MESSAGE(claim.status == 200, claim.raw);
  REQUIRE(claim.body["jobs"].size() == 2);
  json results = json::array();
  for (const auto& j : claim.body["jobs"])
    results.push_back({{"id", j["id"]}, {"attempt", j["attempt"]}, {"status", "completed"}});
  Answer done = Send(*http, "POST", base + "/complete",
                     json{{"worker_id", w}, {"results", results}}.dump());
  REQUIRE_MESSAGE(done.status == 200, done.raw);
  CHECK(done.body["applied"] == 2);
  CHECK(done.body["rejected"].empty());
  CHECK(Send(*http, "GET", base).body["counts"]["completed"] == 2);
  // Nesting under the limit is fine (a worker's resources are free-form JSON).
  Answer nested = Send(*http, "POST", base + "/workers",
                       "{\"resources\": " + Repeat("{\"a\": [", 100) + "1" + Repeat("]}", 100) + "}");
  CHECK_MESSAGE(nested.status == 201, nested.raw);
}

TEST_CASE("authentication: every API endpoint but health needs the token") {
  testing::TempDir dir;
  testing::ServerProcess server(TORC_BINARY, dir.path());
  server.Start();
  const std::string token = TokenOf(server);
  REQUIRE(token.size() >= 32);
  auto good = server::MakeHttpClient(server.url(), token, kTimeout);
  const int64_t wf = Submit(*good);
  const std::string base = "/api/v1/workflows/" + std::to_string(wf);
  const int port = std::stoi(server.url().substr(server.url().rfind(':') + 1));

  struct Endpoint {
    std::string method, path, body;
  };
  const std::vector<Endpoint> endpoints = {
      {"GET", "/api/v1/workflows", ""},
      {"POST", "/api/v1/workflows", json{{"spec_text", kWorkflow}}.dump()},
      {"GET", base, ""},
      {"DELETE", base, ""},
      {"POST", base + "/workers", "{}"},
      {"POST", base + "/claim", json{{"worker_id", 1}, {"nodes", {Node()}}}.dump()},
      {"POST", base + "/cancel", ""},
      {"GET", base + "/jobs", ""},
      {"GET", base + "/events", ""},
      {"GET", base + "/actions/due", ""},
      {"GET", "/api/v1/nothing", ""},
  };
  auto none = server::MakeHttpClient(server.url(), "", kTimeout);
  std::string flipped = token;
  flipped[0] = flipped[0] == '0' ? '1' : '0';  // differs from the token in its first byte only
  auto wrong = server::MakeHttpClient(server.url(), flipped, kTimeout);
  auto longer = server::MakeHttpClient(server.url(), token + "0", kTimeout);
  auto shorter = server::MakeHttpClient(server.url(), token.substr(0, token.size() - 1), kTimeout);
  for (const auto& e : endpoints) {
    CAPTURE(e.method);
    CAPTURE(e.path);
    Answer a = Send(*none, e.method, e.path, e.body);
    CHECK(a.status == 401);
    CHECK(ErrorOf(a).find("missing access token") != std::string::npos);
    for (auto* client : {wrong.get(), longer.get(), shorter.get()}) {
      Answer b = Send(*client, e.method, e.path, e.body);
      CHECK(b.status == 401);
      CHECK(ErrorOf(b).find("invalid access token") != std::string::npos);
    }
    // Other header forms, sent byte for byte.
    for (const std::string& header :
         {std::string("Authorization: Bearer "), std::string("Authorization: Bearer"),
          std::string("Authorization: Basic ") + token, std::string("Authorization: ") + token,
          std::string("Authorization: Bearer  ") + token,
          std::string("Authorization: Bearer ") + token + " x"}) {
      CAPTURE(header);
      Answer c = RawRequest(port, e.method, e.path, {header}, e.body);
      CHECK_MESSAGE(c.status == 401, c.transport_error, c.raw);
      CHECK(HasErrorString(c));
    }
  }
  // Nothing those requests carried happened.
  Answer list = Send(*good, "GET", "/api/v1/workflows");
  REQUIRE(list.status == 200);
  CHECK(list.body["workflows"].size() == 1);
  CHECK(Send(*good, "GET", base).body["counts"]["ready"] == kWorkflowJobs);

  // Health needs no token (and ignores a wrong one).
  CHECK(Send(*none, "GET", "/api/v1/health").status == 200);
  CHECK(Send(*wrong, "GET", "/api/v1/health").status == 200);
  CHECK(RawRequest(port, "GET", "/api/v1/health", {}).status == 200);

  // The right token, by the client and byte for byte.
  CHECK(Send(*good, "GET", base + "/jobs").status == 200);
  CHECK(Send(*good, "GET", base + "/events").status == 200);
  CHECK(Send(*good, "POST", base + "/workers", "{}").status == 201);
  CHECK(RawRequest(port, "GET", base, {"Authorization: Bearer " + token}).status == 200);
  CHECK(Send(*good, "DELETE", base).status == 200);
  CHECK(Send(*good, "GET", base).status == 404);
}

TEST_CASE("the token file is private, and a readable one is refused") {
  unsetenv("TORC_TOKEN");
  unsetenv("TORC_API_URL");
  testing::TempDir dir;
  const std::string token_path = dir.path() + "/token";
  std::string url, token;
  {
    testing::ServerProcess server(TORC_BINARY, dir.path());
    server.Start();
    url = server.url();
    token = TokenOf(server);
    struct stat st {};
    REQUIRE(stat(token_path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    server::ClientOptions o;
    o.data_dir = dir.path();
    o.url = url;
    std::string error;
    auto client = server::ApiClient::Connect(o, &error);
    REQUIRE_MESSAGE(client, error);
    CHECK(client->Call("GET", "/workflows").status == 200);
  }  // stopped

  for (mode_t mode : {0644, 0640, 0604, 0660}) {
    CAPTURE(mode);
    REQUIRE(chmod(token_path.c_str(), mode) == 0);
    std::remove((dir.path() + "/server.log").c_str());
    testing::ServerProcess refused(TORC_BINARY, dir.path());
    bool threw = false;
    try {
      refused.Start();
    } catch (const std::exception& e) {
      threw = true;
      CHECK(std::string(e.what()).find("exited") != std::string::npos);
    }
    CHECK(threw);
    std::string log = ReadFile(dir.path() + "/server.log");
    CHECK_MESSAGE(log.find("chmod 600") != std::string::npos, log);
    CHECK_MESSAGE(log.find(token_path) != std::string::npos, log);
    CHECK(log.find(token) == std::string::npos);  // the token itself is not printed

    // The client refuses to read it too, and says why.
    server::ClientOptions o;
    o.data_dir = dir.path();
    o.url = url;
    std::string error;
    auto client = server::ApiClient::Connect(o, &error);
    CHECK(!client);
    char mode_text[8];
    std::snprintf(mode_text, sizeof mode_text, "%03o", static_cast<unsigned>(mode));
    CHECK_MESSAGE(error.find(std::string("mode is ") + mode_text) != std::string::npos, error);
    CHECK_MESSAGE(error.find("chmod 600") != std::string::npos, error);
  }

  // A fresh data directory with a world-readable token someone wrote: refused as well.
  testing::TempDir other;
  {
    std::ofstream out(other.path() + "/token");
    out << "0123456789abcdef0123456789abcdef\n";
  }
  REQUIRE(chmod((other.path() + "/token").c_str(), 0644) == 0);
  testing::ServerProcess fresh(TORC_BINARY, other.path());
  CHECK_THROWS(fresh.Start());
  CHECK(ReadFile(other.path() + "/server.log").find("chmod 600") != std::string::npos);

  // chmod 600 again: the server starts, with the same token as before.
  REQUIRE(chmod(token_path.c_str(), 0600) == 0);
  testing::ServerProcess again(TORC_BINARY, dir.path());
  again.Start();
  CHECK(TokenOf(again) == token);
  auto http = server::MakeHttpClient(again.url(), token, kTimeout);
  CHECK(Send(*http, "GET", "/api/v1/workflows").status == 200);
}

TEST_CASE("a job log that is a symbolic link, a FIFO or a directory answers 403 (docs/api.md)") {
  testing::TempDir dir;
  testing::ServerProcess server(TORC_BINARY, dir.path());
  server.Start();
  auto http = server::MakeHttpClient(server.url(), TokenOf(server), kTimeout);
  const std::string work = dir.path() + "/work";
  REQUIRE(mkdir(work.c_str(), 0700) == 0);
  Answer created =
      Send(*http, "POST", "/api/v1/workflows",
           json{{"spec_text", "name: logs\njobs:\n  - name: a\n    command: \"true\"\n"},
                {"working_dir", work}}
               .dump());
  REQUIRE_MESSAGE(created.status == 201, created.raw);
  const int64_t wf = created.body["workflow_id"].get<int64_t>();
  const std::string base = "/api/v1/workflows/" + std::to_string(wf);
  const int64_t w = Register(*http, wf);
  Answer claimed =
      Send(*http, "POST", base + "/claim", Replace(ClaimBody(), "{w}", std::to_string(w)));
  REQUIRE_MESSAGE(claimed.status == 200, claimed.raw);
  REQUIRE(claimed.body["jobs"].size() == 1);
  const std::string logdir = work + "/torc_output/" + std::to_string(wf), log = logdir + "/a.1.out";
  REQUIRE(system(("mkdir -p '" + logdir + "'").c_str()) == 0);
  std::ofstream(logdir + "/real") << "another file\n";

  Answer missing = Send(*http, "GET", base + "/jobs/a/log");
  CHECK(missing.status == 404);
  REQUIRE(symlink((logdir + "/real").c_str(), log.c_str()) == 0);
  Answer link = Send(*http, "GET", base + "/jobs/a/log");
  CHECK_MESSAGE(link.status == 403, link.raw);
  CHECK_MESSAGE(ErrorOf(link).find(log + ": it is a symbolic link") != std::string::npos, link.raw);
  CHECK(link.raw.find("another file") == std::string::npos);
  REQUIRE(unlink(log.c_str()) == 0);
  REQUIRE(mkfifo(log.c_str(), 0600) == 0);
  Answer fifo = Send(*http, "GET", base + "/jobs/a/log");
  CHECK_MESSAGE(fifo.status == 403, fifo.raw);
  CHECK(ErrorOf(fifo).find("it is not a regular file") != std::string::npos);
  REQUIRE(unlink(log.c_str()) == 0);
  REQUIRE(mkdir(log.c_str(), 0700) == 0);
  CHECK(Send(*http, "GET", base + "/jobs/a/log").status == 403);
  REQUIRE(rmdir(log.c_str()) == 0);
  std::ofstream(log) << "hello\n";
  Answer served = Send(*http, "GET", base + "/jobs/a/log");
  CHECK_MESSAGE(served.status == 200, served.raw);
  CHECK(served.body["content"] == "hello\n");
}

TEST_CASE("a body over --max-body-bytes gets 413, and the server stays up") {
  testing::TempDir dir;
  testing::ServerProcess server(TORC_BINARY, dir.path(), {"--max-body-bytes", "100000"});
  server.Start();
  auto http = server::MakeHttpClient(server.url(), TokenOf(server), kTimeout);
  for (size_t size : {size_t(100001), size_t(200000), size_t(5 << 20)}) {
    CAPTURE(size);
    std::string body = json{{"spec_text", std::string(size, 'x')}}.dump();
    Answer a = Send(*http, "POST", "/api/v1/workflows", body);
    CHECK_MESSAGE(a.status == 413, a.transport_error, a.raw.substr(0, 300));
    CHECK(HasErrorString(a));
    CHECK(ErrorOf(a).find("too large") != std::string::npos);
    CHECK(Send(*http, "GET", "/api/v1/health").status == 200);
  }
  // Just under the limit reaches the API (and is a bad workflow).
  Answer under = Send(*http, "POST", "/api/v1/workflows",
                      json{{"spec_text", std::string(90000, 'x')}}.dump());
  CHECK(under.status == 400);
  CHECK(Send(*http, "GET", "/api/v1/workflows").body["workflows"].empty());
  const int64_t wf = Submit(*http);
  CHECK(Send(*http, "GET", "/api/v1/workflows/" + std::to_string(wf)).status == 200);
}

TEST_CASE("bad requests in parallel with good ones") {
  testing::TempDir dir;
  testing::ServerProcess server(TORC_BINARY, dir.path());
  server.Start();
  const std::string token = TokenOf(server);
  std::unique_ptr<server::HttpClient> setup = server::MakeHttpClient(server.url(), token, kTimeout);
  const int64_t wf = Submit(*setup);
  const std::string base = "/api/v1/workflows/" + std::to_string(wf);
  const std::string deep = Repeat("[", 20000) + Repeat("]", 20000);

  constexpr int kThreads = 8, kRounds = 50;
  std::atomic<int> bad_ok{0}, bad_wrong{0}, good_ok{0}, good_wrong{0}, claimed{0};
  std::vector<std::string> problems;
  std::mutex problems_mu;
  auto note = [&](const std::string& what) {
    std::lock_guard lock(problems_mu);
    if (problems.size() < 20) problems.push_back(what);
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto http = server::MakeHttpClient(server.url(), token, kTimeout);
      auto anonymous = server::MakeHttpClient(server.url(), "", kTimeout);
      Answer reg = Send(*http, "POST", base + "/workers", R"({"hostname": "t"})");
      if (reg.status != 201) {
        note("register: " + reg.raw);
        good_wrong += kRounds;
        return;
      }
      const int64_t w = reg.body["worker_id"].get<int64_t>();
      const std::string wid = std::to_string(w);
      for (int i = 0; i < kRounds; ++i) {
        // A malformed request of one of several kinds.
        Answer bad;
        int expect = 400;
        switch ((i + t) % 8) {
          case 0: bad = Send(*http, "POST", base + "/claim", "{\"worker_id\": "); break;
          case 1: bad = Send(*http, "POST", base + "/claim", deep); break;
          case 2:
            bad = Send(*http, "POST", base + "/complete",
                       R"({"worker_id": )" + wid +
                           R"(, "results": [{"id": 0, "attempt": 1, "status": "completed", "exit_code": 9}]})");
            break;
          case 3: bad = Send(*http, "GET", base + "/jobs?name=%28&offset=-1"); break;
          case 4:
            bad = Send(*anonymous, "GET", base);
            expect = 401;
            break;
          case 5: bad = Send(*http, "GET", "/api/v1/workflows/x%FF"); break;
          case 6:
            bad = Send(*http, "POST", "/api/v1/workflows", R"({"spec_text": "jobs: 5"})");
            break;
          case 7: bad = Send(*http, "GET", base + "/events?after=soon"); break;
        }
        if (bad.status == expect && HasErrorString(bad)) {
          ++bad_ok;
        } else {
          ++bad_wrong;
          note("bad request kind " + std::to_string((i + t) % 8) + " got " +
               std::to_string(bad.status) + " " + bad.transport_error + " " + bad.raw.substr(0, 200));
        }
        // A valid request.
        Answer good;
        int want = 200;
        switch (i % 3) {
          case 0: good = Send(*http, "POST", base + "/workers/" + wid + "/heartbeat"); break;
          case 1: good = Send(*http, "GET", base + "/jobs?limit=2"); break;
          case 2:
            good = Send(*http, "POST", base + "/claim",
                        json{{"worker_id", w}, {"max_jobs", 1}, {"nodes", {Node()}}}.dump());
            break;
        }
        if (good.status == want && good.body.is_object() && !good.body.contains("error")) {
          ++good_ok;
          if (i % 3 == 2) claimed += static_cast<int>(good.body["jobs"].size());
        } else {
          ++good_wrong;
          note("good request got " + std::to_string(good.status) + " " + good.transport_error +
               " " + good.raw.substr(0, 200));
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (const auto& p : problems) MESSAGE(p);
  CHECK(bad_ok == kThreads * kRounds);
  CHECK(bad_wrong == 0);
  CHECK(good_ok == kThreads * kRounds);
  CHECK(good_wrong == 0);
  // Every job was handed out exactly once.
  CHECK(claimed == kWorkflowJobs);
  Answer status = Send(*setup, "GET", base);
  REQUIRE(status.status == 200);
  CHECK(status.body["counts"]["claimed"] == kWorkflowJobs);
  CHECK(Send(*setup, "GET", "/api/v1/workflows").body["workflows"].size() == 1);
  CHECK(Send(*setup, "GET", "/api/v1/health").status == 200);
}

TEST_CASE("a bare 404 (no torc error body) is 'server starting' to the client, retried like 503") {
  // cpprestsdk accepts connections a moment before it routes them to the handler and answers
  // those with a bodyless 404; a torc 404 always carries {"error"}.
  server::HttpServerOptions options;
  std::string error;
  auto http = server::StartHttpServer(options, [](const server::HttpRequest& request) {
    server::HttpResponse response;
    response.status = 404;
    if (request.path == "/api/v1/workflows/9") response.body = R"({"error": "no workflow 9"})";
    else response.body = "";
    return response;
  }, &error);
  REQUIRE_MESSAGE(http, error);
  server::ClientOptions o;
  o.url = "http://127.0.0.1:" + std::to_string(http->port());
  o.token = "t";
  auto client = server::ApiClient::Connect(o, &error);
  REQUIRE_MESSAGE(client, error);
  auto torc = client->Call("GET", "/workflows/9");
  CHECK(torc.status == 404);
  CHECK(torc.error == "no workflow 9");
  auto bare = client->Call("GET", "/workflows/1/complete");
  CHECK(bare.status == 503);
  CHECK(bare.error.find("starting") != std::string::npos);
}
