// Tests of the cpprestsdk HTTP transport (server/http.h) over real sockets on 127.0.0.1.
#include "server/client/http_client.h"
#include "server/http/http.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace torc::server;
using namespace std::chrono_literals;

namespace {

std::unique_ptr<HttpServer> Start(HttpHandler handler, size_t max_body_bytes = 64 << 20,
                                  HttpServerOptions options = {}) {
  options.max_body_bytes = max_body_bytes;
  std::string error;
  auto server = StartHttpServer(options, std::move(handler), &error);
  REQUIRE_MESSAGE(server != nullptr, error);
  REQUIRE(server->port() > 0);
  return server;
}

std::string BaseUrl(const HttpServer& server) {
  return "http://127.0.0.1:" + std::to_string(server.port());
}

std::unique_ptr<HttpClient> Client(const HttpServer& server, const std::string& token = "",
                                   std::chrono::milliseconds timeout = 10s) {
  return MakeHttpClient(BaseUrl(server), token, timeout);
}

/// Remembers the last request it saw and answers 200 with the body echoed back.
struct Recorder {
  std::mutex mu;
  HttpRequest last;
  std::atomic<int> calls{0};

  HttpHandler Handler() {
    return [this](const HttpRequest& request) {
      ++calls;
      {
        std::lock_guard lock(mu);
        last = request;
      }
      HttpResponse response;
      response.body = request.body;
      return response;
    };
  }
  HttpRequest Last() {
    std::lock_guard lock(mu);
    return last;
  }
};

/// A port nothing listens on: bound by the kernel's choice, then released.
int UnusedPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
  socklen_t length = sizeof(address);
  REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
  close(fd);
  return ntohs(address.sin_port);
}

/// Sends raw bytes over a fresh connection and returns everything the server sends back until
/// it closes the connection (requests should carry "Connection: close"). With `hang_up`, the
/// sending side is shut down right after the bytes, as a client that goes away would.
std::string RawExchange(int port, const std::string& request, bool hang_up = false) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  timeval timeout{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
  for (size_t sent = 0; sent < request.size();) {
    ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    REQUIRE(n > 0);
    sent += static_cast<size_t>(n);
  }
  if (hang_up) shutdown(fd, SHUT_WR);
  std::string response;
  char buffer[4096];
  for (ssize_t n; (n = recv(fd, buffer, sizeof(buffer), 0)) > 0;) response.append(buffer, n);
  close(fd);
  return response;
}

std::string Chunked(const std::string& body, size_t piece) {
  std::string out;
  char size[32];
  for (size_t at = 0; at < body.size(); at += piece) {
    std::string part = body.substr(at, piece);
    snprintf(size, sizeof(size), "%zx\r\n", part.size());
    out += size + part + "\r\n";
  }
  return out + "0\r\n\r\n";
}

double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

