// Durable state of every workflow in one SQLite database (WAL mode).
//
// The store is write-mostly: the server keeps all live state in memory and
// persists each request's ChangeBatch here before it answers. Job states are
// written as an append-only log of batches plus, from time to time, a
// checkpoint (one snapshot per workflow) that lets the log be trimmed. On
// start the server loads everything back with LoadAll().
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "server/model/model.h"

namespace torc::server {

/// Why a store operation failed. kBusy and kFull are transient: the API
/// answers 503 and the caller may retry; the store stays usable.
enum class StoreError { kNone, kBusy, kFull, kCorrupt, kOther };

/// What a user can do about a damaged database: appended to the kCorrupt failures of
/// Store::Open and LoadAll, and to the damage the scheduling core finds when it restores.
extern const char* const kDamagedStoreAdvice;

/// The outcome of a store operation: ok, or the kind of failure and a message for the user.
struct StoreStatus {
  StoreError error = StoreError::kNone;
  std::string message;
  bool ok() const { return error == StoreError::kNone; }
  static StoreStatus Ok() { return {}; }
};

/// Everything known about one workflow after a restart.
struct LoadedWorkflow {
  WorkflowRow row;
  std::vector<JobDynamic> jobs;         // size row.job_count; checkpoint + log replayed
  std::vector<AttemptResult> results;   // every recorded attempt, in commit order
  std::vector<WorkerRecord> workers;    // latest record of each worker
  std::vector<ActionState> actions;     // latest state of each action that has one
};

/// How the store opens its database (`torc server run` fills it from its flags).
struct StoreOptions {
  /// Milliseconds SQLite waits on a locked database before reporting kBusy.
  /// Short on purpose: the server commits under one lock, so every request
  /// queues behind a commit that waits; better a quick 503 the client retries
  /// (the worker does) than every request hanging for seconds.
  int busy_timeout_ms = 500;
  /// Files whose presence shows that the data directory has held this database
  /// (`torc server run` gives server.port and server.url). An empty (0-byte) database file
  /// beside one of them was truncated or replaced: it is refused as damaged instead of
  /// being started as a new, empty store whose ids would begin again at 1.
  std::vector<std::string> history_files;
};

/// The server's durable storage. One implementation, on SQLite (store.cc); owned by the
/// Service, which calls it under its lock: an instance is not thread-safe.
class Store {
 public:
  /// Opens (creating if needed) the database at `path`, applying schema
  /// migrations. Returns null and sets *status on failure: kCorrupt for a damaged
  /// database (SQLite's quick_check, a bad value in a row the loader does not read, an
  /// emptied file; see StoreOptions::history_files), in which case nothing was written.
  static std::unique_ptr<Store> Open(const std::string& path, const StoreOptions& options,
                                     StoreStatus* status);
  virtual ~Store() = default;

  /// Inserts a workflow with every job in `initial` (size row.job_count) and
  /// the changes of its first batch (`first`, written under the new id), all
  /// or nothing in one transaction; sets *id (also returned in row.id by LoadAll).
  virtual StoreStatus CreateWorkflow(const WorkflowRow& row, const std::vector<JobDynamic>& initial,
                                     const ChangeBatch& first, WorkflowId* id) = 0;
  StoreStatus CreateWorkflow(const WorkflowRow& row, const std::vector<JobDynamic>& initial,
                             WorkflowId* id) {
    return CreateWorkflow(row, initial, ChangeBatch{}, id);
  }
  /// Replaces a workflow's file (spec_text, file_name, name, parameter_files) and input stamps by those of
  /// `row` and persists `batch` (the reset job states of an update, docs/rerun.md), all or
  /// nothing in one transaction. The job count and names digest must be the stored ones.
  virtual StoreStatus UpdateWorkflow(const WorkflowRow& row, const ChangeBatch& batch) = 0;
  /// Removes a workflow and everything recorded about it.
  virtual StoreStatus DeleteWorkflow(WorkflowId id) = 0;

  /// Persists one request's changes in one transaction; durable on return.
  /// Events get their seq assigned by the caller (increasing, global).
  virtual StoreStatus Append(const ChangeBatch& batch) = 0;

  /// Writes the full job states of a workflow as its new checkpoint and drops
  /// the log entries it supersedes, in one transaction.
  virtual StoreStatus Checkpoint(WorkflowId id, const std::vector<JobDynamic>& jobs) = 0;

  /// Reads every workflow back (checkpoint + replayed log). Every value read is checked
  /// against its column's type and range; the first bad one gives kCorrupt naming the
  /// table, the row and the column, and *out stays empty.
  virtual StoreStatus LoadAll(std::vector<LoadedWorkflow>* out) = 0;

  /// The time series of one attempt (not loaded by LoadAll); *found false when it has none.
  virtual StoreStatus ReadSamples(WorkflowId id, JobIndex job, uint32_t attempt,
                                  AttemptSamples* out, bool* found) = 0;

  /// Events of a workflow with seq > after, at most `limit`, in seq order; only those whose
  /// kind starts with `kind_prefix` when it is not empty.
  virtual StoreStatus EventsSince(WorkflowId id, int64_t after, int limit,
                                  std::vector<Event>* out,
                                  const std::string& kind_prefix = "") = 0;
  /// The highest event seq ever stored (0 when none), to continue numbering.
  virtual int64_t MaxEventSeq() = 0;
};

}  // namespace torc::server
