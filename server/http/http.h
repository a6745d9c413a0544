// Plain HTTP request/response types and the server transport built on cpprestsdk, which hands
// every request to one handler function. http_server.cc and server/client/http_client.cc are
// the only files that include cpprestsdk headers.
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
};

/// One HTTP response.
struct HttpResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

/// Where StartHttpServer listens and the largest request body it accepts.
struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;                            // 0: pick a free port
  size_t max_body_bytes = 64 << 20;        // larger bodies get 413 without reaching the handler
};

/// Serves HTTP on host:port, calling `handler` for every request (possibly
/// from several threads at once). Malformed requests and bodies over the
/// limit are answered with a 4xx JSON error body without calling it;
/// an exception escaping the handler becomes a 500 with a JSON error body.
class HttpServer {
 public:
  virtual ~HttpServer() = default;
  /// The port actually bound (useful with port 0).
  virtual int port() const = 0;
  /// Stops accepting requests and waits for the ones in flight.
  virtual void Stop() = 0;
};

/// Starts a server; returns null and sets *error when it cannot listen.
std::unique_ptr<HttpServer> StartHttpServer(const HttpServerOptions& options, HttpHandler handler,
                                            std::string* error);

}  // namespace torc::server
