// Worker endpoints: register, heartbeat, unregister, claim, start, complete. Each decodes its
// request with the protocol (server/protocol/messages.h), calls the service, and encodes the
// service's answer; a field the protocol refuses is a FieldError, answered with 400.
#include "server/api/api_internal.h"
#include "server/protocol/fast_read.h"
#include "server/protocol/messages.h"

namespace torc::server::api {
namespace {

/// The request of claim, start or complete: read without a DOM by `fast` when it can, else by
/// `general` from the parsed body (which words any error).
template <typename Message>
Message Decode(Call& c, bool (*fast)(std::string_view, Message*),
               Message (*general)(const nlohmann::json&)) {
  Message m;
  if (!fast(c.http.body, &m)) m = general(Body(c));
  return m;
}

HttpResponse Register(Call& c, WorkflowId wf) {
  protocol::Registration registration = protocol::RegistrationFromJson(c.body);
  protocol::RegistrationAnswer answer;
  Check(c.service->RegisterWorker(wf, registration, c.now, &answer));
  return Json(201, protocol::ToJson(answer));
}

HttpResponse Heartbeat(Call& c, WorkflowId wf, WorkerId w) {
  protocol::HeartbeatAnswer answer;
  Check(c.service->Heartbeat(wf, w, c.now, &answer));
  return Json(200, protocol::ToJson(answer));
}

HttpResponse Held(Call& c, WorkflowId wf, WorkerId w) {
  protocol::HeldJobs held;
  Check(c.service->HeldJobs(wf, w, &held));
  return Json(200, protocol::ToJson(held));
}

HttpResponse Unregister(Call& c, WorkflowId wf, WorkerId w) {
  protocol::LeaveNotice notice = protocol::LeaveNoticeFromJson(c.body);
  Check(c.service->UnregisterWorker(wf, w, notice, c.now));
  return Json(200, {{"ok", true}});
}

// The hot path: the answer is written without a DOM (protocol::EncodeClaimAnswer).
HttpResponse Claim(Call& c, WorkflowId wf) {
  auto request = Decode(c, protocol::FastReadClaimRequest, protocol::ClaimRequestFromJson);
  protocol::ClaimAnswer answer;
  Check(c.service->Claim(wf, request, c.now, &answer));
  // An idle worker's claim that got nothing may wait (wait_seconds) for a job to become ready
  // or the workflow to complete (Service::SetClaimWakeup), instead of claiming again and again.
  // Not one that carried news: asking again must not apply them twice.
  if (c.http.may_wait && request.wait_seconds > 0 && answer.jobs.empty() &&
      request.started.empty() && request.results.empty() && !answer.workflow_complete &&
      answer.runnable.value_or(1) > 0) {
    HttpResponse wait;
    wait.wait = std::chrono::milliseconds(static_cast<int64_t>(request.wait_seconds * 1000));
    return wait;
  }
  return {200, protocol::EncodeClaimAnswer(answer), "application/json"};
}

HttpResponse Start(Call& c, WorkflowId wf) {
  auto request = Decode(c, protocol::FastReadStartRequest, protocol::StartRequestFromJson);
  protocol::StartAnswer answer;
  Check(c.service->StartJobs(wf, request, c.now, &answer));
  return Json(200, protocol::ToJson(answer));
}

HttpResponse Complete(Call& c, WorkflowId wf) {
  auto request = Decode(c, protocol::FastReadCompleteRequest, protocol::CompleteRequestFromJson);
  protocol::CompleteAnswer answer;
  Check(c.service->CompleteJobs(wf, request, c.now, &answer));
  // The answer counts the outcomes and lists only the rejected results: a result not listed
  // was recorded (now or by an earlier identical report).
  nlohmann::json out = protocol::ToJson(answer);
  if (answer.rejected.empty()) return Json(200, out);
  out["error"] = "some results were rejected (a stale attempt, not this worker's job, or a "
                 "second report that contradicts the recorded one); the others were recorded";
  return Json(409, out);
}

}  // namespace

bool ReadsOwnBody(const Call& c) {
  // Exactly the routes of Claim, Start and Complete (api.cc, Route; WorkerEndpoints below).
  const auto& p = c.parts;
  return c.http.method == "POST" && p.size() == 3 && p[0] == "workflows" &&
         (p[2] == "claim" || p[2] == "start" || p[2] == "complete");
}

HttpResponse WorkerEndpoints(Call& c, WorkflowId wf, const std::string& what) {
  const auto& p = c.parts;
  const std::string& m = c.http.method;
  if (what == "claim" && p.size() == 3 && m == "POST") return Claim(c, wf);
  if (what == "start" && p.size() == 3 && m == "POST") return Start(c, wf);
  if (what == "complete" && p.size() == 3 && m == "POST") return Complete(c, wf);
  if (what == "workers") {
    if (p.size() == 3 && m == "POST") return Register(c, wf);
    if (p.size() >= 4) {
      WorkerId w = ParseId(p[3], "worker id");
      if (p.size() == 5 && p[4] == "heartbeat" && m == "POST") return Heartbeat(c, wf, w);
      if (p.size() == 5 && p[4] == "jobs" && m == "GET") return Held(c, wf, w);
      if (p.size() == 4 && m == "DELETE") return Unregister(c, wf, w);
    }
  }
  throw ApiError(404, "no endpoint " + m + " " + c.http.path);
}

}  // namespace torc::server::api
