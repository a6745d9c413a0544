// An attempt's time series (CPU % and RSS samples), fetched from the server for `torc jobs show`
// and `torc report` (GET /workflows/W/jobs/J/attempts/A/samples, docs/api.md).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "server/client/client.h"

namespace torc::cmd {

/// The samples answer of attempt `attempt` of job `job` (a name) of workflow `workflow`, with
/// its summary added: `{"interval_seconds", "samples": [...], "count", "duration_seconds",
/// "peak_rss_bytes", "peak_cpu_percent"}`; null (after a warning) when the server has none
/// for it (404). Any other failure ends the command.
nlohmann::json FetchSampleSeries(server::ApiClient& client, int64_t workflow,
                                 const std::string& job, int64_t attempt);

/// Whether the API's attempt object says it has samples ("samples" > 0; absent from
/// older servers).
bool HasSamples(const nlohmann::json& attempt);

}  // namespace torc::cmd
