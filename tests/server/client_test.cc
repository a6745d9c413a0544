// ApiClient's typed worker methods (server/client/client.h) over a fake transport: the exact
// requests they send, and answers that fail or do not decode reported as values, never thrown.
#include "server/client/client.h"

#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "server/client/http_client.h"
#include "server/protocol/messages.h"

namespace {

using namespace torc;

/// Answers each request with the next scripted result and records what was asked.
class FakeHttp : public server::HttpClient {
 public:
  struct Sent {
    std::string method, path, body;
  };
  server::HttpResult Request(const std::string& method, const std::string& path,
                             const std::string& body) override {
    requests->push_back({method, path, body});
    if (answers->empty()) return {0, "", "no scripted answer"};
    server::HttpResult r = answers->front();
    answers->pop_front();
    return r;
  }
  std::shared_ptr<std::vector<Sent>> requests = std::make_shared<std::vector<Sent>>();
  std::shared_ptr<std::deque<server::HttpResult>> answers =
      std::make_shared<std::deque<server::HttpResult>>();
};

/// A client over a FakeHttp whose requests and answers the test keeps.
struct Fixture {
  Fixture() {
    auto http = std::make_unique<FakeHttp>();
    requests = http->requests;
    answers = http->answers;
    client = server::ApiClient::OverTransport("http://fake:1", std::move(http));
  }
  void Answer(int status, const std::string& body) { answers->push_back({status, body, ""}); }
  std::unique_ptr<server::ApiClient> client;
  std::shared_ptr<std::vector<FakeHttp::Sent>> requests;
  std::shared_ptr<std::deque<server::HttpResult>> answers;
};

TEST_CASE("a claim is sent as the protocol encodes it and its answer decoded") {
  Fixture f;
  protocol::ClaimRequest req;
  req.worker_id = 5;
  req.max_jobs = 2;
  req.nodes = {{4, 1 << 30, 0, 4, 1 << 30, 0, true}};
  req.results = {{7, 1, protocol::AttemptStatus::kFailed, 3, 0, "", 1.0, 2.0, -1, -1, "n1", {}, {}}};
  f.Answer(200, R"({"jobs": [{"id": 1, "name": "a", "attempt": 1, "command": "true",
                    "num_cpus": 1, "memory_bytes": 0, "num_gpus": 0, "num_nodes": 1,
                    "runtime_seconds": 60, "nodes": [0]}],
                    "workflow_complete": false, "unfinished": 3, "ready": 1})");
  auto a = f.client->Claim(3, req);
  REQUIRE(f.requests->size() == 1);
  CHECK((*f.requests)[0].method == "POST");
  CHECK((*f.requests)[0].path == "/api/v1/workflows/3/claim");
  CHECK(nlohmann::json::parse((*f.requests)[0].body) == protocol::ToJson(req));
  REQUIRE(a.ok());
  CHECK(a.status == 200);
  REQUIRE(a.value->jobs.size() == 1);
  CHECK(a.value->jobs[0].name == "a");
  CHECK(a.value->unfinished == 3);
  CHECK_FALSE(a.value->runnable.has_value());
}

TEST_CASE("an answer that does not decode is a failure naming the field") {
  Fixture f;
  SUBCASE("a claim answer without jobs") {
    f.Answer(200, R"({"workflow_complete": true})");
    auto a = f.client->Claim(3, {});
    CHECK_FALSE(a.ok());
    CHECK(a.malformed());
    CHECK(a.status == 200);
    CHECK(a.error == "the server's claim answer is malformed: 'jobs' is required");
  }
  SUBCASE("a claim answer that is not JSON") {
    f.Answer(200, "<html>proxy</html>");
    auto a = f.client->Claim(3, {});
    CHECK(a.malformed());
    CHECK(a.error ==
          "the server's claim answer is malformed: the claim answer must be a JSON "
          "object");
  }
  SUBCASE("a registration answer with an unknown mode") {
    f.Answer(201, R"({"worker_id": 4, "execution": {"mode": "cloud"}})");
    auto a = f.client->RegisterWorker(3, {});
    CHECK(a.malformed());
    CHECK(a.error ==
          "the server's registration answer is malformed: 'mode' must be auto, "
          "slurm or direct, not 'cloud'");
  }
  SUBCASE("a heartbeat answer with stop_jobs of the wrong type") {
    f.Answer(200, R"({"stop_jobs": "all"})");
    auto a = f.client->Heartbeat(3, 4);
    CHECK(a.malformed());
    CHECK(a.error == "the server's heartbeat answer is malformed: 'stop_jobs' must be an array");
  }
  SUBCASE("held jobs missing a field") {
    f.Answer(200, R"({"jobs": [{"id": 1}]})");
    auto a = f.client->HeldJobs(3, 4);
    CHECK(a.malformed());
    CHECK(a.error == "the server's held jobs answer is malformed: 'name' is required");
  }
}

