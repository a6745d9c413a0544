// The C++ client of the torc REST API, used by the CLI and the worker.
// Nothing else speaks HTTP to the server by hand.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

namespace torc::server {

class HttpClient;

/// Where the server is and how to authenticate. Empty fields are filled from
/// TORC_API_URL / TORC_TOKEN, then the token from `token_file` or
/// TORC_TOKEN_FILE (a user's own token on a multi-user server), then from the
/// data directory (server.url, token).
struct ClientOptions {
  std::string url;
  std::string token;
  std::string token_file;
  std::string data_dir;
  std::chrono::milliseconds timeout{30000};
};

/// The answer to one API call: HTTP status and JSON body, or a transport error
/// (status 0) such as a refused connection.
struct ApiResult {
  int status = 0;
  nlohmann::json body;
  std::string error;  // transport error, or the server's {"error": ...}
  bool ok() const { return status >= 200 && status < 300; }
};

/// Percent-encodes a query parameter value.
std::string UrlEncode(const std::string& value);

class ApiClient {
 public:
  /// Resolves URL and token; false with *error when they cannot be found.
  static std::unique_ptr<ApiClient> Connect(const ClientOptions& options, std::string* error);
  ~ApiClient();

  /// One call: `body` is sent as JSON unless null.
  ApiResult Call(const std::string& method, const std::string& path,
                 const nlohmann::json& body = nullptr);

  /// A one-line message for a failed result, e.g. "cannot reach server at
  /// http://...: connection refused — is 'torc server run' running? (TORC_API_URL=...)".
  std::string Describe(const ApiResult& r) const;

  const std::string& url() const { return url_; }

  /// The same server and token with another timeout per call (e.g. a short one while a worker
  /// looks for a server it has never reached).
  std::unique_ptr<ApiClient> WithTimeout(std::chrono::milliseconds timeout) const;

 private:
  ApiClient() = default;
  std::string url_;
  std::string token_;
  std::string url_source_;  // where the URL came from, for messages
  std::unique_ptr<HttpClient> http_;
};

}  // namespace torc::server
