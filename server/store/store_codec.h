// How the store packs job states into blobs: the checkpoint of a workflow and
// the payload of one job_log row. Private to the store (server/store*.cc).
//
// Packing (all integers little-endian, fixed width):
//   job state (37 bytes): status u8 (JobStatus value), attempt u32, retries
//                         u16, walltime_requeues u16, worker i64,
//                         memory_request i64, runtime_request i64 (-1: the plan's),
//                         interruptions u16, slurm_requeues u16
//   checkpoint blob:      format u8 (= 3), then job_count job states in job order
//   job_log payload:      format u8 (= 3), then per change: job u32, job state
// Formats 1 and 2 (written before grown requests, and before the interruption and Slurm
// budgets, existed) are read too: their job states are the first 17 and 33 bytes of the
// above; what they lack is the plan's request and 0.
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
/// when the blob does not hold that many in format 1, 2 or 3 or a value is out of range.
StoreStatus UnpackCheckpoint(std::string_view blob, uint32_t job_count,
                             std::vector<JobDynamic>* jobs);

/// Applies one job_log payload to `jobs`; kCorrupt when the payload is
/// malformed or changes a job `jobs` does not have.
StoreStatus ApplyChanges(std::string_view blob, std::vector<JobDynamic>* jobs);

}  // namespace torc::server
