// The REST API under /api/v1 (documented in docs/api.md): translates HTTP
// requests with JSON bodies into Service calls and back. No business rules
// live here.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "server/http/http.h"
#include "server/service.h"

namespace torc::server {

class ServerMetrics;
class UserDirectory;

/// What the REST API needs besides the service: the token, the clock, and its limits.
struct ApiOptions {
  /// The access token every endpoint but /api/v1/health requires.
  std::string token;
  /// The clock (seconds since the epoch); a seam for tests.
  std::function<double()> now;
  /// Where request latencies go and /metrics comes from; null: no /metrics.
  ServerMetrics* metrics = nullptr;
  /// Multi-user mode (docs/security.md): the users and their token digests. Null:
  /// single-user, only `token` is accepted.
  std::shared_ptr<UserDirectory> users = nullptr;
  /// How long POST /allocations waits for sbatch's outcome before answering 202 (docs/api.md).
  /// 0: never waits (a handler with no action runner behind it, e.g. the API fuzz target).
  double schedule_wait_seconds = 90;
};

/// The handler to give StartHttpServer. `service` must outlive it.
HttpHandler MakeApiHandler(Service* service, ApiOptions options);

/// Compares two strings in time independent of where they differ.
bool ConstantTimeEquals(const std::string& a, const std::string& b);

}  // namespace torc::server
