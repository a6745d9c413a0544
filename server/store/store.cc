// Store on SQLite.
//
// Durability: the database runs in WAL mode with synchronous=NORMAL. A commit
// has been written to the WAL file (in the OS page cache) when it returns, so
// it survives the server process being killed at any point (kill -9, a
// crash) — which is what torc guarantees. It is NOT fsync'ed per commit: after
// a power loss or OS crash the last commits may be lost, though the database
// stays consistent. synchronous=FULL would close that gap at the cost of an
// fsync per request.
//
// WAL checkpoints (copying the log back into the database file, with fsyncs)
// run on a background thread with its own connection (SqliteWalCheckpointer),
// not inside whichever commit happens to cross SQLite's threshold: that kept
// one Append in ten at 10-30 ms instead of 1-3 ms.
//
// The tables are laid out, and migrated, in server/store_schema.cc; job states
// are packed into blobs as server/store_codec.h describes.
//
// A Store is not thread-safe; the server commits one batch at a time.

#include "server/store/store.h"

#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <tuple>

#include "server/store/store_codec.h"
#include "server/store/store_internal.h"
#include "server/store/store_schema.h"
#include "server/store/store_verify.h"

namespace torc::server {
namespace {

/// WAL size (in pages of 4 KiB) that wakes the background checkpointer; the
/// same as SQLite's own auto-checkpoint default.
constexpr int kWalCheckpointPages = 1000;

/// kCorrupt when `path` is an empty file although one of `history_files` exists (see
/// StoreOptions::history_files), or its write-ahead log is not empty.
StoreStatus RefuseEmptied(const std::string& path, const std::vector<std::string>& history_files) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size != 0) {
    return StoreStatus::Ok();
  }
  std::vector<std::string> evidence = history_files;
  evidence.push_back(path + "-wal");
  for (const std::string& file : evidence) {
    struct stat other {};
    if (stat(file.c_str(), &other) != 0) continue;
    if (file == path + "-wal" && other.st_size == 0) continue;
    return {StoreError::kCorrupt,
            "the database file is empty (0 bytes), but " + file +
                " shows that this data directory has held a database: it was truncated or "
                "replaced, and starting on it would begin an empty store whose workflow ids "
                "start again at 1"};
  }
  return StoreStatus::Ok();
}

}  // namespace

