// POST /workflows/W/update: a workflow's file read again (docs/api.md, docs/rerun.md).
#include "server/api/api_internal.h"

namespace torc::server::api {

FileStamps InputStampsOf(const nlohmann::json& body) {
  FileStamps stamps;
  if (!body.contains("input_stamps") || body["input_stamps"].is_null()) return stamps;
  std::string error;
  if (!ParseStamps(body["input_stamps"], &stamps, &error)) throw ApiError(400, error);
  return stamps;
}

HttpResponse Update(Call& c, WorkflowId wf) {
  const auto& body = Object(c);
  UpdateRequest request;
  request.spec_text = GetString(body, "spec_text", std::nullopt, spec::kMaxWorkflowFileBytes);
  request.file_name = GetString(body, "file_name", "", 4096);
  request.parameter_files = ParameterFiles(body);
  request.input_stamps = InputStampsOf(body);
  for (const auto& path : GetArray(body, "missing_outputs", false)) {
    if (!path.is_string()) throw ApiError(400, "missing_outputs must be an array of paths");
    request.missing_outputs.insert(path.get<std::string>());
  }
  request.dry_run = protocol::GetBool(body, "dry_run", false);
  UpdateOutcome outcome;
  Check(c.service->Update(wf, request, c.now, &outcome));
  nlohmann::json rerun = nlohmann::json::array();
  for (const auto& [job, reasons] : outcome.rerun) rerun.push_back({{"job", job}, {"reasons", reasons}});
  return Json(200, {{"rerun", rerun},
                    {"kept", outcome.kept},
                    {"total", outcome.total},
                    {"dry_run", request.dry_run}});
}

}  // namespace torc::server::api
