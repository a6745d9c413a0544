// Packing job states for the store; the format is described in server/store_codec.h.

#include "server/store/store_codec.h"

namespace torc::server {
namespace {

/// The format byte that starts every checkpoint blob and job_log payload: 3 is written; 2
/// (without the interruption and Slurm budgets) and 1 (without the requests either) are read.
constexpr uint8_t kPackFormat = 3;
constexpr uint8_t kPackFormatWithoutBudgets = 2;
constexpr uint8_t kPackFormatWithoutRequests = 1;

/// Bytes of one job state in a format (0 for a format this torc does not know).
size_t PackedJobSize(uint8_t format) {
  if (format == kPackFormat) return 37;
  if (format == kPackFormatWithoutBudgets) return 33;
  if (format == kPackFormatWithoutRequests) return 17;
  return 0;
}

/// Appends the low `bytes` bytes of `v`, least significant first.
void PutLittleEndian(uint64_t v, int bytes, std::string* out) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

/// Reads `bytes` bytes at `p`, least significant first.
uint64_t GetLittleEndian(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
  return v;
}

/// Appends one packed job state (PackedJobSize(kPackFormat) bytes).
void PackJob(const JobDynamic& job, std::string* out) {
  PutLittleEndian(static_cast<uint8_t>(job.status), 1, out);
  PutLittleEndian(job.attempt, 4, out);
  PutLittleEndian(job.retries, 2, out);
  PutLittleEndian(job.walltime_requeues, 2, out);
  PutLittleEndian(static_cast<uint64_t>(job.worker), 8, out);
  PutLittleEndian(static_cast<uint64_t>(job.memory_request), 8, out);
  PutLittleEndian(static_cast<uint64_t>(job.runtime_request), 8, out);
  PutLittleEndian(job.interruptions, 2, out);
  PutLittleEndian(job.slurm_requeues, 2, out);
}

/// Reads one packed job state of `format`; "" or what is out of range in it (a status that
/// is no JobStatus, attempt 0 — attempts count from 1 —, a negative worker id, a request
/// below -1).
std::string UnpackJob(const char* p, uint8_t format, JobDynamic* job) {
  uint8_t status = static_cast<uint8_t>(p[0]);
  if (status >= kNumJobStatuses) return "status " + std::to_string(status) + " is not a job status";
  job->status = static_cast<JobStatus>(status);
  job->attempt = static_cast<uint32_t>(GetLittleEndian(p + 1, 4));
  job->retries = static_cast<uint16_t>(GetLittleEndian(p + 5, 2));
  job->walltime_requeues = static_cast<uint16_t>(GetLittleEndian(p + 7, 2));
  job->worker = static_cast<WorkerId>(GetLittleEndian(p + 9, 8));
  job->memory_request = job->runtime_request = -1;
  job->interruptions = job->slurm_requeues = 0;
  if (format != kPackFormatWithoutRequests) {
    job->memory_request = static_cast<int64_t>(GetLittleEndian(p + 17, 8));
    job->runtime_request = static_cast<int64_t>(GetLittleEndian(p + 25, 8));
  }
  if (format == kPackFormat) {
    job->interruptions = static_cast<uint16_t>(GetLittleEndian(p + 33, 2));
    job->slurm_requeues = static_cast<uint16_t>(GetLittleEndian(p + 35, 2));
  }
  if (job->attempt == 0) return "attempt 0 (attempts count from 1)";
  if (job->worker < 0) return "worker " + std::to_string(job->worker) + " is negative";
  if (job->memory_request < -1 || job->runtime_request < -1)
    return "request " + std::to_string(job->memory_request) + " bytes, " +
           std::to_string(job->runtime_request) + " s is below -1";
  return "";
}

}  // namespace

void PackCheckpoint(const std::vector<JobDynamic>& jobs, std::string* out) {
  out->clear();
  out->reserve(1 + jobs.size() * PackedJobSize(kPackFormat));
  out->push_back(static_cast<char>(kPackFormat));
  for (const JobDynamic& job : jobs) PackJob(job, out);
}

void PackChanges(const std::vector<std::pair<JobIndex, JobDynamic>>& changes, std::string* out) {
  out->clear();
  out->reserve(1 + changes.size() * (4 + PackedJobSize(kPackFormat)));
  out->push_back(static_cast<char>(kPackFormat));
  for (const auto& [index, job] : changes) {
    PutLittleEndian(index, 4, out);
    PackJob(job, out);
  }
}

StoreStatus UnpackCheckpoint(std::string_view blob, uint32_t job_count,
                             std::vector<JobDynamic>* jobs) {
  const uint8_t format = blob.empty() ? 0 : static_cast<uint8_t>(blob[0]);
  const size_t job_size = PackedJobSize(format);
  if (job_size == 0 || blob.size() != 1 + size_t{job_count} * job_size) {
    return {StoreError::kCorrupt, "checkpoint of " + std::to_string(blob.size()) +
                                      " bytes does not hold " + std::to_string(job_count) +
                                      " jobs in format 1, 2 or 3"};
  }
  jobs->assign(job_count, JobDynamic{});
  for (uint32_t i = 0; i < job_count; ++i) {
    std::string bad = UnpackJob(blob.data() + 1 + i * job_size, format, &(*jobs)[i]);
    if (!bad.empty()) {
      return {StoreError::kCorrupt,
              "checkpoint: bad state for job " + std::to_string(i) + ": " + bad};
    }
  }
  return StoreStatus::Ok();
}

StoreStatus ApplyChanges(std::string_view blob, std::vector<JobDynamic>* jobs) {
  const uint8_t format = blob.empty() ? 0 : static_cast<uint8_t>(blob[0]);
  const size_t change_size = 4 + PackedJobSize(format);
  if (change_size == 4 || (blob.size() - 1) % change_size != 0) {
    return {StoreError::kCorrupt, "job log entry of " + std::to_string(blob.size()) +
                                      " bytes is not a list of job changes in format 1, 2 or 3"};
  }
  for (size_t at = 1; at < blob.size(); at += change_size) {
    uint64_t index = GetLittleEndian(blob.data() + at, 4);
    if (index >= jobs->size()) {
      return {StoreError::kCorrupt, "job log entry changes job " + std::to_string(index) +
                                        " of a workflow with " + std::to_string(jobs->size()) +
                                        " jobs"};
    }
    std::string bad = UnpackJob(blob.data() + at + 4, format, &(*jobs)[index]);
    if (!bad.empty()) {
      return {StoreError::kCorrupt,
              "job log entry: bad state for job " + std::to_string(index) + ": " + bad};
    }
  }
  return StoreStatus::Ok();
}

}  // namespace torc::server
