// A blocking HTTP client built on cpprestsdk (http_client.cc is, with
// server/http/http_server.cc, the only file that includes its headers).
#pragma once

#include <chrono>
#include <memory>
#include <string>

namespace torc::server {

/// Result of a client call: a response, or a transport error (connection
/// refused, timeout, ...) in `error` with status 0.
struct HttpResult {
  int status = 0;
  std::string body;
  std::string error;
  bool transport_ok() const { return status != 0; }
};

/// A blocking HTTP client for one base URL ("http://host:port"). Thread-safe.
class HttpClient {
 public:
  virtual ~HttpClient() = default;
  /// Sends `body` (JSON) to base_url + path; adds "Authorization: Bearer <token>"
  /// when a token was given.
  virtual HttpResult Request(const std::string& method, const std::string& path,
                             const std::string& body = "") = 0;
};

std::unique_ptr<HttpClient> MakeHttpClient(const std::string& base_url, const std::string& token,
                                           std::chrono::milliseconds timeout);

}  // namespace torc::server
