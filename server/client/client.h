// The C++ client of the torc REST API, used by the CLI and the worker.
// Nothing else speaks HTTP to the server by hand.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "server/protocol/messages.h"

namespace torc::server {

class HttpClient;
struct HttpResult;

/// Where the server is and how to authenticate. Empty fields are filled from
/// TORC_API_URL / TORC_TOKEN, then the token from `token_file` or
/// TORC_TOKEN_FILE (a user's own token on a multi-user server), then from the
/// data directory (server.url, token). An https:// server must present the key of the data
/// directory's server.crt, or, with `ca_file` (TORC_CA_FILE), a certificate of that CA naming
/// the URL's host (docs/security.md, "HTTPS").
struct ClientOptions {
  std::string url;
  std::string token;
  std::string token_file;
  std::string data_dir;
  std::string ca_file;
  std::chrono::milliseconds timeout{30000};
};

/// The answer to one API call: HTTP status and JSON body, or a transport error
/// (status 0) such as a refused connection.
struct ApiResult {
  int status = 0;
  nlohmann::json body;
  std::string error;  // transport error, or the server's {"error": ...}
  bool untrusted = false;  // the transport failed on the server's certificate (TLS)
  bool ok() const { return status >= 200 && status < 300; }
};

/// The outcome of a typed call (ApiClient's worker methods): the decoded answer, or why there
/// is none. A failure keeps the HTTP status (0: the server was not reached) and a message; an
/// answer that does not decode is a failure with its 2xx status ("the server's claim answer is
/// malformed: 'jobs' is required").
template <typename T>
struct ApiAnswer {
  int status = 0;
  std::optional<T> value;  // set exactly when the call succeeded and its answer decoded
  std::string error;       // a one-line message when it did not (ApiClient::Describe)
  bool ok() const { return value.has_value(); }
  /// The server said yes (2xx) with an answer that is not what the protocol says.
  bool malformed() const { return !value && status >= 200 && status < 300; }
  /// A failure that may pass: no answer (status 0), a server error (5xx, including 503 "busy"
  /// and a server still starting), 408 (request timeout), 429 (too many requests), or an answer
  /// that does not decode. The same request may be sent again later.
  bool transient() const {
    return !value && (status == 0 || status >= 500 || status == 408 || status == 429 ||
                      malformed());
  }
  /// The server refused the request for good (any other 4xx): sending it again gets the same
  /// answer. What it means depends on the call (docs/worker.md, "When the server says no").
  bool permanent() const { return !value && !transient(); }
};

/// An answer with nothing in it the caller needs ({"ok": true}, the health check).
struct Acknowledged {};

/// Percent-encodes a query parameter value.
std::string UrlEncode(const std::string& value);

/// The one way the CLI and the worker speak to a torc server: resolves the URL and token
/// (flags, environment, data directory), makes calls with a per-call timeout, and has typed
/// methods for the worker endpoints. Thread-safe; one per server.
class ApiClient {
 public:
  /// Resolves URL and token; false with *error when they cannot be found.
  static std::unique_ptr<ApiClient> Connect(const ClientOptions& options, std::string* error);
  /// A client speaking through `http` to `url` (tests: a fake transport).
  static std::unique_ptr<ApiClient> OverTransport(const std::string& url,
                                                  std::unique_ptr<HttpClient> http);
  ~ApiClient();

  /// One call: `body` is sent as JSON unless null. The CLI's way to the API; the worker's
  /// endpoints have the typed methods below.
  ApiResult Call(const std::string& method, const std::string& path,
                 const nlohmann::json& body = nullptr);

  // The worker endpoints (server/protocol/messages.h), one typed method each. None throws:
  // a failure, including an answer that does not decode, is an ApiAnswer without a value.

  /// POST /workflows/W/workers: registers a worker.
  ApiAnswer<protocol::RegistrationAnswer> RegisterWorker(int64_t workflow_id,
                                                         const protocol::Registration& m);
  /// POST /workflows/W/claim: claims jobs, carrying start notices and results.
  ApiAnswer<protocol::ClaimAnswer> Claim(int64_t workflow_id, const protocol::ClaimRequest& m);
  /// POST /workflows/W/start: says which claimed jobs now run.
  ApiAnswer<protocol::StartAnswer> StartJobs(int64_t workflow_id, const protocol::StartRequest& m);
  /// POST /workflows/W/complete: reports ended attempts (409 when some were rejected: the
  /// error then lists each rejected result, "job 3 attempt 1: ...").
  ApiAnswer<protocol::CompleteAnswer> CompleteJobs(int64_t workflow_id,
                                                   const protocol::CompleteRequest& m);
  /// POST /workflows/W/workers/K/heartbeat: renews the worker's lease (409 when it is lost).
  ApiAnswer<protocol::HeartbeatAnswer> Heartbeat(int64_t workflow_id, int64_t worker_id);
  /// GET /workflows/W/workers/K/jobs: the jobs the server says the worker holds.
  ApiAnswer<protocol::HeldJobs> HeldJobs(int64_t workflow_id, int64_t worker_id);
  /// DELETE /workflows/W/workers/K: the worker leaves (with a reason when work is left).
  ApiAnswer<Acknowledged> UnregisterWorker(int64_t workflow_id, int64_t worker_id,
                                           const protocol::LeaveNotice& m);
  /// GET /health: whether the server answers at all.
  ApiAnswer<Acknowledged> Health();
  /// The same, giving up after `within` (if shorter than the timeout) on this client's own
  /// connection: a worker's first probe costs the server no extra TLS handshake.
  ApiAnswer<Acknowledged> HealthWithin(std::chrono::milliseconds within);

  /// A one-line message for a failed result, e.g. "cannot reach server at
  /// http://...: connection refused — is 'torc server run' running? (TORC_API_URL=...)".
  std::string Describe(const ApiResult& r) const;

  /// The server's URL now (it changes when a followed server.url does).
  std::string url() const;

  /// The same server and token with another timeout per call (e.g. a short one while a worker
  /// looks for a server it has never reached).
  std::unique_ptr<ApiClient> WithTimeout(std::chrono::milliseconds timeout) const;

 private:
  /// Where the server is, and the transport to it; replaced whole when the server moved.
  struct Endpoint {
    std::string url;
    std::string url_source;  // where the URL came from, for messages
    std::string pinned_key;  // the server.crt key trusted ("" for http:// or with a CA file)
    std::shared_ptr<HttpClient> http;
  };
  ApiClient() = default;
  std::shared_ptr<const Endpoint> endpoint() const;
  /// A client whose URL came from the data directory's server.url follows it: after a call
  /// that reached no server, server.url and server.crt are read again, and the next call goes
  /// where they now say (the server was restarted on another host or port).
  void FollowServerUrl(const std::shared_ptr<const Endpoint>& failed);
  /// The ApiResult of `h`, which `e`'s transport returned.
  ApiResult Answer(const std::shared_ptr<const Endpoint>& e, const HttpResult& h);
  /// The endpoint for `url`, trusted as the options say; null with *error.
  std::shared_ptr<const Endpoint> MakeEndpoint(const std::string& url,
                                               const std::string& url_source,
                                               std::string* error) const;

  std::string token_;
  std::string data_dir_;
  std::string ca_file_;
  bool follows_ = false;
  std::chrono::milliseconds timeout_{30000};
  mutable std::mutex mu_;
  std::shared_ptr<const Endpoint> endpoint_;  // guarded by mu_; never null once made
};

}  // namespace torc::server
