// Plain HTTP request/response types and the server transport built on cpprestsdk, which hands
// every request to one handler function. http_server.cc and server/client/http_client.cc are
// the only files that include cpprestsdk headers. In front of cpprestsdk, in the same process,
// a connection guard owns the public socket and bounds what clients send before cpprestsdk
// reads it (connection_guard.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

namespace torc::server {

/// One HTTP request as the API layer sees it.
struct HttpRequest {
  std::string method;                         // "GET", "POST", "DELETE", ...
  std::string path;                           // decoded path, e.g. "/api/v1/workflows/3"
  std::map<std::string, std::string> query;   // decoded query parameters
  std::string body;
  std::string authorization;                  // the Authorization header, "" if absent
  std::string remote_address;
  /// The transport can hold this request unanswered (HttpResponse::wait): only the worker
  /// requests the connection guard answers itself, one at a time on their connection.
  bool may_wait = false;
};

/// One HTTP response.
struct HttpResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  /// Not 0 (only for a request that may_wait): nothing to answer yet. The transport holds the
  /// request and asks the handler again with the same request when HttpServer::WakeWaiting is
  /// called, and after this long with may_wait false (then it must answer).
  std::chrono::milliseconds wait{0};
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

/// Where StartHttpServer listens and what it accepts from clients (docs/limits.md).
struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;                            // 0: the kernel picks a free port
  size_t max_body_bytes = 64 << 20;        // larger bodies get 413 without reaching the handler
  /// Largest request line plus headers; a longer head gets 431 before more of it is kept.
  size_t max_header_bytes = 64 << 10;
  /// How long a request line and headers may take to arrive from their first byte; then 408.
  std::chrono::milliseconds header_timeout = std::chrono::seconds(30);
  /// Most open connections from one client address (every local worker and `torc run` comes
  /// from 127.0.0.1); one more gets 503.
  int max_connections_per_client = 256;
  /// Most open connections in all, lowered to what the open-files limit allows; one more
  /// gets 503.
  int max_connections = 4096;
  /// Both set: HTTPS with this certificate (PEM, with its chain) and key; both empty: plain HTTP.
  std::string tls_cert_file, tls_key_file;
};

/// Serves HTTP on host:port, calling `handler` for every request (possibly
/// from several threads at once). Malformed requests, heads and bodies over the
/// limits and connections over the caps are answered with a 4xx/5xx JSON error
/// body without calling it; an exception escaping the handler becomes a 500
/// with a JSON error body. HttpRequest::remote_address is the client's address.
class HttpServer {
 public:
  virtual ~HttpServer() = default;
  /// The port actually bound (useful with port 0).
  virtual int port() const = 0;
  /// Stops accepting requests and waits for the ones in flight (held ones get 503).
  virtual void Stop() = 0;
  /// Asks the handler again about every request it said to hold (HttpResponse::wait): something
  /// they wait for may have happened. Any thread; cheap when nothing is held.
  virtual void WakeWaiting() = 0;
};

/// Starts a server; returns null and sets *error when it cannot listen.
std::unique_ptr<HttpServer> StartHttpServer(const HttpServerOptions& options, HttpHandler handler,
                                            std::string* error);

}  // namespace torc::server
