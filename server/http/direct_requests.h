// Internal to server/http: the worker protocol's requests, which the connection guard answers
// in its own thread (connection_guard.h) instead of relaying them to cpprestsdk.
//
// Every running job costs a claim and a result, so these requests are most of a server's work
// under a large allocation; relaying each one through cpprestsdk cost two more socket hops and
// three thread hand-offs (docs/benchmarks.md, "The guard answers the worker protocol").
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "server/http/http.h"

namespace torc::server::http_internal {

/// What the guard needs from a request head to answer the request itself.
struct DirectHead {
  std::string method, path, authorization;
  uint64_t content_length = 0;
  bool close = false;  // the client sent "Connection: close"
};

/// True for the worker protocol's requests (register, claim, start, complete, heartbeat, its
/// jobs, unregister, health): `path` without a query.
bool IsWorkerRequest(std::string_view method, std::string_view path);

/// Reads a complete request head as the framer passes it on (request_framer.h: validated,
/// lines ending in CRLF, the guard's headers added). True when the guard answers it itself: a
/// worker request over HTTP/1.1 with no query, no Transfer-Encoding, no Expect, one
/// Authorization header at most, and a body of at most `max_body_bytes` (Content-Length).
bool ParseDirectHead(std::string_view head, size_t max_body_bytes, DirectHead* out);

/// The bytes of `response`: status line, Content-Type (when set), Content-Length, and
/// "Connection: close" when `close`.
std::string SerializeResponse(const HttpResponse& response, bool close);

}  // namespace torc::server::http_internal
