// Pieces shared by the scheduling core's files (core.cc, core_operations.cc).
#pragma once

#include "server/model/model.h"
#include "spec/plan.h"

namespace torc::server::internal {

/// Whether a job in state `s` counts toward an action with trigger `t`.
inline bool MeetsTrigger(spec::TriggerType t, JobStatus s) {
  switch (t) {
    case spec::TriggerType::kOnJobsReady:
      return s != JobStatus::kBlocked && s != JobStatus::kCanceled && s != JobStatus::kDisabled;
    case spec::TriggerType::kOnJobsComplete:
      return s == JobStatus::kCompleted;
    default:
      return false;
  }
}

}  // namespace torc::server::internal