/// A connection to 127.0.0.1:port from `source` (any 127.x.y.z address is this host), with 10 s
/// send and receive timeouts.
int Connect(int port, const char* source = "127.0.0.1") {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  timeval timeout{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  sockaddr_in local{};
  local.sin_family = AF_INET;
  REQUIRE(inet_pton(AF_INET, source, &local.sin_addr) == 1);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof(local)) == 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
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

/// One response read from a connection: status 0 if it ended (or timed out) first.
struct RawResponse {
  int status = 0;
  std::string head, body;
};

/// Reads one response (head and its Content-Length body); `pending` keeps bytes read past it.
RawResponse ReadResponse(int fd, std::string* pending) {
  RawResponse r;
  char chunk[65536];
  auto more = [&] {
    ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
    if (n <= 0) return false;
    pending->append(chunk, static_cast<size_t>(n));
    return true;
  };
  size_t end;
  while ((end = pending->find("\r\n\r\n")) == std::string::npos) {
    if (!more()) return r;
  }
  r.head = pending->substr(0, end + 4);
  size_t length = 0;
  if (size_t at = r.head.find("Content-Length: "); at != std::string::npos) {
    length = std::stoul(r.head.substr(at + 16));
  }
  while (pending->size() < end + 4 + length) {
    if (!more()) return r;
  }
  r.body = pending->substr(end + 4, length);
  pending->erase(0, end + 4 + length);
  r.status = std::stoi(r.head.substr(9, 3));
  return r;
}

/// This process's resident memory, in KiB.
long ResidentKiB() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

/// The ports this process listens on (TCP over IPv4).
std::set<int> OwnListeningPorts() {
  std::set<std::string> inodes;
  if (DIR* dir = opendir("/proc/self/fd")) {
    while (dirent* entry = readdir(dir)) {
      char target[256];
      std::string path = std::string("/proc/self/fd/") + entry->d_name;
      ssize_t n = readlink(path.c_str(), target, sizeof(target) - 1);
      if (n <= 0) continue;
      std::string link(target, static_cast<size_t>(n));
      if (link.rfind("socket:[", 0) == 0) inodes.insert(link.substr(8, link.size() - 9));
    }
    closedir(dir);
  }
  std::set<int> ports;
  std::ifstream tcp("/proc/self/net/tcp");
  std::string line;
  std::getline(tcp, line);  // column titles
  while (std::getline(tcp, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
    fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >>
        timeout >> inode;
    if (state == "0A" && inodes.count(inode)) {
      ports.insert(std::stoi(local.substr(local.find(':') + 1), nullptr, 16));
    }
  }
  return ports;
}

}  // namespace

TEST_CASE("echo round trip carries method, decoded path and query, body and Authorization") {
  Recorder recorder;
  auto server = Start(recorder.Handler());
  auto client = Client(*server, "s3cret");

  HttpResult result = client->Request(
      "POST", "/api/v1/work%20flows/3?name=a%20b&flag&sum=1%2B1&plus=c+d&utf=%C3%A9", "{\"k\": 1}");
  REQUIRE_MESSAGE(result.transport_ok(), result.error);
  CHECK(result.status == 200);
  CHECK(result.body == "{\"k\": 1}");
  CHECK(result.error.empty());

  HttpRequest seen = recorder.Last();
  CHECK(seen.method == "POST");
  CHECK(seen.path == "/api/v1/work flows/3");
  CHECK(seen.query.size() == 5);
  CHECK(seen.query["name"] == "a b");
  CHECK(seen.query["flag"] == "");
  CHECK(seen.query["sum"] == "1+1");
  CHECK(seen.query["plus"] == "c d");
  CHECK(seen.query["utf"] == "\xC3\xA9");
  CHECK(seen.body == "{\"k\": 1}");
  CHECK(seen.authorization == "Bearer s3cret");
  CHECK(seen.remote_address == "127.0.0.1");

  // No token, no body, other methods.
  auto anonymous = Client(*server);
  for (const char* method : {"GET", "DELETE", "PUT", "PATCH", "OPTIONS"}) {
    CAPTURE(method);
    result = anonymous->Request(method, "/x");
    REQUIRE_MESSAGE(result.transport_ok(), result.error);
    CHECK(result.status == 200);
    seen = recorder.Last();
    CHECK(seen.method == method);
    CHECK(seen.path == "/x");
    CHECK(seen.query.empty());
    CHECK(seen.body.empty());
    CHECK(seen.authorization.empty());
  }
  CHECK(recorder.calls == 6);

  // Binary bytes survive both ways.
  std::string binary;
  for (int i = 0; i < 256; ++i) binary.push_back(static_cast<char>(i));
  result = anonymous->Request("POST", "/bin", binary);
  CHECK(result.status == 200);
  CHECK(result.body == binary);
}

TEST_CASE("port 0 binds a real free port, two servers get different ones") {
  Recorder a_recorder, b_recorder;
  auto a = Start(a_recorder.Handler());
  auto b = Start(b_recorder.Handler());
  CHECK(a->port() != b->port());
  CHECK(Client(*a)->Request("POST", "/", "a").body == "a");
  CHECK(Client(*b)->Request("POST", "/", "b").body == "b");
  CHECK(a_recorder.calls == 1);
  CHECK(b_recorder.calls == 1);
}

TEST_CASE("an explicit port is used, and a second server on it is refused") {
  Recorder recorder;
  HttpServerOptions options;
  options.port = UnusedPort();
  std::string error;
  auto server = StartHttpServer(options, recorder.Handler(), &error);
  REQUIRE_MESSAGE(server != nullptr, error);
  CHECK(server->port() == options.port);

  auto second = StartHttpServer(options, recorder.Handler(), &error);
  CHECK(second == nullptr);
  CHECK(error.find("in use") != std::string::npos);
  // The first server is unaffected.
  CHECK(Client(*server)->Request("POST", "/", "still here").body == "still here");
}

TEST_CASE("a port used by another socket is reported as an error") {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
  REQUIRE(listen(fd, 1) == 0);
  socklen_t length = sizeof(address);
  REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);

  HttpServerOptions options;
  options.port = ntohs(address.sin_port);
  std::string error;
  auto server = StartHttpServer(
      options, [](const HttpRequest&) { return HttpResponse(); }, &error);
  CHECK(server == nullptr);
  CHECK_MESSAGE(error.find("cannot listen") != std::string::npos, error);
  close(fd);

  options.port = 70000;
  CHECK(StartHttpServer(
            options, [](const HttpRequest&) { return HttpResponse(); }, &error) == nullptr);
  CHECK(error.find("invalid port") != std::string::npos);
}