TEST_CASE("an error status or no answer is a failure with the status and a message") {
  Fixture f;
  SUBCASE("409 with the server's error") {
    f.Answer(409, R"({"error": "worker 4 has no lease"})");
    auto a = f.client->Heartbeat(3, 4);
    CHECK_FALSE(a.ok());
    CHECK_FALSE(a.malformed());
    CHECK(a.status == 409);
    CHECK(a.error == "worker 4 has no lease");
  }
  SUBCASE("no answer") {
    auto a = f.client->CompleteJobs(3, {});
    CHECK(a.status == 0);
    CHECK(a.error.find("cannot reach server at http://fake:1: no scripted answer") == 0);
  }
}

TEST_CASE("a failure is transient (retry) or permanent (the same request gets the same answer)") {
  // 5xx, 408, 429, no answer and an answer that does not decode pass; any other 4xx does not.
  for (int status : {0, 500, 502, 503, 408, 429}) {
    Fixture f;
    if (status) f.Answer(status, R"({"error": "e"})");
    auto a = f.client->Heartbeat(3, 4);
    CAPTURE(status);
    CHECK(a.transient());
    CHECK_FALSE(a.permanent());
  }
  for (int status : {400, 401, 403, 404, 405, 409, 413, 422}) {
    Fixture f;
    f.Answer(status, R"({"error": "e"})");
    auto a = f.client->CompleteJobs(3, {});
    CAPTURE(status);
    CHECK(a.permanent());
    CHECK_FALSE(a.transient());
  }
  Fixture f;
  f.Answer(200, R"({"stop_jobs": "x"})");
  auto a = f.client->Heartbeat(3, 4);
  CHECK(a.malformed());
  CHECK(a.transient());
  f.Answer(200, R"({"stop_jobs": []})");
  auto ok = f.client->Heartbeat(3, 4);
  CHECK_FALSE(ok.transient());
  CHECK_FALSE(ok.permanent());
}

TEST_CASE("a 409 to /complete names each rejected result and why") {
  Fixture f;
  f.Answer(409, R"({"applied": 1, "duplicate": 0, "error": "some results were rejected",
                    "rejected": [{"id": 3, "attempt": 1, "reason": "already reported completed"}]})");
  auto a = f.client->CompleteJobs(3, {});
  CHECK(a.status == 409);
  CHECK(a.error == "some results were rejected; job 3 attempt 1: already reported completed");
}

TEST_CASE("the worker endpoints' paths and bodies") {
  Fixture f;
  for (int k = 0; k < 6; ++k) f.Answer(200, R"({"ok": true, "jobs": []})");
  CHECK(f.client->Heartbeat(3, 4).ok());
  CHECK(f.client->HeldJobs(3, 4).ok());
  CHECK(f.client->StartJobs(3, {4, {{1, 2, "n1"}}}).ok());
  CHECK(f.client->UnregisterWorker(3, 4, {}).ok());
  CHECK(f.client->UnregisterWorker(3, 4, {"idle for 60 s"}).ok());
  CHECK(f.client->Health().ok());
  const auto& r = *f.requests;
  REQUIRE(r.size() == 6);
  CHECK((r[0].method + " " + r[0].path) == "POST /api/v1/workflows/3/workers/4/heartbeat");
  CHECK(r[0].body == "");
  CHECK((r[1].method + " " + r[1].path) == "GET /api/v1/workflows/3/workers/4/jobs");
  CHECK((r[2].method + " " + r[2].path) == "POST /api/v1/workflows/3/start");
  CHECK(nlohmann::json::parse(r[2].body) ==
        nlohmann::json{{"worker_id", 4}, {"jobs", {{{"id", 1}, {"attempt", 2}, {"nodes", "n1"}}}}});
  CHECK((r[3].method + " " + r[3].path) == "DELETE /api/v1/workflows/3/workers/4");
  CHECK(r[3].body == "");  // no reason: no body
  CHECK(nlohmann::json::parse(r[4].body) == nlohmann::json{{"reason", "idle for 60 s"}});
  CHECK((r[5].method + " " + r[5].path) == "GET /api/v1/health");
}

}  // namespace

TEST_CASE("a call within a short wait gives up on a server that does not answer") {
  // A listening socket that accepts (the kernel does) and never answers.
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(listener >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  REQUIRE(listen(listener, 4) == 0);
  socklen_t length = sizeof address;
  REQUIRE(getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) == 0);
  const std::string url = "http://127.0.0.1:" + std::to_string(ntohs(address.sin_port));
  auto http = server::MakeHttpClient(url, "", std::chrono::seconds(30));
  const auto start = std::chrono::steady_clock::now();
  server::HttpResult r = http->RequestWithin("GET", "/api/v1/health", std::chrono::milliseconds(300));
  const double waited =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK(r.status == 0);
  CHECK(r.error.find("timed out after 300 ms") != std::string::npos);
  CHECK(waited < 5);  // not the client's 30 s
  close(listener);
}
