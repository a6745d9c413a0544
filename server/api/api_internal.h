// Pieces shared by the API's endpoint files: request context, JSON field
// readers whose refusals become 400s, and status mapping.
#pragma once

#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "server/api/api.h"
#include "server/protocol/fields.h"

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
  ServerMetrics* metrics = nullptr;  // null when the server keeps no metrics
  /// Who asks (multi-user mode): a user sees and changes only their own
  /// workflows; the admin (the server's token, and everyone in single-user mode) all.
  std::string user{};
  bool admin = true;
  double schedule_wait_seconds = 90;  // ApiOptions::schedule_wait_seconds
};

inline HttpResponse Json(int status, const nlohmann::json& j) {
  return {status, j.dump(), "application/json"};
}

/// The JSON of a request body, held to what workflow files are held to: no NUL byte (the
/// parser takes one for the end of the text and would ignore what follows it), at most 256
/// levels deep, and no key twice in one object (the parser would keep the last one silently).
/// ApiError 400 naming the offset, the depth or the key otherwise.
nlohmann::json ParseBody(const std::string& text);
/// c.body, parsed now when the request's route reads its own body (ReadsOwnBody).
const nlohmann::json& Body(Call& c);
/// True for the requests whose handlers decode the body text themselves, without a DOM when
/// they can (claim, start, complete: server/protocol/fast_read.h); c.body stays null for them.
bool ReadsOwnBody(const Call& c);
/// The body must be a JSON object.
const nlohmann::json& Object(const Call& c);
/// Field readers, the protocol's: absent -> default (or required), wrong type or range ->
/// protocol::FieldError, which the API answers with 400 and its text.
using protocol::GetArray;
using protocol::GetInt;
using protocol::GetNumber;
using protocol::GetString;

/// Parses a decimal id from a path segment (400 when it is not one).
int64_t ParseId(const std::string& text, const char* what);
/// Query parameter as integer with bounds, or the fallback.
int64_t QueryInt(const Call& c, const char* key, int64_t min, int64_t max, int64_t fallback);

/// Maps a service failure to an ApiError.
[[noreturn]] void Fail(const ServiceStatus& s);
inline void Check(const ServiceStatus& s) {
  if (!s.ok()) Fail(s);
}

/// A job reference of a request body: an index or a name (400 when it is neither).
JobRef JobRefOf(const nlohmann::json& ref);
/// Resolves a job given in a URL path: a name, or an index unless a job has that name
/// (kNotFound when unknown). Returns a status, not an ApiError: it runs inside service calls.
ServiceStatus FindJobByText(const spec::Plan& plan, const std::string& ref, JobIndex* job);
/// One recorded attempt as the job endpoints show it.
nlohmann::json AttemptJson(const AttemptResult& r);
/// An attempt's "request": the memory and runtime it was given (-1 unknown: recorded before
/// torc kept them) and the job's CPUs.
nlohmann::json AttemptRequestJson(const AttemptResult& r, int64_t num_cpus);
/// The file a job's attempt writes its stdout (or stderr) to, as the worker names it
/// (docs/worker.md), in the output dir its worker reported (else the default under the
/// workflow's working dir); "" when the job's stdio mode writes no such stream.
std::string JobLogPath(const WorkflowEntry& e, JobIndex j, uint32_t attempt, bool stderr_stream);

// Endpoint groups.
HttpResponse WorkerEndpoints(Call& c, WorkflowId wf, const std::string& what);
HttpResponse JobEndpoints(Call& c, WorkflowId wf);
/// attempts, timeline and job logs (server/api_monitor.cc).
HttpResponse MonitorEndpoints(Call& c, WorkflowId wf);
/// POST /workflows/W/update (server/api/api_update.cc).
HttpResponse Update(Call& c, WorkflowId wf);
/// A submit or update body's "parameter_files" (api.cc; none when absent; 400 when malformed).
std::map<std::string, std::string> ParameterFiles(const nlohmann::json& body);
/// A submit or update body's "input_stamps" (none when absent; 400 when malformed).
FileStamps InputStampsOf(const nlohmann::json& body);

}  // namespace torc::server::api
