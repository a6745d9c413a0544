// Tests of which requests the connection guard answers itself and how it writes the answers
// (server/http/direct_requests.h), without sockets.
#include "server/http/direct_requests.h"

#include <doctest/doctest.h>

#include <string>

using namespace torc::server;
using namespace torc::server::http_internal;

TEST_CASE("the worker protocol's requests, and nothing else") {
  for (const auto& [method, path] : std::initializer_list<std::pair<const char*, const char*>>{
           {"GET", "/api/v1/health"},
           {"POST", "/api/v1/workflows/3/workers"},
           {"POST", "/api/v1/workflows/3/claim"},
           {"POST", "/api/v1/workflows/12/start"},
           {"POST", "/api/v1/workflows/12/complete"},
           {"POST", "/api/v1/workflows/1/workers/44/heartbeat"},
           {"GET", "/api/v1/workflows/1/workers/44/jobs"},
           {"DELETE", "/api/v1/workflows/1/workers/44"}}) {
    CAPTURE(path);
    CHECK(IsWorkerRequest(method, path));
  }
  for (const auto& [method, path] : std::initializer_list<std::pair<const char*, const char*>>{
           {"POST", "/api/v1/health"},
           {"GET", "/api/v1/workflows/3/claim"},
           {"POST", "/api/v1/workflows"},
           {"GET", "/api/v1/workflows/3"},
           {"DELETE", "/api/v1/workflows/3"},
           {"GET", "/api/v1/workflows/3/workers"},
           {"POST", "/api/v1/workflows/x/claim"},
           {"POST", "/api/v1/workflows//claim"},
           {"POST", "/api/v1/workflows/3/claim/"},
           {"POST", "/api/v1/workflows/3/claimx"},
           {"POST", "/api/v2/workflows/3/claim"},
           {"POST", "/api/v1/workflows/12345678901234567890/claim"},
           {"POST", "/api/v1/workflows/1/workers/44/heartbeat/x"},
           {"GET", "/api/v1/workflows/1/workers/44"},
           {"POST", "/workflows/3/claim"}}) {
    CAPTURE(path);
    CHECK_FALSE(IsWorkerRequest(method, path));
  }
}

TEST_CASE("a request head the guard answers itself, and the ones it does not") {
  const std::string tail = "X-Torc-Guard: s\r\nX-Torc-Peer: 10.0.0.1\r\n\r\n";
  DirectHead head;
  REQUIRE(ParseDirectHead("POST /api/v1/workflows/3/claim HTTP/1.1\r\nHost: x\r\n"
                          "authorization:  Bearer abc \r\nContent-Length: 12\r\n" + tail,
                          100, &head));
  CHECK(head.method == "POST");
  CHECK(head.path == "/api/v1/workflows/3/claim");
  CHECK(head.authorization == "Bearer abc");
  CHECK(head.content_length == 12);
  CHECK_FALSE(head.close);
  REQUIRE(ParseDirectHead("GET /api/v1/health HTTP/1.1\r\nConnection: Close\r\n" + tail, 100,
                          &head));
  CHECK(head.close);
  CHECK(head.content_length == 0);
  CHECK(head.authorization.empty());
  for (const std::string& refused : {
           // HTTP/1.0, a query, an escape, not a worker request
           std::string("POST /api/v1/workflows/3/claim HTTP/1.0\r\n"),
           std::string("POST /api/v1/workflows/3/claim?x=1 HTTP/1.1\r\n"),
           std::string("POST /api/v1/workflows/3/cl%61im HTTP/1.1\r\n"),
           std::string("POST /api/v1/workflows HTTP/1.1\r\n"),
           // a body over the limit, chunked, Expect, two Authorization headers
           std::string("POST /api/v1/workflows/3/claim HTTP/1.1\r\nContent-Length: 101\r\n"),
           std::string("POST /api/v1/workflows/3/claim HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"),
           std::string("POST /api/v1/workflows/3/claim HTTP/1.1\r\nExpect: 100-continue\r\n"),
           std::string("POST /api/v1/workflows/3/claim HTTP/1.1\r\nAuthorization: a\r\n"
                       "Authorization: b\r\n")}) {
    CAPTURE(refused);
    CHECK_FALSE(ParseDirectHead(refused + tail, 100, &head));
  }
  CHECK(ParseDirectHead("POST /api/v1/workflows/3/claim HTTP/1.1\r\nContent-Length: 100\r\n" +
                            tail, 100, &head));
}

TEST_CASE("an answer: status line, Content-Type, Content-Length, and Connection: close when asked") {
  HttpResponse ok;
  ok.body = "{\"a\":1}";
  CHECK(SerializeResponse(ok, false) ==
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}");
  HttpResponse gone;
  gone.status = 410;
  gone.content_type.clear();
  CHECK(SerializeResponse(gone, true) ==
        "HTTP/1.1 410 Gone\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
}