namespace store_internal {

// ---- Statements ----

constexpr const char* kUpsertAttempt =
    "INSERT INTO attempts(workflow_id, job, attempt, worker, status, exit_code, signal, reason,"
    " start_time, end_time, peak_rss_bytes, cpu_seconds, nodes, node_usage,"
    " memory_request, runtime_request)"
    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"
    " ON CONFLICT(workflow_id, job, attempt) DO UPDATE SET worker = ?4, status = ?5,"
    " exit_code = ?6, signal = ?7, reason = ?8, start_time = ?9, end_time = ?10,"
    " peak_rss_bytes = ?11, cpu_seconds = ?12, nodes = ?13, node_usage = ?14,"
    " memory_request = ?15, runtime_request = ?16";
constexpr const char* kUpsertWorker =
    "INSERT INTO workers(id, workflow_id, hostname, slurm_job_id, pid, registered_at,"
    " lease_expires, alive, resources_json) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
    " ON CONFLICT(id) DO UPDATE SET workflow_id = ?2, hostname = ?3, slurm_job_id = ?4,"
    " pid = ?5, registered_at = ?6, lease_expires = ?7, alive = ?8, resources_json = ?9";

StoreStatus Statements::Prepare(sqlite3* db) {
  const std::pair<SqliteStatement*, const char*> all[] = {
      {&insert_workflow,
       "INSERT INTO workflows(name, owner, created_at, spec_text, file_name, working_dir,"
       " job_count, names_digest, checkpoint, parameter_files, input_stamps)"
       " VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"},
      {&update_workflow,
       "UPDATE workflows SET spec_text = ?2, file_name = ?3, name = ?4, input_stamps = ?5,"
       " parameter_files = ?8 WHERE id = ?1 AND job_count = ?6 AND names_digest = ?7"},
      {&delete_workflow, "DELETE FROM workflows WHERE id = ?"},
      {&keep_event_seq,
       "INSERT INTO counters(name, value)"
       " VALUES('max_event_seq', (SELECT IFNULL(MAX(seq), 0) FROM events))"
       " ON CONFLICT(name) DO UPDATE SET value = MAX(value, excluded.value)"},
      {&checkpoint,
       "UPDATE workflows SET checkpoint = ?1, checkpoint_seq = MAX(checkpoint_seq,"
       " (SELECT IFNULL(MAX(seq), 0) FROM job_log WHERE workflow_id = ?2))"
       " WHERE id = ?2 AND job_count = ?3"},
      {&trim_log, "DELETE FROM job_log WHERE workflow_id = ?"},
      {&insert_log, "INSERT INTO job_log(workflow_id, time, payload) VALUES(?, ?, ?)"},
      {&upsert_attempt, kUpsertAttempt},
      {&insert_event,
       "INSERT INTO events(seq, workflow_id, time, kind, job, attempt, worker, detail)"
       " VALUES(?, ?, ?, ?, ?, ?, ?, ?)"},
      {&upsert_worker, kUpsertWorker},
      {&upsert_action,
       "INSERT INTO actions(workflow_id, action, status, detail) VALUES(?1, ?2, ?3, ?4)"
       " ON CONFLICT(workflow_id, action) DO UPDATE SET status = ?3, detail = ?4"},
      {&events_since,
       "SELECT seq, time, kind, job, attempt, worker, detail, workflow_id FROM events"
       " WHERE workflow_id = ?1 AND seq > ?2 AND substr(kind, 1, length(?4)) = ?4"
       " ORDER BY seq LIMIT ?3"},
      {&max_event_seq,
       "SELECT MAX((SELECT IFNULL(MAX(seq), 0) FROM events),"
       " IFNULL((SELECT value FROM counters WHERE name = 'max_event_seq'), 0))"},
      {&load_workflows,
       "SELECT id, name, owner, created_at, spec_text, file_name, working_dir, job_count,"
       " names_digest, checkpoint, checkpoint_seq, parameter_files,"
       " CASE WHEN json_valid(parameter_files) THEN json_type(parameter_files) ELSE '' END,"
       " input_stamps FROM workflows ORDER BY id"},
      {&job_log_high_water,
       "SELECT MAX(IFNULL((SELECT seq FROM sqlite_sequence WHERE name = 'job_log'), 0),"
       " IFNULL((SELECT MAX(seq) FROM job_log), 0))"},
      {&load_log, "SELECT workflow_id, seq, payload FROM job_log ORDER BY seq"},
      {&load_attempts,
       "SELECT rowid, workflow_id, job, attempt, worker, status, exit_code, signal, reason,"
       " start_time, end_time, peak_rss_bytes, cpu_seconds, nodes, node_usage,"
       " CASE WHEN json_valid(node_usage) THEN json_type(node_usage) ELSE '' END,"
       " memory_request, runtime_request"
       " FROM attempts ORDER BY rowid"},
      // Only how many: the samples themselves are read on request (ReadSamples).
      {&load_sample_counts,
       "SELECT workflow_id, job, attempt, CASE WHEN json_valid(samples)"
       " THEN json_array_length(samples) ELSE -1 END FROM attempt_samples"},
      {&upsert_samples,
       "INSERT INTO attempt_samples(workflow_id, job, attempt, interval_seconds, samples)"
       " VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(workflow_id, job, attempt)"
       " DO UPDATE SET interval_seconds = ?4, samples = ?5"},
      {&read_samples,
       "SELECT interval_seconds, samples FROM attempt_samples"
       " WHERE workflow_id = ?1 AND job = ?2 AND attempt = ?3"},
      {&load_workers,
       "SELECT id, workflow_id, hostname, slurm_job_id, pid, registered_at, lease_expires, alive,"
       " resources_json, CASE WHEN json_valid(resources_json) THEN json_type(resources_json)"
       " ELSE '' END FROM workers ORDER BY id"},
      {&load_actions,
       "SELECT workflow_id, action, status, detail FROM actions ORDER BY workflow_id, action"},
  };
  StoreStatus status = transactions.Prepare(db);
  for (const auto& [statement, sql] : all) {
    if (!status.ok()) break;
    status = statement->Prepare(db, sql);
  }
  return status;
}

StoreStatus SqliteStore::Init(const std::string& path, const StoreOptions& options) {
  StoreStatus status = RefuseEmptied(path, options.history_files);
  if (status.ok()) status = db_.Open(path);
  if (status.ok()) status = Configure(options);
  // Before anything is written (the migrations write).
  if (status.ok()) status = QuickCheck(&db_);
  if (status.ok()) status = s_.transactions.Prepare(db_.get());
  if (status.ok()) status = MigrateSchema(&db_, &s_.transactions);
  if (status.ok()) status = s_.Prepare(db_.get());
  if (status.ok()) status = ReadCaches();
  if (status.ok()) status = CheckUnloadedRows(&db_, job_counts_);
  if (status.ok()) {
    status = checkpointer_.Start(db_.get(), path, options.busy_timeout_ms, kWalCheckpointPages);
  }
  return status;
}

StoreStatus SqliteStore::Configure(const StoreOptions& options) {
  sqlite3_busy_timeout(db_.get(), options.busy_timeout_ms);
  // The first statement to read the file: a file that is not a database fails here.
  SqliteStatement wal;
  StoreStatus status = wal.Prepare(db_.get(), "PRAGMA journal_mode = WAL");
  if (status.ok() && wal.Step(&status, "enabling WAL mode")) {
    std::string mode = wal.ColumnText(0);
    if (mode != "wal" && mode != "memory") {
      status = {StoreError::kOther, "enabling WAL mode: the database stays in mode " + mode};
    }
  }
  if (!status.ok()) return status;
  wal.Reset();
  // See the top of this file for why NORMAL is enough.
  return db_.Exec("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON",
                  "configuring the connection");
}

StoreStatus SqliteStore::ReadCaches() {
  StoreStatus status;
  if (s_.max_event_seq.Step(&status, "reading the highest event seq")) {
    max_event_seq_ = s_.max_event_seq.ColumnInt(0);
  }
  s_.max_event_seq.Reset();
  SqliteStatement counts;
  if (status.ok()) status = counts.Prepare(db_.get(), "SELECT id, job_count FROM workflows");
  while (status.ok() && counts.Step(&status, "reading the workflows' job counts")) {
    RowReader row(counts, "workflows", "id", 0);
    WorkflowId id = row.Int(0, "id", 1, kMaxInt64);
    auto job_count = static_cast<uint32_t>(row.Int(1, "job_count", 0, kMaxUint32));
    status = row.status();
    if (status.ok()) job_counts_[id] = job_count;
  }
  return status;
}

StoreStatus SqliteStore::CreateWorkflow(const WorkflowRow& row,
                                        const std::vector<JobDynamic>& initial,
                                        const ChangeBatch& first, WorkflowId* id) {
  const std::string context = "storing workflow \"" + row.name + "\"";
  if (initial.size() != row.job_count) {
    return {StoreError::kOther, context + ": " + std::to_string(initial.size()) +
                                    " initial job states for " + std::to_string(row.job_count) +
                                    " jobs"};
  }
  PackCheckpoint(initial, &pack_buffer_);
  SqliteTransaction transaction(&s_.transactions);
  StoreStatus status = transaction.BeginWrite();
  if (status.ok()) {
    SqliteStatement& s = s_.insert_workflow;
    s.BindText(1, row.name);
    s.BindText(2, row.owner);
    s.BindDouble(3, row.created_at);
    s.BindText(4, row.spec_text);
    s.BindText(5, row.file_name);
    s.BindText(6, row.working_dir);
    s.BindInt(7, row.job_count);
    s.BindText(8, row.names_digest);
    s.BindBlob(9, pack_buffer_);
    s.BindText(10, row.parameter_files);
    s.BindText(11, row.input_stamps);
    status = s.Run("inserting the workflow row");
  }
  WorkflowId new_id = sqlite3_last_insert_rowid(db_.get());
  if (status.ok() && !first.empty()) {
    ChangeBatch batch = first;
    batch.workflow = new_id;
    status = WriteBatch(batch);
  }
  if (status.ok()) status = transaction.Commit();
  if (!status.ok()) return WithContext(status, context);
  job_counts_[new_id] = row.job_count;
  for (const Event& e : first.events) max_event_seq_ = std::max(max_event_seq_, e.seq);
  *id = new_id;
  return status;
}

StoreStatus SqliteStore::UpdateWorkflow(const WorkflowRow& row, const ChangeBatch& batch) {
  const std::string context = "updating workflow " + std::to_string(row.id);
  auto it = job_counts_.find(row.id);
  if (it == job_counts_.end()) return {StoreError::kOther, context + ": no such workflow"};
  if (batch.workflow != row.id)
    return {StoreError::kOther, context + ": the changes are of workflow " +
                                    std::to_string(batch.workflow)};
  StoreStatus status = CheckBatch(batch);
  if (!status.ok()) return WithContext(status, context);
  SqliteTransaction transaction(&s_.transactions);
  status = transaction.BeginWrite();
  if (status.ok()) {
    SqliteStatement& s = s_.update_workflow;
    s.BindInt(1, row.id);
    s.BindText(2, row.spec_text);
    s.BindText(3, row.file_name);
    s.BindText(4, row.name);
    s.BindText(5, row.input_stamps);
    s.BindInt(6, it->second);
    s.BindText(7, row.names_digest);
    s.BindText(8, row.parameter_files);
    status = s.Run("replacing the workflow file");
    if (status.ok() && sqlite3_changes(db_.get()) != 1)
      status = {StoreError::kOther, "the stored workflow has other jobs (job count or names)"};
  }
  if (status.ok() && !batch.empty()) status = WriteBatch(batch);
  if (status.ok()) status = transaction.Commit();
  if (!status.ok()) return WithContext(status, context);
  for (const Event& e : batch.events) max_event_seq_ = std::max(max_event_seq_, e.seq);
  return status;
}

StoreStatus SqliteStore::DeleteWorkflow(WorkflowId id) {
  const std::string context = "deleting workflow " + std::to_string(id);
  if (!job_counts_.contains(id)) return {StoreError::kOther, context + ": no such workflow"};
  SqliteTransaction transaction(&s_.transactions);
  StoreStatus status = transaction.BeginWrite();
  // Remember the highest event seq before its event may go, so numbering
  // never goes back (see MaxEventSeq).
  if (status.ok()) status = s_.keep_event_seq.Run("keeping the highest event seq");
  if (status.ok()) {
    s_.delete_workflow.BindInt(1, id);
    status = s_.delete_workflow.Run("deleting its rows");
  }
  if (status.ok()) status = transaction.Commit();
  if (!status.ok()) return WithContext(status, context);
  job_counts_.erase(id);
  return status;
}

StoreStatus SqliteStore::CheckBatch(const ChangeBatch& batch) const {
  auto it = job_counts_.find(batch.workflow);
  if (it == job_counts_.end()) return {StoreError::kOther, "no such workflow"};
  // An out-of-range index would make the log unreadable at the next start.
  for (const auto& [index, job] : batch.jobs) {
    if (index >= it->second) {
      return {StoreError::kOther, "job index " + std::to_string(index) + " out of range (" +
                                      std::to_string(it->second) + " jobs)"};
    }
  }
  return StoreStatus::Ok();
}

// Rows are written under batch.workflow; the records' own workflow fields are
// not consulted.
StoreStatus SqliteStore::Append(const ChangeBatch& batch) {
  const std::string context = "storing changes to workflow " + std::to_string(batch.workflow);
  if (batch.empty()) return StoreStatus::Ok();
  StoreStatus status = CheckBatch(batch);
  if (!status.ok()) return WithContext(status, context);
  SqliteTransaction transaction(&s_.transactions);
  status = transaction.BeginWrite();
  if (status.ok()) status = WriteBatch(batch);
  if (status.ok()) status = transaction.Commit();
  if (!status.ok()) return WithContext(status, context);
  for (const Event& e : batch.events) max_event_seq_ = std::max(max_event_seq_, e.seq);
  return status;
}

StoreStatus SqliteStore::WriteBatch(const ChangeBatch& batch) {
  StoreStatus status;
  if (!batch.jobs.empty()) {
    PackChanges(batch.jobs, &pack_buffer_);
    s_.insert_log.BindInt(1, batch.workflow);
    s_.insert_log.BindDouble(2, batch.time);
    s_.insert_log.BindBlob(3, pack_buffer_);
    status = s_.insert_log.Run("logging job changes");
  }
  for (size_t i = 0; status.ok() && i < batch.results.size(); ++i) {
    status = WriteResult(batch.workflow, batch.results[i]);
  }
  for (size_t i = 0; status.ok() && i < batch.samples.size(); ++i) {
    status = WriteSamples(batch.workflow, batch.samples[i]);
  }
  for (size_t i = 0; status.ok() && i < batch.events.size(); ++i) {
    status = WriteEvent(batch.workflow, batch.events[i]);
  }
  for (size_t i = 0; status.ok() && i < batch.workers.size(); ++i) {
    status = WriteWorker(batch.workflow, batch.workers[i]);
  }
  for (size_t i = 0; status.ok() && i < batch.actions.size(); ++i) {
    status = WriteAction(batch.workflow, batch.actions[i]);
  }
  return status;
}

// A result for an attempt already recorded (a worker repeating its report)
// replaces the earlier one's fields but keeps its place in commit order.
StoreStatus SqliteStore::WriteResult(WorkflowId id, const AttemptResult& r) {
  SqliteStatement& s = s_.upsert_attempt;
  s.BindInt(1, id);
  s.BindInt(2, r.job);
  s.BindInt(3, r.attempt);
  s.BindInt(4, r.worker);
  s.BindInt(5, static_cast<int>(r.status));
  s.BindInt(6, r.exit_code);
  s.BindInt(7, r.signal);
  s.BindText(8, r.reason);
  s.BindDouble(9, r.start_time);
  s.BindDouble(10, r.end_time);
  s.BindInt(11, r.peak_rss_bytes);
  s.BindDouble(12, r.cpu_seconds);
  s.BindText(13, r.nodes);
  s.BindText(14, r.node_usage);
  s.BindInt(15, r.memory_request);
  s.BindInt(16, r.runtime_request);
  return Detail(s.Run("recording an attempt result"), r.job);
}

StoreStatus SqliteStore::WriteSamples(WorkflowId id, const AttemptSamples& a) {
  SqliteStatement& s = s_.upsert_samples;
  s.BindInt(1, id);
  s.BindInt(2, a.job);
  s.BindInt(3, a.attempt);
  s.BindDouble(4, a.interval_seconds);
  s.BindText(5, a.samples_json);
  return Detail(s.Run("recording an attempt's samples"), a.job);
}

StoreStatus SqliteStore::ReadSamples(WorkflowId id, JobIndex job, uint32_t attempt,
                                     AttemptSamples* out, bool* found) {
  SqliteStatement& s = s_.read_samples;
  s.BindInt(1, id);
  s.BindInt(2, job);
  s.BindInt(3, attempt);
  StoreStatus status;
  *found = s.Step(&status, "reading an attempt's samples");
  if (*found) {
    out->job = job;
    out->attempt = attempt;
    out->interval_seconds = s.ColumnDouble(0);
    out->samples_json = s.ColumnText(1);
  }
  s.Reset();
  return status;
}

StoreStatus SqliteStore::WriteEvent(WorkflowId id, const Event& e) {
  SqliteStatement& s = s_.insert_event;
  s.BindInt(1, e.seq);
  s.BindInt(2, id);
  s.BindDouble(3, e.time);
  s.BindText(4, e.kind);
  s.BindInt(5, e.job);
  s.BindInt(6, e.attempt);
  s.BindInt(7, e.worker);
  s.BindText(8, e.detail);
  return Detail(s.Run("recording an event"), e.seq);
}

StoreStatus SqliteStore::WriteWorker(WorkflowId id, const WorkerRecord& w) {
  SqliteStatement& s = s_.upsert_worker;
  s.BindInt(1, w.id);
  s.BindInt(2, id);
  s.BindText(3, w.hostname);
  s.BindText(4, w.slurm_job_id);
  s.BindInt(5, w.pid);
  s.BindDouble(6, w.registered_at);
  s.BindDouble(7, w.lease_expires);
  s.BindInt(8, w.alive ? 1 : 0);
  s.BindText(9, w.resources_json);
  return Detail(s.Run("recording a worker"), w.id);
}

StoreStatus SqliteStore::WriteAction(WorkflowId id, const ActionState& a) {
  SqliteStatement& s = s_.upsert_action;
  s.BindInt(1, id);
  s.BindInt(2, a.action);
  s.BindInt(3, static_cast<int>(a.status));
  s.BindText(4, a.detail);
  return Detail(s.Run("recording an action"), a.action);
}

StoreStatus SqliteStore::Checkpoint(WorkflowId id, const std::vector<JobDynamic>& jobs) {
  const std::string context = "checkpointing workflow " + std::to_string(id);
  auto it = job_counts_.find(id);
  if (it == job_counts_.end()) return {StoreError::kOther, context + ": no such workflow"};
  if (jobs.size() != it->second) {
    return {StoreError::kOther, context + ": " + std::to_string(jobs.size()) + " job states for " +
                                    std::to_string(it->second) + " jobs"};
  }
  PackCheckpoint(jobs, &pack_buffer_);
  SqliteTransaction transaction(&s_.transactions);
  StoreStatus status = transaction.BeginWrite();
  if (status.ok()) {
    s_.checkpoint.BindBlob(1, pack_buffer_);
    s_.checkpoint.BindInt(2, id);
    s_.checkpoint.BindInt(3, jobs.size());
    status = s_.checkpoint.Run("writing the checkpoint");
  }
  if (status.ok() && sqlite3_changes(db_.get()) != 1) {
    status = {StoreError::kOther, "the workflow row is missing"};
  }
  if (status.ok()) {
    s_.trim_log.BindInt(1, id);
    status = s_.trim_log.Run("dropping superseded job log entries");
  }
  if (status.ok()) status = transaction.Commit();
  return WithContext(status, context);
}

StoreStatus SqliteStore::EventsSince(WorkflowId id, int64_t after, int limit,
                                     std::vector<Event>* out, const std::string& kind_prefix) {
  out->clear();
  if (limit <= 0) return StoreStatus::Ok();
  SqliteStatement& s = s_.events_since;
  s.BindInt(1, id);
  s.BindInt(2, after);
  s.BindInt(3, limit);
  s.BindText(4, kind_prefix);
  StoreStatus status;
  while (status.ok() && s.Step(&status, "reading events")) {
    RowReader row(s, "events", "seq", 0);
    ReadEventRow(&row, 7, job_counts_, &out->emplace_back());
    status = row.status();
  }
  s.Reset();
  if (!status.ok()) out->clear();
  return WithContext(status, "workflow " + std::to_string(id));
}

}  // namespace store_internal


std::unique_ptr<Store> Store::Open(const std::string& path, const StoreOptions& options,
                                   StoreStatus* status) {
  auto store = std::make_unique<store_internal::SqliteStore>();
  *status = store->Init(path, options);
  if (status->error == StoreError::kCorrupt)
    status->message += std::string("; ") + kDamagedStoreAdvice;
  *status = WithContext(*status, "opening store " + path);
  if (!status->ok()) return nullptr;
  return store;
}

}  // namespace torc::server
