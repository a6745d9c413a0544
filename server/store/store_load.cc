// Loading the store when the server starts (store_internal.h): every workflow with its job
// states (checkpoint plus the log after it), attempts, sample counts, workers and actions.
#include <algorithm>
#include <map>
#include <tuple>

#include "server/store/store_codec.h"
#include "server/store/store_internal.h"
#include "server/store/store_verify.h"

namespace torc::server::store_internal {

StoreStatus SqliteStore::LoadAll(std::vector<LoadedWorkflow>* out) {
  out->clear();
  LoadedIndex index(out);
  SqliteTransaction transaction(&s_.transactions);  // one consistent snapshot
  StoreStatus status = transaction.BeginRead();
  int64_t log_high_water = 0;
  if (status.ok() && s_.job_log_high_water.Step(&status, "reading the highest job log seq")) {
    log_high_water = s_.job_log_high_water.ColumnInt(0);
  }
  s_.job_log_high_water.Reset();
  if (status.ok()) status = LoadWorkflows(&index, log_high_water);
  if (status.ok()) status = LoadLog(&index);
  if (status.ok()) status = LoadAttempts(&index);
  if (status.ok()) status = LoadWorkers(&index);
  if (status.ok()) status = LoadActions(&index);
  if (status.ok()) status = transaction.Commit();
  if (!status.ok()) out->clear();
  if (status.error == StoreError::kCorrupt)
    status.message += std::string("; ") + kDamagedStoreAdvice;
  return WithContext(status, "loading the store");
}

StoreStatus SqliteStore::LoadWorkflows(LoadedIndex* index, int64_t log_high_water) {
  SqliteStatement& s = s_.load_workflows;
  StoreStatus status;
  while (status.ok() && s.Step(&status, "reading workflows")) {
    RowReader row(s, "workflows", "id", 0);
    LoadedWorkflow w;
    w.row.id = row.Int(0, "id", 1, kMaxInt64);
    w.row.name = row.Text(1, "name");
    w.row.owner = row.Text(2, "owner");
    w.row.created_at = row.Real(3, "created_at");
    w.row.spec_text = row.Text(4, "spec_text");
    w.row.file_name = row.Text(5, "file_name");
    w.row.working_dir = row.Text(6, "working_dir");
    w.row.job_count = static_cast<uint32_t>(row.Int(7, "job_count", 0, kMaxUint32));
    w.row.names_digest = row.Text(8, "names_digest");
    w.row.input_stamps = row.Text(13, "input_stamps");
    std::string_view checkpoint = row.Blob(9, "checkpoint");
    // A checkpoint takes the seq of the newest job_log row it includes.
    int64_t checkpoint_seq = row.Int(10, "checkpoint_seq", 0, log_high_water,
                                     "at most the highest job_log seq ever used");
    w.row.parameter_files = row.Text(11, "parameter_files");
    if (row.ok() && s.ColumnText(12) != "object") row.Fail("parameter_files is not a JSON object");
    if (row.ok()) {
      StoreStatus unpacked = UnpackCheckpoint(checkpoint, w.row.job_count, &w.jobs);
      if (!unpacked.ok()) row.Fail(unpacked.message);
    }
    status = row.status();
    if (status.ok()) index->Add(std::move(w), checkpoint_seq);
  }
  s.Reset();
  return status;
}

StoreStatus SqliteStore::LoadLog(LoadedIndex* index) {
  SqliteStatement& s = s_.load_log;
  StoreStatus status;
  while (status.ok() && s.Step(&status, "reading the job log")) {
    RowReader row(s, "job_log", "seq", 1);
    WorkflowId id = row.Int(0, "workflow_id", 1, kMaxInt64);
    int64_t seq = row.Int(1, "seq", 1, kMaxInt64);
    std::string_view payload = row.Blob(2, "payload");
    LoadedWorkflow* w = index->Find(id, &row);
    if (w && seq <= index->CheckpointSeq(id)) {
      // Writing a checkpoint deletes the workflow's job_log rows in the same transaction,
      // so none is ever at or below it: skipping this row would silently undo its changes.
      row.Fail("the checkpoint of workflow " + std::to_string(id) + " claims to include it " +
               "(checkpoint_seq " + std::to_string(index->CheckpointSeq(id)) +
               "), but a checkpoint deletes the rows it includes: checkpoint_seq was changed");
    } else if (w) {
      StoreStatus applied = ApplyChanges(payload, &w->jobs);
      if (!applied.ok()) row.Fail(applied.message);
    }
    status = row.status();
  }
  s.Reset();
  return status;
}

StoreStatus SqliteStore::LoadAttempts(LoadedIndex* index) {
  SqliteStatement& s = s_.load_attempts;
  StoreStatus status;
  while (status.ok() && s.Step(&status, "reading attempts")) {
    RowReader row(s, "attempts", "rowid", 0);
    LoadedWorkflow* w = index->Find(row.Int(1, "workflow_id", 1, kMaxInt64), &row);
    if (!w) {
      status = row.status();
      continue;
    }
    AttemptResult r;
    uint32_t jobs = w->row.job_count;
    r.job = static_cast<JobIndex>(row.Int(2, "job", 0, int64_t{jobs} - 1,
                                          "a job index of workflow " + std::to_string(w->row.id) +
                                              ", which has " + std::to_string(jobs) + " jobs"));
    r.attempt = static_cast<uint32_t>(row.Int(3, "attempt", 1, kMaxUint32));
    r.worker = row.Int(4, "worker", 0, kMaxInt64);
    r.status = static_cast<JobStatus>(row.Int(5, "status", 0, kNumJobStatuses - 1, "a job status"));
    r.exit_code = static_cast<int32_t>(row.Int(6, "exit_code", kMinInt32, kMaxInt32));
    r.signal = static_cast<int32_t>(row.Int(7, "signal", 0, kMaxInt32));
    r.reason = row.Text(8, "reason");
    r.start_time = row.Real(9, "start_time");
    r.end_time = row.Real(10, "end_time");
    r.peak_rss_bytes = row.Int(11, "peak_rss_bytes", -1, kMaxInt64, "-1: unknown");
    r.cpu_seconds = row.Real(12, "cpu_seconds");
    r.nodes = row.Text(13, "nodes");
    r.node_usage = row.Text(14, "node_usage");
    // Decoded by the API: an array.
    if (row.ok() && s.ColumnText(15) != "array") row.Fail("node_usage is not a JSON array");
    r.memory_request = row.Int(16, "memory_request", -1, kMaxInt64, "-1: unknown");
    r.runtime_request = row.Int(17, "runtime_request", -1, kMaxInt64, "-1: unknown");
    status = row.status();
    if (status.ok()) w->results.push_back(std::move(r));
  }
  s.Reset();
  if (status.ok()) status = LoadSampleCounts(index);
  return status;
}

// How many samples each attempt has stored, for the API's "samples" count.
StoreStatus SqliteStore::LoadSampleCounts(LoadedIndex* index) {
  std::map<std::tuple<WorkflowId, JobIndex, uint32_t>, uint32_t> counts;
  SqliteStatement& s = s_.load_sample_counts;
  StoreStatus status;
  while (status.ok() && s.Step(&status, "reading attempt samples")) {
    const int64_t n = s.ColumnInt(3);
    if (n < 0) {
      std::string message = "attempt_samples: the samples of workflow ";
      message += std::to_string(s.ColumnInt(0));
      message += " job ";
      message += std::to_string(s.ColumnInt(1));
      message += " are not JSON";
      status = {StoreError::kCorrupt, message};
      break;
    }
    counts[{s.ColumnInt(0), static_cast<JobIndex>(s.ColumnInt(1)),
            static_cast<uint32_t>(s.ColumnInt(2))}] = static_cast<uint32_t>(n);
  }
  s.Reset();
  if (!status.ok() || counts.empty()) return status;
  for (LoadedWorkflow& w : index->All())
    for (AttemptResult& r : w.results)
      if (auto it = counts.find({w.row.id, r.job, r.attempt}); it != counts.end())
        r.samples = it->second;
  return status;
}

StoreStatus SqliteStore::LoadWorkers(LoadedIndex* index) {
  SqliteStatement& s = s_.load_workers;
  StoreStatus status;
  while (status.ok() && s.Step(&status, "reading workers")) {
    RowReader row(s, "workers", "id", 0);
    WorkerRecord r;
    r.id = row.Int(0, "id", 1, kMaxInt64);
    LoadedWorkflow* w = index->Find(row.Int(1, "workflow_id", 1, kMaxInt64), &row);
    if (w) r.workflow = w->row.id;
    r.hostname = row.Text(2, "hostname");
    r.slurm_job_id = row.Text(3, "slurm_job_id");
    r.pid = row.Int(4, "pid", 0, kMaxInt64);
    r.registered_at = row.Real(5, "registered_at");
    r.lease_expires = row.Real(6, "lease_expires");
    r.alive = row.Int(7, "alive", 0, 1) != 0;
    r.resources_json = row.Text(8, "resources_json");
    // Decoded by the API and `torc status`: an object, or "" when nothing was reported.
    if (row.ok() && !r.resources_json.empty() && s.ColumnText(9) != "object")
      row.Fail("resources_json is not a JSON object");
    status = row.status();
    if (status.ok()) w->workers.push_back(std::move(r));
  }
  s.Reset();
  return status;
}

StoreStatus SqliteStore::LoadActions(LoadedIndex* index) {
  SqliteStatement& s = s_.load_actions;
  StoreStatus status;
  while (status.ok() && s.Step(&status, "reading actions")) {
    RowReader row(s, "actions", "workflow_id", 0, "action", 1);
    LoadedWorkflow* w = index->Find(row.Int(0, "workflow_id", 1, kMaxInt64), &row);
    ActionState a;
    a.action = static_cast<uint32_t>(row.Int(1, "action", 0, kMaxUint32));
    a.status = static_cast<ActionStatus>(
        row.Int(2, "status", 0, static_cast<int>(ActionStatus::kFailed), "an action status"));
    a.detail = row.Text(3, "detail");
    status = row.status();
    if (status.ok()) w->actions.push_back(std::move(a));
  }
  s.Reset();
  return status;
}

}  // namespace torc::server::store_internal
