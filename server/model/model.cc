#include "server/model/model.h"

namespace torc::server {

namespace {
const char* const kStatusNames[kNumJobStatuses] = {
    "blocked", "ready", "claimed", "running", "completed", "failed", "canceled", "terminated",
    "disabled"};
}

const char* ToString(JobStatus s) { return kStatusNames[static_cast<int>(s)]; }

std::optional<JobStatus> ParseJobStatus(std::string_view s) {
  for (int i = 0; i < kNumJobStatuses; ++i)
    if (s == kStatusNames[i]) return static_cast<JobStatus>(i);
  return std::nullopt;
}

bool IsFinal(JobStatus s) {
  return s == JobStatus::kCompleted || s == JobStatus::kFailed || s == JobStatus::kCanceled ||
         s == JobStatus::kTerminated || s == JobStatus::kDisabled;
}

const char* ToString(ActionStatus s) {
  switch (s) {
    case ActionStatus::kWaiting: return "waiting";
    case ActionStatus::kDue: return "due";
    case ActionStatus::kDone: return "done";
    case ActionStatus::kFailed: return "failed";
  }
  return "?";
}

}  // namespace torc::server
