// How the store packs job states into blobs: the checkpoint of a workflow and
// the payload of one job_log row. Private to the store (server/store*.cc).
//
// Packing (all integers little-endian, fixed width):
//   job state (33 bytes): status u8 (JobStatus value), attempt u32, retries
//                         u16, walltime_requeues u16, worker i64,
//                         memory_request i64, runtime_request i64 (-1: the plan's)
//   checkpoint blob:      format u8 (= 2), then job_count job states in job order
//   job_log payload:      format u8 (= 2), then per change: job u32, job state
// Format 1 (written before grown requests existed) is read too: its job states are the
// first 17 bytes of the above, and their requests are the plan's.
// JobStatus values are stored as numbers, so their order is part of the format.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/model/model.h"
#include "server/store/store.h"

namespace torc::server {

/// Packs the states of every job of a workflow, in job order, into *out as a
/// checkpoint blob (replacing what *out held).
void PackCheckpoint(const std::vector<JobDynamic>& jobs, std::string* out);

/// Packs one batch's changed jobs into *out as a job_log payload (replacing
/// what *out held).
void PackChanges(const std::vector<std::pair<JobIndex, JobDynamic>>& changes, std::string* out);

/// Reads a checkpoint blob holding `job_count` job states into *jobs; kCorrupt
/// when the blob does not hold that many in format 1 or 2 or a value is out of range.
StoreStatus UnpackCheckpoint(std::string_view blob, uint32_t job_count,
                             std::vector<JobDynamic>* jobs);

/// Applies one job_log payload to `jobs`; kCorrupt when the payload is
/// malformed or changes a job `jobs` does not have.
StoreStatus ApplyChanges(std::string_view blob, std::vector<JobDynamic>* jobs);

}  // namespace torc::server
