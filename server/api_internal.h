// Pieces shared by the API's endpoint files: request context, JSON field
// readers that turn bad input into 400s, and status mapping.
#pragma once

#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "server/api.h"

namespace torc::server::api {

/// Thrown inside handlers to answer with a 4xx/5xx and {"error": message}.
struct ApiError : std::runtime_error {
  ApiError(int status, const std::string& message, nlohmann::json extra = nullptr)
      : std::runtime_error(message), status(status), extra(std::move(extra)) {}
  int status;
  nlohmann::json extra;  // more fields for the error body, e.g. "errors"
};

/// One request, parsed: path segments after /api/v1, JSON body (null if empty).
struct Call {
  const HttpRequest& http;
  std::vector<std::string> parts;
  nlohmann::json body;
  double now;
  Service* service;
};

inline HttpResponse Json(int status, const nlohmann::json& j) {
  return {status, j.dump(), "application/json"};
}

/// The body must be a JSON object.
const nlohmann::json& Object(const Call& c);
/// Field readers: absent -> default (or 400 when required), wrong type -> 400.
int64_t GetInt(const nlohmann::json& obj, const char* key, int64_t min, int64_t max,
               std::optional<int64_t> fallback = std::nullopt);
double GetNumber(const nlohmann::json& obj, const char* key, double fallback);
std::string GetString(const nlohmann::json& obj, const char* key,
                      std::optional<std::string> fallback = std::nullopt, size_t max_len = 1 << 20);
const nlohmann::json& GetArray(const nlohmann::json& obj, const char* key, bool required,
                               size_t max_items = 1'000'000);

/// Parses a decimal id from a path segment (400 when it is not one).
int64_t ParseId(const std::string& text, const char* what);
/// Query parameter as integer with bounds, or the fallback.
int64_t QueryInt(const Call& c, const char* key, int64_t min, int64_t max, int64_t fallback);

/// Maps a service failure to an ApiError.
[[noreturn]] void Fail(const ServiceStatus& s);
inline void Check(const ServiceStatus& s) {
  if (!s.ok()) Fail(s);
}

/// Resolves a job reference (index or name) in a workflow (404 when unknown).
JobIndex FindJob(const spec::Plan& plan, const nlohmann::json& ref);

// Endpoint groups.
HttpResponse WorkerEndpoints(Call& c, WorkflowId wf, const std::string& what);
HttpResponse JobEndpoints(Call& c, WorkflowId wf);

}  // namespace torc::server::api
