// Internal to server/store: the SQLite store's class, its prepared statements and the index
// its loading fills. store.cc opens the store and writes; store_load.cc reads it all back
// when the server starts.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <unordered_map>
#include <vector>

#include "server/store/sqlite.h"
#include "server/store/store.h"
#include "server/store/store_verify.h"

namespace torc::server::store_internal {

/// Adds which record (event seq, worker id, job index...) a failure is about,
/// only when it failed: the success path builds no strings.
inline StoreStatus Detail(StoreStatus status, int64_t id) {
  if (!status.ok()) status.message += " (" + std::to_string(id) + ")";
  return status;
}

constexpr int64_t kMaxInt64 = std::numeric_limits<int64_t>::max();
constexpr int64_t kMaxUint32 = std::numeric_limits<uint32_t>::max();
constexpr int64_t kMaxInt32 = std::numeric_limits<int32_t>::max();
constexpr int64_t kMinInt32 = std::numeric_limits<int32_t>::min();

/// Every statement the store runs, prepared once when it opens.
struct Statements {
  SqliteTransactionStatements transactions;
  SqliteStatement insert_workflow, update_workflow, delete_workflow, keep_event_seq, checkpoint, trim_log;
  SqliteStatement insert_log, upsert_attempt, insert_event, upsert_worker, upsert_action;
  SqliteStatement events_since, max_event_seq;
  SqliteStatement job_log_high_water, load_workflows, load_log, load_attempts, load_workers;
  SqliteStatement load_actions, load_sample_counts, upsert_samples, read_samples;

  StoreStatus Prepare(sqlite3* db);
};

/// The loaded workflows, found by id while the other tables are read.
class LoadedIndex {
 public:
  explicit LoadedIndex(std::vector<LoadedWorkflow>* out) : out_(out) {}
  void Add(LoadedWorkflow workflow, int64_t checkpoint_seq) {
    index_[workflow.row.id] = {out_->size(), checkpoint_seq};
    out_->push_back(std::move(workflow));
  }
  /// The workflow `id`, or null (failing `row`) when there is none.
  LoadedWorkflow* Find(WorkflowId id, RowReader* row) {
    if (!row->ok()) return nullptr;
    auto it = index_.find(id);
    if (it != index_.end()) return &(*out_)[it->second.position];
    row->Fail("workflow_id " + std::to_string(id) + ": there is no such workflow");
    return nullptr;
  }
  int64_t CheckpointSeq(WorkflowId id) const { return index_.at(id).checkpoint_seq; }
  std::vector<LoadedWorkflow>& All() { return *out_; }

 private:
  struct Entry {
    size_t position;
    int64_t checkpoint_seq;
  };
  std::vector<LoadedWorkflow>* out_;
  std::unordered_map<WorkflowId, Entry> index_;
};


/// The Store on one SQLite connection.
class SqliteStore final : public Store {
 public:
  StoreStatus Init(const std::string& path, const StoreOptions& options);

  using Store::CreateWorkflow;
  StoreStatus CreateWorkflow(const WorkflowRow& row, const std::vector<JobDynamic>& initial,
                             const ChangeBatch& first, WorkflowId* id) override;
  StoreStatus UpdateWorkflow(const WorkflowRow& row, const ChangeBatch& batch) override;
  StoreStatus DeleteWorkflow(WorkflowId id) override;
  StoreStatus Append(const ChangeBatch& batch) override;
  StoreStatus Checkpoint(WorkflowId id, const std::vector<JobDynamic>& jobs) override;
  StoreStatus LoadAll(std::vector<LoadedWorkflow>* out) override;
  StoreStatus ReadSamples(WorkflowId id, JobIndex job, uint32_t attempt, AttemptSamples* out,
                          bool* found) override;
  StoreStatus EventsSince(WorkflowId id, int64_t after, int limit, std::vector<Event>* out,
                          const std::string& kind_prefix = "") override;
  int64_t MaxEventSeq() override { return max_event_seq_; }

 private:
  StoreStatus Configure(const StoreOptions& options);
  StoreStatus ReadCaches();
  StoreStatus CheckBatch(const ChangeBatch& batch) const;
  StoreStatus WriteBatch(const ChangeBatch& batch);
  StoreStatus WriteResult(WorkflowId id, const AttemptResult& r);
  StoreStatus WriteSamples(WorkflowId id, const AttemptSamples& a);
  StoreStatus LoadSampleCounts(LoadedIndex* index);
  StoreStatus WriteEvent(WorkflowId id, const Event& e);
  StoreStatus WriteWorker(WorkflowId id, const WorkerRecord& w);
  StoreStatus WriteAction(WorkflowId id, const ActionState& a);
  StoreStatus LoadWorkflows(LoadedIndex* index, int64_t log_high_water);
  StoreStatus LoadLog(LoadedIndex* index);
  StoreStatus LoadAttempts(LoadedIndex* index);
  StoreStatus LoadWorkers(LoadedIndex* index);
  StoreStatus LoadActions(LoadedIndex* index);

  SqliteDb db_;
  Statements s_;
  SqliteWalCheckpointer checkpointer_;                   // stopped before db_ closes
  std::unordered_map<WorkflowId, uint32_t> job_counts_;  // of every stored workflow
  int64_t max_event_seq_ = 0;
  std::string pack_buffer_;  // reused to pack job states
};


}  // namespace torc::server::store_internal
