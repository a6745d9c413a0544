// The store's schema; see server/store.cc for how the store uses it.
//
// Layout (schema version 1 plus the migrations after it, see kMigrations below):
//   workflows  one row per workflow; `checkpoint` holds the packed job states
//              as of job_log seq `checkpoint_seq` (the initial states at first)
//   job_log    one row per ChangeBatch that changed jobs: the packed changes
//   attempts   one row per (workflow, job, attempt); commit order = rowid
//   events     seq is the caller's global event number
//   workers, actions   latest record of each, upserted
//   counters   the event seq high-water mark, kept across workflow deletions
//   attempt_samples  (version 2) one attempt's time series as JSON, read only on request;
//              attempts.node_usage (version 2) its per-node figures as a JSON array
//   workflows.parameter_files  (version 4) the files of "@path" parameter values, JSON
//   workflows.input_stamps (version 5) the pure inputs' stamps at submit or the last update
// Child rows go with their workflow by ON DELETE CASCADE.
//
// ActionStatus values (like JobStatus values, see server/store_codec.h) are
// stored as numbers, so their order is part of the schema.

#include "server/store/store_schema.h"

#include <cstdint>
#include <iterator>
#include <string>

namespace torc::server {
namespace {

/// Schema migrations; entry i brings the database to version i + 1. Append
/// new versions, never edit applied ones.
constexpr const char* kMigrations[] = {
    R"sql(
CREATE TABLE workflows (
  id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused, even after a delete
  name TEXT NOT NULL,
  owner TEXT NOT NULL,
  created_at REAL NOT NULL,
  spec_text TEXT NOT NULL,
  file_name TEXT NOT NULL,
  working_dir TEXT NOT NULL,
  job_count INTEGER NOT NULL,
  names_digest TEXT NOT NULL,
  checkpoint BLOB NOT NULL,
  checkpoint_seq INTEGER NOT NULL DEFAULT 0  -- job_log rows up to here are in it
);
CREATE TABLE job_log (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused, so checkpoint_seq stays valid
  workflow_id INTEGER NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
  time REAL NOT NULL,
  payload BLOB NOT NULL
);
CREATE INDEX job_log_by_workflow ON job_log(workflow_id, seq);
CREATE TABLE attempts (
  workflow_id INTEGER NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
  job INTEGER NOT NULL,
  attempt INTEGER NOT NULL,
  worker INTEGER NOT NULL,
  status INTEGER NOT NULL,
  exit_code INTEGER NOT NULL,
  signal INTEGER NOT NULL,
  reason TEXT NOT NULL,
  start_time REAL NOT NULL,
  end_time REAL NOT NULL,
  peak_rss_bytes INTEGER NOT NULL,
  cpu_seconds REAL NOT NULL,
  nodes TEXT NOT NULL,
  PRIMARY KEY (workflow_id, job, attempt)
);
CREATE TABLE events (
  seq INTEGER PRIMARY KEY,
  workflow_id INTEGER NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
  time REAL NOT NULL,
  kind TEXT NOT NULL,
  job INTEGER NOT NULL,
  attempt INTEGER NOT NULL,
  worker INTEGER NOT NULL,
  detail TEXT NOT NULL
);
CREATE INDEX events_by_workflow ON events(workflow_id, seq);
CREATE TABLE workers (
  id INTEGER PRIMARY KEY,
  workflow_id INTEGER NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
  hostname TEXT NOT NULL,
  slurm_job_id TEXT NOT NULL,
  pid INTEGER NOT NULL,
  registered_at REAL NOT NULL,
  lease_expires REAL NOT NULL,
  alive INTEGER NOT NULL,
  resources_json TEXT NOT NULL
);
CREATE INDEX workers_by_workflow ON workers(workflow_id);
CREATE TABLE actions (
  workflow_id INTEGER NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
  action INTEGER NOT NULL,
  status INTEGER NOT NULL,
  detail TEXT NOT NULL,
  PRIMARY KEY (workflow_id, action)
) WITHOUT ROWID;
CREATE TABLE counters (
  name TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
)sql",
    // 2: what each attempt used per node, and its time series (read on request only).
    R"sql(
ALTER TABLE attempts ADD COLUMN node_usage TEXT NOT NULL DEFAULT '[]';
CREATE TABLE attempt_samples (
  workflow_id INTEGER NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
  job INTEGER NOT NULL,
  attempt INTEGER NOT NULL,
  interval_seconds REAL NOT NULL,
  samples TEXT NOT NULL,
  PRIMARY KEY (workflow_id, job, attempt)
) WITHOUT ROWID;
)sql",
    // 3: the request each attempt was given (grown by failure handlers and restarts); -1 for
    // attempts recorded before. A job's grown request is in its packed state (store_codec.h).
    R"sql(
ALTER TABLE attempts ADD COLUMN memory_request INTEGER NOT NULL DEFAULT -1;
ALTER TABLE attempts ADD COLUMN runtime_request INTEGER NOT NULL DEFAULT -1;
)sql",
    // 4: the files of a workflow's "@path" parameter values (a JSON object, path -> text), which
    // the server parses the workflow with again at every start.
    R"sql(
ALTER TABLE workflows ADD COLUMN parameter_files TEXT NOT NULL DEFAULT '{}';
)sql",
    // 5: the stamps of a workflow's pure input files at its submit or last update, as JSON
    // {"path": [size, mtime_ns]}: what `torc run` again compares them with (docs/rerun.md).
    R"sql(
ALTER TABLE workflows ADD COLUMN input_stamps TEXT NOT NULL DEFAULT '{}';
)sql",
};
constexpr int kSchemaVersion = static_cast<int>(std::size(kMigrations));

}  // namespace

StoreStatus MigrateSchema(SqliteDb* db, SqliteTransactionStatements* transactions) {
  SqliteTransaction transaction(transactions);
  StoreStatus status = transaction.BeginWrite();
  if (status.ok()) {
    status = db->Exec(
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY,"
        " applied_at INTEGER NOT NULL)",
        "creating the schema_version table");
  }
  SqliteStatement current;
  if (status.ok()) {
    status = current.Prepare(db->get(), "SELECT IFNULL(MAX(version), 0) FROM schema_version");
  }
  int64_t version = 0;
  if (status.ok() && current.Step(&status, "reading the schema version")) {
    version = current.ColumnInt(0);
  }
  current.Reset();
  if (!status.ok()) return status;
  if (version > kSchemaVersion) {
    return {StoreError::kOther, "the database has schema version " + std::to_string(version) +
                                    ", newer than this torc knows (" +
                                    std::to_string(kSchemaVersion) + ")"};
  }
  SqliteStatement record;
  status = record.Prepare(db->get(),
                          "INSERT INTO schema_version(version, applied_at)"
                          " VALUES(?, CAST(strftime('%s', 'now') AS INTEGER))");
  for (int64_t v = version + 1; status.ok() && v <= kSchemaVersion; ++v) {
    std::string doing = "migrating the schema to version " + std::to_string(v);
    status = db->Exec(kMigrations[v - 1], doing);
    record.BindInt(1, v);
    if (status.ok()) status = record.Run(doing);
  }
  if (status.ok()) status = transaction.Commit();
  return status;
}

}  // namespace torc::server