TEST_CASE("status codes, bodies and content types pass through") {
  auto server = Start([](const HttpRequest& request) {
    HttpResponse response;
    response.status = std::stoi(request.path.substr(1));
    if (response.status != 204) response.body = "{\"status\": " + request.path.substr(1) + "}";
    if (request.query.count("text")) response.content_type = "text/plain";
    return response;
  });
  auto client = Client(*server);
  for (int status : {200, 201, 204, 400, 401, 404, 409, 418, 500, 503}) {
    CAPTURE(status);
    HttpResult result = client->Request("GET", "/" + std::to_string(status));
    REQUIRE_MESSAGE(result.transport_ok(), result.error);
    CHECK(result.status == status);
    if (status == 204) {
      CHECK(result.body.empty());
    } else {
      CHECK(result.body == "{\"status\": " + std::to_string(status) + "}");
    }
  }
  std::string raw = RawExchange(server->port(),
                                "GET /404?text=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  CHECK(raw.rfind("HTTP/1.1 404 ", 0) == 0);
  CHECK(raw.find("Content-Type: text/plain") != std::string::npos);
  raw = RawExchange(server->port(), "GET /200 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  CHECK(raw.find("Content-Type: application/json") != std::string::npos);
}

TEST_CASE("a handler that throws gives 500 with a JSON error, and the server keeps serving") {
  auto server = Start([](const HttpRequest& request) -> HttpResponse {
    if (request.path == "/boom") throw std::runtime_error("database is on fire");
    if (request.path == "/int") throw 42;
    HttpResponse response;
    response.body = "fine";
    return response;
  });
  auto client = Client(*server);
  HttpResult result = client->Request("POST", "/boom", "{}");
  CHECK(result.status == 500);
  CHECK(result.body == R"({"error":"internal error: database is on fire"})");
  result = client->Request("GET", "/int");
  CHECK(result.status == 500);
  CHECK(result.body.find("\"error\"") != std::string::npos);
  result = client->Request("GET", "/ok");
  CHECK(result.status == 200);
  CHECK(result.body == "fine");
}

TEST_CASE("malformed requests get 400 without reaching the handler") {
  Recorder recorder;
  auto server = Start(recorder.Handler());
  std::string raw =
      RawExchange(server->port(), "GET /a%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  CHECK(raw.rfind("HTTP/1.1 400 ", 0) == 0);
  raw = RawExchange(server->port(), "GET /a?x=%4 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  CHECK(raw.rfind("HTTP/1.1 400 ", 0) == 0);
  CHECK(raw.find("malformed percent-encoding") != std::string::npos);
  raw = RawExchange(server->port(), "NOT-HTTP\r\n\r\n");
  CHECK(raw.rfind("HTTP/1.1 400 ", 0) == 0);
  CHECK(recorder.calls == 0);
  CHECK(Client(*server)->Request("POST", "/", "ok").body == "ok");
}

TEST_CASE("a client that disconnects in the middle of its body does not disturb the server") {
  Recorder recorder;
  auto server = Start(recorder.Handler());
  for (int i = 0; i < 5; ++i) {
    std::string raw = RawExchange(
        server->port(), "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n0123456789",
        /*hang_up=*/true);
    // The half-sent request gets a 400 and the connection is closed; the handler never sees it.
    CHECK(raw.rfind("HTTP/1.1 400 ", 0) == 0);
    CHECK(raw.find("connection closed before all 100000 body bytes arrived") != std::string::npos);
  }
  CHECK(Client(*server)->Request("POST", "/", "whole").body == "whole");
  CHECK(recorder.calls == 1);
  auto started = std::chrono::steady_clock::now();
  server->Stop();  // nothing left in flight: returns at once
  CHECK(Seconds(std::chrono::steady_clock::now() - started) < 2);
}

TEST_CASE("bodies over the limit get 413 without reaching the handler") {
  Recorder recorder;
  const size_t limit = 1000;
  auto server = Start(recorder.Handler(), limit);
  auto client = Client(*server);

  HttpResult result = client->Request("POST", "/", std::string(limit, 'x'));
  CHECK(result.status == 200);
  CHECK(result.body.size() == limit);
  CHECK(recorder.calls == 1);

  result = client->Request("POST", "/", std::string(limit + 1, 'x'));
  CHECK(result.status == 413);
  CHECK(result.body == R"({"error":"request body too large: 1001 bytes, limit 1000"})");

  // Large enough that it is drained in several pieces; the connection stays usable.
  result = client->Request("POST", "/", std::string(3 << 20, 'x'));
  CHECK(result.status == 413);
  CHECK(result.body.find("3145728 bytes") != std::string::npos);
  CHECK(client->Request("POST", "/", "small").body == "small");
  CHECK(recorder.calls == 2);

  // Chunked bodies: kept under the limit, refused past it.
  std::string under(limit, 'c');
  std::string raw = RawExchange(server->port(),
                                "POST /chunked HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                "Transfer-Encoding: chunked\r\n\r\n" +
                                    Chunked(under, 300));
  CHECK(raw.rfind("HTTP/1.1 200 ", 0) == 0);
  CHECK(recorder.Last().body == under);
  CHECK(recorder.calls == 3);
  raw = RawExchange(server->port(),
                    "POST /chunked HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n" +
                        Chunked(std::string(5000, 'c'), 700));
  CHECK(raw.rfind("HTTP/1.1 413 ", 0) == 0);
  CHECK(raw.find("request body too large: 5000 bytes, limit 1000") != std::string::npos);
  CHECK(recorder.calls == 3);
}

TEST_CASE("a client against a closed port reports the connection failure") {
  auto client = MakeHttpClient("http://127.0.0.1:" + std::to_string(UnusedPort()), "tok", 5s);
  HttpResult result = client->Request("GET", "/api/v1/ping");
  CHECK_FALSE(result.transport_ok());
  CHECK(result.status == 0);
  CHECK(result.body.empty());
  CHECK_MESSAGE(result.error.find("connection refused") != std::string::npos, result.error);
  MESSAGE("closed port: ", result.error);

  Recorder recorder;
  auto server = Start(recorder.Handler());
  result = Client(*server)->Request("GET", "/not encoded");
  CHECK(result.status == 0);
  CHECK_FALSE(result.error.empty());
  MESSAGE("unencoded path: ", result.error);

  auto bad = MakeHttpClient("not a url", "", 1s);
  result = bad->Request("GET", "/");
  CHECK(result.status == 0);
  CHECK_MESSAGE(result.error.find("invalid base URL") != std::string::npos, result.error);
}

TEST_CASE("a client times out on a slow handler and the server survives it") {
  std::atomic<bool> slow{true};
  auto server = Start([&](const HttpRequest&) {
    if (slow) std::this_thread::sleep_for(1500ms);
    HttpResponse response;
    response.body = "late";
    return response;
  });
  auto client = Client(*server, "", 300ms);
  auto started = std::chrono::steady_clock::now();
  HttpResult result = client->Request("POST", "/slow", "{}");
  double elapsed = Seconds(std::chrono::steady_clock::now() - started);
  CHECK(result.status == 0);
  CHECK_MESSAGE(result.error.find("timed out after 300 ms") != std::string::npos, result.error);
  CHECK(elapsed < 1.3);
  MESSAGE("timeout: ", result.error, " after ", elapsed, " s");

  slow = false;
  result = Client(*server)->Request("GET", "/fast");
  CHECK(result.status == 200);
  CHECK(result.body == "late");
}

TEST_CASE("8 threads x 200 concurrent requests are all answered correctly") {
  std::atomic<int> calls{0};
  std::atomic<int> concurrent{0}, max_concurrent{0};
  auto server = Start([&](const HttpRequest& request) {
    int now = ++concurrent;
    for (int seen = max_concurrent;
         now > seen && !max_concurrent.compare_exchange_weak(seen, now);) {
    }
    ++calls;
    std::this_thread::sleep_for(1ms);  // long enough for requests to overlap
    HttpResponse response;
    response.body = request.path + "|" + request.query.at("i") + "|" + request.body;
    --concurrent;
    return response;
  });
  auto shared = Client(*server, "tok");
  constexpr int kThreads = 8, kRequests = 200;
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRequests; ++i) {
        std::string path = "/t" + std::to_string(t);
        std::string body = "{\"n\": " + std::to_string(t * 1000 + i) + "}";
        HttpResult r = shared->Request("POST", path + "?i=" + std::to_string(i), body);
        if (r.status == 200 && r.body == path + "|" + std::to_string(i) + "|" + body) ++good;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(good == kThreads * kRequests);
  CHECK(calls == kThreads * kRequests);
  CHECK(max_concurrent > 1);
  MESSAGE("most handler calls at once: ", max_concurrent.load());
}

TEST_CASE("Stop waits for the request in flight and can be called twice") {
  std::atomic<bool> entered{false};
  auto server = Start([&](const HttpRequest&) {
    entered = true;
    std::this_thread::sleep_for(300ms);
    HttpResponse response;
    response.body = "done";
    return response;
  });
  const int port = server->port();
  HttpResult in_flight;
  std::thread caller([&] { in_flight = Client(*server)->Request("GET", "/slow"); });
  while (!entered) std::this_thread::sleep_for(1ms);
  server->Stop();
  caller.join();
  CHECK(in_flight.status == 200);
  CHECK(in_flight.body == "done");
  server->Stop();
  HttpResult after =
      MakeHttpClient("http://127.0.0.1:" + std::to_string(port), "", 2s)->Request("GET", "/");
  CHECK(after.status == 0);
  server.reset();
}

TEST_CASE("throughput of sequential small requests and of 1 MB round trips") {
  auto server = Start([](const HttpRequest& request) {
    HttpResponse response;
    response.body = request.body.empty() ? std::string("{\"ok\": true}") : request.body;
    return response;
  });
  auto client = Client(*server, "token");

  constexpr int kSmall = 3000;
  auto started = std::chrono::steady_clock::now();
  int ok = 0;
  for (int i = 0; i < kSmall; ++i) ok += client->Request("GET", "/api/v1/ping").status == 200;
  double small_seconds = Seconds(std::chrono::steady_clock::now() - started);
  CHECK(ok == kSmall);
  MESSAGE("sequential small GETs: ", static_cast<int>(kSmall / small_seconds), " requests/s (",
          1e6 * small_seconds / kSmall, " us each)");

  std::string megabyte(1 << 20, 'm');
  constexpr int kLarge = 20;
  started = std::chrono::steady_clock::now();
  ok = 0;
  for (int i = 0; i < kLarge; ++i) {
    HttpResult result = client->Request("POST", "/echo", megabyte);
    ok += result.status == 200 && result.body.size() == megabyte.size();
  }
  double large_seconds = Seconds(std::chrono::steady_clock::now() - started);
  CHECK(ok == kLarge);
  MESSAGE("1 MB up + 1 MB down round trip: ", 1e3 * large_seconds / kLarge, " ms each (",
          2 * kLarge / large_seconds, " MB/s moved)");
}

TEST_CASE("a request head over the header limit gets 431 before it is kept, and memory stays bounded") {
  Recorder recorder;
  auto server = Start(recorder.Handler());
  const std::string expected_body =
      R"j({"error":"request line and headers too large: more than 65536 bytes (limit 65536)"})j";

  // A 1 MiB header line.
  std::string raw = RawExchange(server->port(), "GET /x HTTP/1.1\r\nHost: x\r\nX-Big: " +
                                                    std::string(1 << 20, 'b') + "\r\n\r\n");
  CHECK(raw.rfind("HTTP/1.1 431 Request Header Fields Too Large\r\n", 0) == 0);
  CHECK(raw.find("Connection: close") != std::string::npos);
  CHECK(raw.substr(raw.find("\r\n\r\n") + 4) == expected_body);

  // A 100 MiB request line, streamed: the answer comes while the client is still sending, and
  // the server never holds the line.
  const std::string mebibyte(1 << 20, 'a');
  std::atomic<bool> sending{true};
  std::atomic<long> peak_kib{0};
  const long before_kib = ResidentKiB();
  std::thread sampler([&] {
    while (sending) {
      peak_kib = std::max(peak_kib.load(), ResidentKiB());
      std::this_thread::sleep_for(5ms);
    }
  });
  int fd = Connect(server->port());
  std::string answer;
  bool answered = false;
  int sent_mib = 0;
  if (SendAll(fd, "GET /")) {
    for (; sent_mib < 100 && !answered; ++sent_mib) {
      if (!SendAll(fd, mebibyte)) break;
      char chunk[4096];
      for (ssize_t n; (n = recv(fd, chunk, sizeof(chunk), MSG_DONTWAIT)) > 0;) {
        answer.append(chunk, static_cast<size_t>(n));
      }
      answered = answer.find(expected_body) != std::string::npos;
    }
    if (!answered) SendAll(fd, " HTTP/1.1\r\nHost: x\r\n\r\n");
  }
  std::string pending = answer;
  RawResponse response = ReadResponse(fd, &pending);
  close(fd);
  sending = false;
  sampler.join();
  MESSAGE("sent ", sent_mib, " MiB before the answer; resident memory ", before_kib, " KiB before, ",
          peak_kib.load(), " KiB at most while sending");
  CHECK(response.status == 431);
  CHECK(response.body == expected_body);
  CHECK(sent_mib < 100);
  CHECK(peak_kib - before_kib < 32 * 1024);
  CHECK(recorder.calls == 0);
  // The server is unharmed.
  CHECK(Client(*server)->Request("POST", "/", "fine").body == "fine");

  // A smaller limit is an option.
  HttpServerOptions options;
  options.max_header_bytes = 2048;
  auto small = Start(recorder.Handler(), 64 << 20, options);
  raw = RawExchange(small->port(), "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " +
                                       std::string(2048, 'b') + "\r\nConnection: close\r\n\r\n");
  CHECK(raw.find(R"j({"error":"request line and headers too large: more than 2048 bytes (limit 2048)"})j") !=
        std::string::npos);
  raw = RawExchange(small->port(), "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " +
                                       std::string(1900, 'b') + "\r\nConnection: close\r\n\r\n");
  CHECK(raw.rfind("HTTP/1.1 200 ", 0) == 0);
}

TEST_CASE("a request head that does not arrive within the header timeout gets 408") {
  Recorder recorder;
  HttpServerOptions options;
  options.header_timeout = 300ms;
  auto server = Start(recorder.Handler(), 64 << 20, options);

  // A connection that sent nothing yet is idle, not slow: it is not timed out.
  int idle = Connect(server->port());
  std::this_thread::sleep_for(600ms);
  std::string pending;
  REQUIRE(SendAll(idle, "GET /idle HTTP/1.1\r\nHost: x\r\n\r\n"));
  CHECK(ReadResponse(idle, &pending).status == 200);

  // Half a head, then nothing: 408 after the timeout, and the connection is closed.
  auto started = std::chrono::steady_clock::now();
  REQUIRE(SendAll(idle, "GET /slow HTTP/1.1\r\nHost: x\r\n"));
  RawResponse response = ReadResponse(idle, &pending);
  const double waited = Seconds(std::chrono::steady_clock::now() - started);
  CHECK(response.status == 408);
  CHECK(response.body == R"({"error":"request line and headers not received within 300 ms"})");
  CHECK(waited >= 0.29);
  CHECK(waited < 3);
  char byte;
  CHECK(recv(idle, &byte, 1, 0) == 0);
  close(idle);
  CHECK(recorder.calls == 1);

  // A head sent a byte at a time, each in time, still has to be complete within the timeout.
  int drip = Connect(server->port());
  started = std::chrono::steady_clock::now();
  const std::string head = "GET /drip HTTP/1.1\r\nHost: x\r\n\r\n";
  bool refused = false;
  for (char c : head) {
    if (!SendAll(drip, std::string(1, c))) break;
    std::this_thread::sleep_for(30ms);
    char chunk[512];
    if (recv(drip, chunk, sizeof(chunk), MSG_DONTWAIT) > 0) {
      refused = std::string(chunk, 13) == "HTTP/1.1 408 ";
      break;
    }
  }
  close(drip);
  CHECK(refused);
  CHECK(recorder.calls == 1);
}

TEST_CASE("one connection more than the per-client cap gets 503, the others keep working") {
  Recorder recorder;
  HttpServerOptions options;
  options.max_connections_per_client = 4;
  auto server = Start(recorder.Handler(), 64 << 20, options);
  const std::string request = "GET /k HTTP/1.1\r\nHost: x\r\n\r\n";

  std::vector<int> open;
  std::string pending;
  for (int i = 0; i < 4; ++i) {
    open.push_back(Connect(server->port(), "127.0.0.2"));
    REQUIRE(SendAll(open.back(), request));
    REQUIRE(ReadResponse(open.back(), &pending).status == 200);
  }
  int extra = Connect(server->port(), "127.0.0.2");
  SendAll(extra, request);  // may fail: the answer can come first
  RawResponse refused = ReadResponse(extra, &pending);
  CHECK(refused.status == 503);
  CHECK(refused.body == R"j({"error":"too many connections from 127.0.0.2 (limit 4)"})j");
  close(extra);
  pending.clear();

  // The four connections still work, and so does another client address.
  for (int fd : open) {
    REQUIRE(SendAll(fd, request));
    CHECK(ReadResponse(fd, &pending).status == 200);
  }
  int other = Connect(server->port(), "127.0.0.3");
  REQUIRE(SendAll(other, request));
  CHECK(ReadResponse(other, &pending).status == 200);
  close(other);

  // A closed connection frees its place.
  close(open.back());
  open.pop_back();
  int status = 0;
  for (int attempt = 0; attempt < 50 && status != 200; ++attempt) {
    std::this_thread::sleep_for(20ms);
    int again = Connect(server->port(), "127.0.0.2");
    pending.clear();
    if (SendAll(again, request)) status = ReadResponse(again, &pending).status;
    close(again);
  }
  CHECK(status == 200);
  for (int fd : open) close(fd);
}

TEST_CASE("keep-alive: several requests, chunked bodies among them, on one connection") {
  Recorder recorder;
  auto server = Start(recorder.Handler());
  int fd = Connect(server->port());
  std::string pending;
  const std::vector<std::pair<std::string, std::string>> requests = {
      {"GET /1 HTTP/1.1\r\nHost: x\r\n\r\n", ""},
      {"POST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", "hello"},
      {"POST /3 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
           Chunked(std::string(3000, 'c'), 700),
       std::string(3000, 'c')},
      {"POST /4 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", ""},
      {"POST /5 HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n" + std::string(200000, 'z'),
       std::string(200000, 'z')},
      {"GET /6 HTTP/1.1\r\nHost: x\r\n\r\n", ""},
  };
  for (const auto& [request, body] : requests) {
    CAPTURE(request.substr(0, 20));
    REQUIRE(SendAll(fd, request));
    RawResponse response = ReadResponse(fd, &pending);
    CHECK(response.status == 200);
    CHECK(response.body == body);
  }
  close(fd);
  CHECK(recorder.calls == 6);
  CHECK(recorder.Last().path == "/6");
}

TEST_CASE("the internal port refuses requests that did not come through the guard") {
  Recorder recorder;
  const std::set<int> before = OwnListeningPorts();
  auto server = Start(recorder.Handler());
  std::set<int> internal;
  for (int port : OwnListeningPorts()) {
    if (!before.count(port) && port != server->port()) internal.insert(port);
  }
  REQUIRE(internal.size() == 1);
  const int port = *internal.begin();
  for (const std::string extra : {"", "X-Torc-Guard: 0123456789abcdef0123456789abcdef\r\n"}) {
    std::string raw = RawExchange(
        port, "GET /api/v1/workflows HTTP/1.1\r\nHost: x\r\n" + extra + "Connection: close\r\n\r\n");
    CHECK(raw.rfind("HTTP/1.1 403 ", 0) == 0);
    CHECK(raw.find(R"({"error":"this is torc's internal port: connect to the server's public port instead"})") !=
          std::string::npos);
  }
  CHECK(recorder.calls == 0);
}

TEST_CASE("remote_address is the real peer; a client's guard headers are dropped") {
  Recorder recorder;
  auto server = Start(recorder.Handler());
  int fd = Connect(server->port(), "127.0.0.2");
  std::string pending;
  REQUIRE(SendAll(fd, "GET /who HTTP/1.1\r\nHost: x\r\nX-Torc-Peer: 6.6.6.6\r\n"
                      "X-Torc-Guard: forged\r\n\r\n"));
  CHECK(ReadResponse(fd, &pending).status == 200);
  close(fd);
  CHECK(recorder.Last().remote_address == "127.0.0.2");
  CHECK(Client(*server)->Request("GET", "/").status == 200);
  CHECK(recorder.Last().remote_address == "127.0.0.1");
}

// ---- the worker protocol, answered in the guard's thread (direct_requests.h) ----

namespace {
/// Records which thread ran each request, by path, and echoes "<path> <body>".
struct ThreadRecorder {
  std::mutex mu;
  std::vector<std::pair<std::string, std::thread::id>> calls;
  HttpRequest last;

  HttpHandler Handler() {
    return [this](const HttpRequest& request) {
      std::lock_guard lock(mu);
      calls.emplace_back(request.path, std::this_thread::get_id());
      last = request;
      HttpResponse response;
      response.status = request.path.find("missing") != std::string::npos ? 404 : 200;
      response.body = request.path + " " + request.body;
      return response;
    };
  }
  std::set<std::thread::id> ThreadsOf(bool worker) {
    std::lock_guard lock(mu);
    std::set<std::thread::id> out;
    for (const auto& [path, id] : calls)
      if ((path.find("/claim") != std::string::npos) == worker) out.insert(id);
    return out;
  }
};

std::string Post(const std::string& path, const std::string& body, const std::string& extra = "") {
  return "POST " + path + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t0k\r\n" + extra +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}
}  // namespace

TEST_CASE("worker requests are answered in the guard's own thread, others by cpprestsdk") {
  ThreadRecorder recorder;
  auto server = Start(recorder.Handler());
  // Several connections, as several workers and clients: each does one kind of request.
  for (int round = 0; round < 10; ++round) {
    int worker = Connect(server->port());
    int other = Connect(server->port());
    std::string pending_w, pending_o;
    for (int i = 0; i < 3; ++i) {
      REQUIRE(SendAll(worker, Post("/api/v1/workflows/7/claim", "{\"n\":" + std::to_string(i) + "}")));
      RawResponse w = ReadResponse(worker, &pending_w);
      CHECK(w.status == 200);
      CHECK(w.body == "/api/v1/workflows/7/claim {\"n\":" + std::to_string(i) + "}");
      CHECK(w.head.find("Content-Type: application/json\r\n") != std::string::npos);
      REQUIRE(SendAll(other, Post("/api/v1/workflows/7/jobs", "x")));
      CHECK(ReadResponse(other, &pending_o).status == 200);
    }
    close(worker);
    close(other);
  }
  const auto worker_threads = recorder.ThreadsOf(true);
  const auto other_threads = recorder.ThreadsOf(false);
  CHECK(worker_threads.size() == 1);
  for (const auto& id : other_threads) CHECK(worker_threads.count(id) == 0);
  CHECK(recorder.last.authorization == "Bearer t0k");
  CHECK(recorder.last.remote_address == "127.0.0.1");
}

TEST_CASE("a connection's answers keep their order when it turns from worker requests to others") {
  ThreadRecorder recorder;
  auto server = Start(recorder.Handler());
  int fd = Connect(server->port(), "127.0.0.3");
  // Pipelined in one write: two answered here, then one by cpprestsdk (which answers one
  // pipelined request at a time: the last one here).
  REQUIRE(SendAll(fd, Post("/api/v1/workflows/1/start", "a") +
                          "GET /api/v1/workflows/1/workers/2/jobs HTTP/1.1\r\nHost: x\r\n\r\n" +
                          Post("/api/v1/workflows/1/missing", "b")));
  std::string pending;
  const std::vector<std::pair<int, std::string>> expected = {
      {200, "/api/v1/workflows/1/start a"},
      {200, "/api/v1/workflows/1/workers/2/jobs "},
      {404, "/api/v1/workflows/1/missing b"}};
  for (const auto& [status, body] : expected) {
    RawResponse r = ReadResponse(fd, &pending);
    CHECK(r.status == status);
    CHECK(r.body == body);
  }
  // The connection stays with cpprestsdk once a request went there.
  for (const char* path : {"/api/v1/workflows/1/complete", "/api/v1/workflows/1/workers/2/heartbeat"}) {
    REQUIRE(SendAll(fd, Post(path, "c")));
    RawResponse r = ReadResponse(fd, &pending);
    CHECK(r.status == 200);
    CHECK(r.body == std::string(path) + " c");
  }
  close(fd);
  std::lock_guard lock(recorder.mu);
  REQUIRE(recorder.calls.size() == 5);
  CHECK(recorder.calls[0].second == recorder.calls[1].second);
  for (size_t i = 2; i < 5; ++i) CHECK(recorder.calls[i].second != recorder.calls[0].second);
  CHECK(recorder.last.remote_address == "127.0.0.3");
}

TEST_CASE("a worker request before a malformed one in the same read is answered, then refused") {
  ThreadRecorder recorder;
  auto server = Start(recorder.Handler());
  const std::string raw = RawExchange(
      server->port(), Post("/api/v1/workflows/1/complete", "first") + "BROKEN\r\n\r\n");
  CHECK(raw.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(raw.find("/api/v1/workflows/1/complete first") != std::string::npos);
  CHECK(raw.find("HTTP/1.1 400 ") != std::string::npos);
  CHECK(raw.find("HTTP/1.1 400 ") > raw.find("/api/v1/workflows/1/complete first"));
}

TEST_CASE("worker requests pipelined in bursts and split across writes are all answered in order") {
  ThreadRecorder recorder;
  auto server = Start(recorder.Handler());
  int fd = Connect(server->port());
  std::string pending;
  // 2,000 of the smallest requests in one write (62 KB: several of the guard's reads).
  std::string burst;
  for (int i = 0; i < 2000; ++i) burst += "GET /api/v1/health HTTP/1.1\r\n\r\n";
  REQUIRE(SendAll(fd, burst));
  int answered = 0;
  for (int i = 0; i < 2000; ++i) {
    RawResponse r = ReadResponse(fd, &pending);
    if (r.status != 200 || r.body != "/api/v1/health ") break;
    ++answered;
  }
  CHECK(answered == 2000);
  // Two requests with bodies in one write, then one whose head and body come in pieces.
  REQUIRE(SendAll(fd, Post("/api/v1/workflows/2/start", "one") +
                          Post("/api/v1/workflows/2/complete", std::string(40000, 'x'))));
  CHECK(ReadResponse(fd, &pending).body == "/api/v1/workflows/2/start one");
  CHECK(ReadResponse(fd, &pending).body == "/api/v1/workflows/2/complete " + std::string(40000, 'x'));
  const std::string split = Post("/api/v1/workflows/2/claim", "{\"max_jobs\": 4}");
  for (size_t at = 0; at < split.size(); at += 7) {
    REQUIRE(SendAll(fd, split.substr(at, 7)));
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  CHECK(ReadResponse(fd, &pending).body == "/api/v1/workflows/2/claim {\"max_jobs\": 4}");
  close(fd);
  CHECK(recorder.ThreadsOf(true).size() == 1);
}

TEST_CASE("worker requests the guard does not answer itself still work") {
  ThreadRecorder recorder;
  auto server = Start(recorder.Handler(), 1000);
  std::string pending;
  SUBCASE("a chunked body") {
    int fd = Connect(server->port());
    REQUIRE(SendAll(fd, "POST /api/v1/workflows/1/claim HTTP/1.1\r\nHost: x\r\n"
                        "Transfer-Encoding: chunked\r\n\r\n" + Chunked("hello", 2)));
    RawResponse r = ReadResponse(fd, &pending);
    CHECK(r.status == 200);
    CHECK(r.body == "/api/v1/workflows/1/claim hello");
    close(fd);
  }
  SUBCASE("a body over the limit: cpprestsdk's 413") {
    int fd = Connect(server->port());
    REQUIRE(SendAll(fd, Post("/api/v1/workflows/1/claim", std::string(2000, 'x'))));
    CHECK(ReadResponse(fd, &pending).status == 413);
    close(fd);
    std::lock_guard lock(recorder.mu);
    CHECK(recorder.calls.empty());
  }
  SUBCASE("a query") {
    int fd = Connect(server->port());
    REQUIRE(SendAll(fd, Post("/api/v1/workflows/1/claim?x=1", "q")));
    RawResponse r = ReadResponse(fd, &pending);
    CHECK(r.status == 200);
    CHECK(r.body == "/api/v1/workflows/1/claim q");
    close(fd);
  }
  SUBCASE("Connection: close ends the connection after the answer") {
    const std::string raw =
        RawExchange(server->port(), Post("/api/v1/health", "", "Connection: close\r\n"));
    // (health is a GET: a POST goes to cpprestsdk) and then GET, answered here
    CHECK(raw.rfind("HTTP/1.1 200 ", 0) == 0);
    // Closed by the guard right after its answer (RawExchange reads until the end: a guard that
    // kept the connection open would take its 10 s timeout), and a request after it unanswered.
    const auto start = std::chrono::steady_clock::now();
    const std::string get = RawExchange(
        server->port(), "GET /api/v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                        "GET /api/v1/health HTTP/1.1\r\n\r\n");
    CHECK(Seconds(std::chrono::steady_clock::now() - start) < 3);
    CHECK(get.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    CHECK(get.find("HTTP/1.1", 1) == std::string::npos);
    CHECK(get.find("Connection: close\r\n") != std::string::npos);
    CHECK(get.substr(get.size() - 15) == "/api/v1/health ");
  }
}

namespace {
/// Holds every claim that may wait (HttpResponse::wait, `hold` long) until `release` is set;
/// answers with whether the answering call could still have waited.
struct Holder {
  std::atomic<bool> release{false};
  std::atomic<int> asked{0};
  std::chrono::milliseconds hold{5000};
  HttpHandler Handler() {
    return [this](const HttpRequest& request) {
      ++asked;
      HttpResponse response;
      if (request.path.find("/claim") != std::string::npos && request.may_wait && !release) {
        response.wait = hold;
        return response;
      }
      response.body = request.body + (request.may_wait ? " may_wait" : " must_answer");
      return response;
    };
  }
};

/// True when `fd` has bytes to read within `ms`.
bool Readable(int fd, int ms) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, ms) > 0;
}
}  // namespace

TEST_CASE("a worker request the handler holds is answered when woken, or at its time") {
  Holder holder;
  auto server = Start(holder.Handler());
  int fd = Connect(server->port());
  std::string pending;
  SUBCASE("woken: asked again at once, and answered") {
    REQUIRE(SendAll(fd, Post("/api/v1/workflows/1/claim", "a")));
    CHECK_FALSE(Readable(fd, 300));
    const int before = holder.asked;
    server->WakeWaiting();  // nothing changed: asked again, held again
    std::this_thread::sleep_for(100ms);
    CHECK(holder.asked == before + 1);
    CHECK_FALSE(Readable(fd, 100));
    holder.release = true;
    const auto woken = std::chrono::steady_clock::now();
    server->WakeWaiting();
    RawResponse r = ReadResponse(fd, &pending);
    CHECK(Seconds(std::chrono::steady_clock::now() - woken) < 1);
    CHECK(r.status == 200);
    CHECK(r.body == "a may_wait");
    // The connection goes on as before.
    REQUIRE(SendAll(fd, Post("/api/v1/workflows/1/claim", "b")));
    CHECK(ReadResponse(fd, &pending).body == "b may_wait");
  }
  SUBCASE("not woken: asked a last time when its wait is over, and must answer") {
    holder.hold = 600ms;
    const auto start = std::chrono::steady_clock::now();
    REQUIRE(SendAll(fd, Post("/api/v1/workflows/1/claim", "a")));
    RawResponse r = ReadResponse(fd, &pending);
    const double took = Seconds(std::chrono::steady_clock::now() - start);
    CHECK(took >= 0.55);
    CHECK(took < 3);
    CHECK(r.body == "a must_answer");
  }
  SUBCASE("only the last request of a read may wait: the ones before it are answered first") {
    REQUIRE(SendAll(fd, Post("/api/v1/workflows/1/claim", "first") +
                            Post("/api/v1/workflows/1/claim", "second")));
    CHECK(ReadResponse(fd, &pending).body == "first must_answer");
    CHECK_FALSE(Readable(fd, 300));
    // What the client sends meanwhile waits for the held answer.
    REQUIRE(SendAll(fd, Post("/api/v1/workflows/1/start", "third")));
    CHECK_FALSE(Readable(fd, 300));
    holder.release = true;
    server->WakeWaiting();
    CHECK(ReadResponse(fd, &pending).body == "second may_wait");
    CHECK(ReadResponse(fd, &pending).body == "third may_wait");
  }
  SUBCASE("a request cpprestsdk answers never waits") {
    REQUIRE(SendAll(fd, "POST /api/v1/workflows/1/claim HTTP/1.1\r\nHost: x\r\n"
                        "Transfer-Encoding: chunked\r\n\r\n" + Chunked("c", 1)));
    CHECK(ReadResponse(fd, &pending).body == "c must_answer");
  }
  SUBCASE("Stop answers a held request (503) instead of waiting for it") {
    REQUIRE(SendAll(fd, Post("/api/v1/workflows/1/claim", "a")));
    CHECK_FALSE(Readable(fd, 300));
    const auto start = std::chrono::steady_clock::now();
    server->Stop();
    CHECK(Seconds(std::chrono::steady_clock::now() - start) < 3);
    CHECK(ReadResponse(fd, &pending).status == 503);
  }
  SUBCASE("a client that goes away while held does not disturb the others") {
    int other = Connect(server->port());
    REQUIRE(SendAll(other, Post("/api/v1/workflows/1/claim", "gone")));
    REQUIRE(SendAll(fd, Post("/api/v1/workflows/1/claim", "stays")));
    CHECK_FALSE(Readable(fd, 200));
    close(other);
    std::this_thread::sleep_for(100ms);
    holder.release = true;
    server->WakeWaiting();
    CHECK(ReadResponse(fd, &pending).body == "stays may_wait");
  }
  close(fd);
}
