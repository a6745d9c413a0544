#include "server/store/store.h"

#include <doctest/doctest.h>
#include <sqlite3.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "server/store/sqlite.h"

using namespace torc::server;
namespace fs = std::filesystem;

namespace {

/// A fresh directory under the system temp dir, removed with everything in it.
struct TempDir {
  fs::path path;
  TempDir() {
    std::random_device random;
    path = fs::temp_directory_path() /
           ("torc-store-test-" + std::to_string(getpid()) + "-" + std::to_string(random()));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
  std::string File(const char* name = "torc.db") const { return (path / name).string(); }
};

std::unique_ptr<Store> OpenStore(const std::string& path, int busy_timeout_ms = 2000) {
  StoreStatus status;
  StoreOptions options;
  options.busy_timeout_ms = busy_timeout_ms;
  std::unique_ptr<Store> store = Store::Open(path, options, &status);
  REQUIRE_MESSAGE(status.ok(), status.message);
  REQUIRE(store);
  return store;
}

/// A raw second connection, to look inside the file or to hold locks.
struct RawDb {
  sqlite3* db = nullptr;
  explicit RawDb(const std::string& path) { REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK); }
  ~RawDb() { sqlite3_close(db); }
  void Exec(const char* sql) {
    char* error = nullptr;
    int rc = sqlite3_exec(db, sql, nullptr, nullptr, &error);
    INFO(sql, ": ", (error ? error : ""));
    sqlite3_free(error);
    REQUIRE(rc == SQLITE_OK);
  }
  int64_t Count(const char* sql) {
    sqlite3_stmt* stmt = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_step(stmt) == SQLITE_ROW);
    int64_t n = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return n;
  }
};

WorkflowRow MakeRow(const std::string& name, uint32_t jobs) {
  WorkflowRow row;
  row.name = name;
  row.owner = "alice";
  row.created_at = 1700000000.25;
  row.spec_text = "name: " + name + "\njobs: []\n";
  row.file_name = name + ".yaml";
  row.working_dir = "/scratch/alice/" + name;
  row.job_count = jobs;
  row.names_digest = "sha256:" + name;
  row.parameter_files = R"({"ids.txt":"a\nb\n"})";
  return row;
}

std::vector<JobDynamic> InitialJobs(uint32_t n) {
  std::vector<JobDynamic> jobs(n);
  for (uint32_t i = 0; i < n; ++i)
    jobs[i].status = i % 3 == 0 ? JobStatus::kReady : JobStatus::kBlocked;
  return jobs;
}

WorkflowId Create(Store* store, const std::string& name, uint32_t jobs) {
  WorkflowId id = 0;
  StoreStatus status = store->CreateWorkflow(MakeRow(name, jobs), InitialJobs(jobs), &id);
  REQUIRE_MESSAGE(status.ok(), status.message);
  CHECK(id > 0);
  return id;
}

std::vector<LoadedWorkflow> LoadAll(Store* store) {
  std::vector<LoadedWorkflow> all;
  StoreStatus status = store->LoadAll(&all);
  REQUIRE_MESSAGE(status.ok(), status.message);
  return all;
}

void RequireOk(const StoreStatus& status) { REQUIRE_MESSAGE(status.ok(), status.message); }

AttemptResult MakeResult(JobIndex job, uint32_t attempt, int32_t exit_code) {
  AttemptResult r;
  r.job = job;
  r.attempt = attempt;
  r.worker = 7;
  r.status = exit_code == 0 ? JobStatus::kCompleted : JobStatus::kFailed;
  r.exit_code = exit_code;
  r.signal = exit_code == 137 ? 9 : 0;
  r.reason = exit_code == 137 ? "memory" : "";
  r.start_time = 1700000100.5 + job;
  r.end_time = 1700000200.75 + job;
  r.peak_rss_bytes = 1048576 * int64_t{job + 1};
  r.cpu_seconds = 12.5;
  r.nodes = "n[1-" + std::to_string(job + 2) + "]";
  r.memory_request = (int64_t{job} + 1) << 30;
  r.runtime_request = 3600 * (int64_t{job} + 1);
  return r;
}

Event MakeEvent(int64_t seq, WorkflowId workflow, const char* kind) {
  Event e;
  e.seq = seq;
  e.workflow = workflow;
  e.time = 1700000300.0 + static_cast<double>(seq);
  e.kind = kind;
  e.job = seq % 4;
  e.attempt = 2;
  e.worker = 7;
  e.detail = std::string("detail of ") + kind;
  return e;
}

WorkerRecord MakeWorker(WorkerId id, WorkflowId workflow, double lease) {
  WorkerRecord w;
  w.id = id;
  w.workflow = workflow;
  w.hostname = "node" + std::to_string(id);
  w.slurm_job_id = "12345" + std::to_string(id);
  w.pid = 4000 + id;
  w.registered_at = 1700000000.5;
  w.lease_expires = lease;
  w.alive = true;
  w.resources_json = R"({"cpus":36,"memory":"180g"})";
  return w;
}

void CheckSame(const WorkflowRow& a, const WorkflowRow& b) {
  CHECK(a.id == b.id);
  CHECK(a.name == b.name);
  CHECK(a.owner == b.owner);
  CHECK(a.created_at == b.created_at);
  CHECK(a.spec_text == b.spec_text);
  CHECK(a.file_name == b.file_name);
  CHECK(a.working_dir == b.working_dir);
  CHECK(a.job_count == b.job_count);
  CHECK(a.names_digest == b.names_digest);
  CHECK(a.parameter_files == b.parameter_files);
  CHECK(a.input_stamps == b.input_stamps);
}

void CheckSame(const AttemptResult& a, const AttemptResult& b) {
  CHECK(a.job == b.job);
  CHECK(a.attempt == b.attempt);
  CHECK(a.worker == b.worker);
  CHECK(a.status == b.status);
  CHECK(a.exit_code == b.exit_code);
  CHECK(a.signal == b.signal);
  CHECK(a.reason == b.reason);
  CHECK(a.start_time == b.start_time);
  CHECK(a.end_time == b.end_time);
  CHECK(a.peak_rss_bytes == b.peak_rss_bytes);
  CHECK(a.cpu_seconds == b.cpu_seconds);
  CHECK(a.nodes == b.nodes);
  CHECK(a.memory_request == b.memory_request);
  CHECK(a.runtime_request == b.runtime_request);
}

void CheckSame(const Event& a, const Event& b) {
  CHECK(a.seq == b.seq);
  CHECK(a.workflow == b.workflow);
  CHECK(a.time == b.time);
  CHECK(a.kind == b.kind);
  CHECK(a.job == b.job);
  CHECK(a.attempt == b.attempt);
  CHECK(a.worker == b.worker);
  CHECK(a.detail == b.detail);
}

void CheckSame(const WorkerRecord& a, const WorkerRecord& b) {
  CHECK(a.id == b.id);
  CHECK(a.workflow == b.workflow);
  CHECK(a.hostname == b.hostname);
  CHECK(a.slurm_job_id == b.slurm_job_id);
  CHECK(a.pid == b.pid);
  CHECK(a.registered_at == b.registered_at);
  CHECK(a.lease_expires == b.lease_expires);
  CHECK(a.alive == b.alive);
  CHECK(a.resources_json == b.resources_json);
}

void CheckSame(const ActionState& a, const ActionState& b) {
  CHECK(a.action == b.action);
  CHECK(a.status == b.status);
  CHECK(a.detail == b.detail);
}

template <typename T>
void CheckSameList(const std::vector<T>& a, const std::vector<T>& b) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    CAPTURE(i);
    CheckSame(a[i], b[i]);
  }
}

void CheckSame(const LoadedWorkflow& a, const LoadedWorkflow& b) {
  CheckSame(a.row, b.row);
  CHECK(a.jobs == b.jobs);
  CheckSameList(a.results, b.results);
  CheckSameList(a.workers, b.workers);
  CheckSameList(a.actions, b.actions);
}

/// Replaces the record `same` finds in `list` (in place, keeping its
/// position), or appends `record`.
template <typename T, typename Same>
void Upsert(std::vector<T>* list, const T& record, Same same) {
  auto it = std::find_if(list->begin(), list->end(), same);
  if (it == list->end()) {
    list->push_back(record);
  } else {
    *it = record;
  }
}

/// Applies a batch to an expected LoadedWorkflow the way the store should.
void Expect(LoadedWorkflow* w, const ChangeBatch& batch) {
  for (const auto& [index, job] : batch.jobs) w->jobs[index] = job;
  for (const AttemptResult& r : batch.results) {
    Upsert(&w->results, r,
           [&](const AttemptResult& x) { return x.job == r.job && x.attempt == r.attempt; });
  }
  for (const WorkerRecord& r : batch.workers) {
    Upsert(&w->workers, r, [&](const WorkerRecord& x) { return x.id == r.id; });
  }
  for (const ActionState& a : batch.actions) {
    Upsert(&w->actions, a, [&](const ActionState& x) { return x.action == a.action; });
  }
  // The store returns workers by id and actions by action index.
  std::sort(w->workers.begin(), w->workers.end(),
            [](const WorkerRecord& a, const WorkerRecord& b) { return a.id < b.id; });
  std::sort(w->actions.begin(), w->actions.end(),
            [](const ActionState& a, const ActionState& b) { return a.action < b.action; });
}

LoadedWorkflow Expected(WorkflowId id, const std::string& name, uint32_t jobs) {
  LoadedWorkflow w;
  w.row = MakeRow(name, jobs);
  w.row.id = id;
  w.jobs = InitialJobs(jobs);
  return w;
}

/// A batch that touches every table.
ChangeBatch MakeBatch(WorkflowId id, int round, int64_t first_event_seq) {
  ChangeBatch b;
  b.workflow = id;
  b.time = 1700001000.0 + round;
  for (JobIndex j = static_cast<JobIndex>(round); j < 10; j += 3) {
    JobDynamic d;
    d.status = round % 2 ? JobStatus::kRunning : JobStatus::kCompleted;
    d.attempt = static_cast<uint32_t>(round + 1);
    d.retries = static_cast<uint16_t>(round);
    d.walltime_requeues = static_cast<uint16_t>(65535 - round);  // every bit of the field
    d.interruptions = static_cast<uint16_t>(65534 - round);
    d.slurm_requeues = static_cast<uint16_t>(32768 + round);
    d.worker = int64_t{1} << 40 | round;                         // needs all 8 bytes
    if (round > 0) {                                             // grown requests
      d.memory_request = int64_t{1} << (33 + round);
      d.runtime_request = 86400 * round + j;
    }
    b.jobs.emplace_back(j, d);
  }
  b.results.push_back(MakeResult(static_cast<JobIndex>(round), 1, round == 2 ? 137 : 0));
  b.events.push_back(MakeEvent(first_event_seq, id, "retry"));
  b.events.push_back(MakeEvent(first_event_seq + 1, id, "requeue"));
  // Worker ids are global: each workflow has its own two.
  b.workers.push_back(MakeWorker(100 * id + round % 2, id, 1700002000.0 + round));
  b.actions.push_back(
      {static_cast<uint32_t>(round % 2), ActionStatus::kDue, "round " + std::to_string(round)});
  return b;
}

}  // namespace

TEST_CASE("a new store is empty, and reopening it does not migrate again") {
  TempDir dir;
  {
    auto store = OpenStore(dir.File());
    CHECK(LoadAll(store.get()).empty());
    CHECK(store->MaxEventSeq() == 0);
    Create(store.get(), "first", 3);
  }
  for (int i = 0; i < 2; ++i) {
    auto store = OpenStore(dir.File());
    CHECK(LoadAll(store.get()).size() == 1);
  }
  RawDb raw(dir.File());
  // One row per migration, each applied once.
  CHECK(raw.Count("SELECT COUNT(*) FROM schema_version") >= 2);
  CHECK(raw.Count("SELECT MAX(version) FROM schema_version") ==
        raw.Count("SELECT COUNT(*) FROM schema_version"));
  CHECK(raw.Count("SELECT COUNT(*) FROM workflows") == 1);
  // WAL mode is a property of the file, so it shows from here too.
  sqlite3_stmt* stmt = nullptr;
  REQUIRE(sqlite3_prepare_v2(raw.db, "PRAGMA journal_mode", -1, &stmt, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(stmt) == SQLITE_ROW);
  CHECK(std::string(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0))) == "wal");
  sqlite3_finalize(stmt);
}

TEST_CASE("a created workflow loads back as it was given") {
  TempDir dir;
  auto store = OpenStore(dir.File());
  WorkflowId a = Create(store.get(), "alpha", 5);
  WorkflowId b = Create(store.get(), "beta", 0);  // a workflow without jobs is legal
  CHECK(b > a);
  for (int pass = 0; pass < 2; ++pass) {
    CAPTURE(pass);
    std::vector<LoadedWorkflow> all = LoadAll(store.get());
    REQUIRE(all.size() == 2);
    CheckSame(all[0], Expected(a, "alpha", 5));
    CheckSame(all[1], Expected(b, "beta", 0));
    store = OpenStore(dir.File());  // the second pass reads through a new Store
  }
}

TEST_CASE("CreateWorkflow refuses initial states that do not match job_count") {
  TempDir dir;
  auto store = OpenStore(dir.File());
  WorkflowId id = 0;
  StoreStatus status = store->CreateWorkflow(MakeRow("bad", 4), InitialJobs(3), &id);
  CHECK(status.error == StoreError::kOther);
  CHECK(status.message.find("3 initial job states for 4 jobs") != std::string::npos);
  CHECK(LoadAll(store.get()).empty());
}

TEST_CASE("appended batches load back from a new Store on the same file") {
  TempDir dir;
  LoadedWorkflow expected_a, expected_b;
  {
    auto store = OpenStore(dir.File());
    WorkflowId a = Create(store.get(), "alpha", 10);
    WorkflowId b = Create(store.get(), "beta", 4);
    expected_a = Expected(a, "alpha", 10);
    expected_b = Expected(b, "beta", 4);
    int64_t seq = 1;
    for (int round = 0; round < 4; ++round, seq += 2) {
      ChangeBatch batch = MakeBatch(a, round, seq);
      RequireOk(store->Append(batch));
      Expect(&expected_a, batch);
    }
    // A repeated report of attempt (job 1, attempt 1) replaces the first.
    ChangeBatch repeat;
    repeat.workflow = a;
    repeat.results.push_back(MakeResult(1, 1, 3));
    RequireOk(store->Append(repeat));
    Expect(&expected_a, repeat);
    // Another workflow's batch, and an empty batch, in between.
    ChangeBatch other = MakeBatch(b, 1, seq);
    other.jobs.resize(1);
    RequireOk(store->Append(other));
    Expect(&expected_b, other);
    ChangeBatch empty;
    empty.workflow = a;
    RequireOk(store->Append(empty));
    CHECK(store->MaxEventSeq() == seq + 1);
  }
  auto store = OpenStore(dir.File());
  std::vector<LoadedWorkflow> all = LoadAll(store.get());
  REQUIRE(all.size() == 2);
  CheckSame(all[0], expected_a);
  CheckSame(all[1], expected_b);
  REQUIRE(all[0].results.size() == 4);
  CHECK(all[0].results[1].exit_code == 3);  // replaced, still in second place
  CHECK(all[0].workers.size() == 2);
  CHECK(all[0].actions.size() == 2);
  for (const WorkerRecord& w : all[0].workers) CHECK(w.workflow == all[0].row.id);
  CHECK(store->MaxEventSeq() == 10);
}

TEST_CASE("a checkpoint supersedes the log; later batches apply on top of it") {
  TempDir dir;
  LoadedWorkflow expected;
  WorkflowId id = 0;
  {
    auto store = OpenStore(dir.File());
    id = Create(store.get(), "alpha", 10);
    expected = Expected(id, "alpha", 10);
    for (int round = 0; round < 3; ++round) {
      ChangeBatch batch = MakeBatch(id, round, 1 + 2 * round);
      RequireOk(store->Append(batch));
      Expect(&expected, batch);
    }
    std::vector<JobDynamic> snapshot = expected.jobs;
    snapshot[8].status = JobStatus::kCanceled;  // only the checkpoint knows; round 3 leaves it
    expected.jobs = snapshot;
    RequireOk(store->Checkpoint(id, snapshot));
    RawDb raw(dir.File());
    CHECK(raw.Count("SELECT COUNT(*) FROM job_log") == 0);
    ChangeBatch later = MakeBatch(id, 3, 7);
    RequireOk(store->Append(later));
    Expect(&expected, later);
    CHECK(raw.Count("SELECT COUNT(*) FROM job_log") == 1);
  }
  auto store = OpenStore(dir.File());
  std::vector<LoadedWorkflow> all = LoadAll(store.get());
  REQUIRE(all.size() == 1);
  CheckSame(all[0], expected);
  CHECK(all[0].jobs[8].status == JobStatus::kCanceled);

  StoreStatus status = store->Checkpoint(id, std::vector<JobDynamic>(3));
  CHECK(status.error == StoreError::kOther);
  CHECK(store->Checkpoint(id + 1, expected.jobs).error == StoreError::kOther);
  CheckSame(LoadAll(store.get())[0], expected);
}

TEST_CASE("deleting a workflow removes all its rows and nothing else") {
  TempDir dir;
  auto store = OpenStore(dir.File());
  WorkflowId a = Create(store.get(), "alpha", 10);
  WorkflowId b = Create(store.get(), "beta", 10);
  RequireOk(store->Append(MakeBatch(a, 0, 1)));
  RequireOk(store->Append(MakeBatch(b, 1, 3)));
  RequireOk(store->Append(MakeBatch(b, 2, 5)));  // b has the highest event seqs (5, 6)
  RequireOk(store->DeleteWorkflow(b));
  CHECK(store->DeleteWorkflow(b).error == StoreError::kOther);
  std::vector<LoadedWorkflow> all = LoadAll(store.get());
  REQUIRE(all.size() == 1);
  CHECK(all[0].row.id == a);
  RawDb raw(dir.File());
  for (std::string table : {"job_log", "attempts", "events", "workers", "actions"}) {
    CAPTURE(table);
    std::string sql =
        std::string("SELECT COUNT(*) FROM ") + table + " WHERE workflow_id = " + std::to_string(b);
    CHECK(raw.Count(sql.c_str()) == 0);
    sql =
        std::string("SELECT COUNT(*) FROM ") + table + " WHERE workflow_id = " + std::to_string(a);
    CHECK(raw.Count(sql.c_str()) > 0);
  }
  // Numbering never goes back, even though the highest events went with b.
  CHECK(store->MaxEventSeq() == 6);
  CHECK(OpenStore(dir.File())->MaxEventSeq() == 6);
  // Ids are not reused either, and appends to the deleted workflow are refused.
  CHECK(Create(store.get(), "gamma", 1) > b);
  CHECK(store->Append(MakeBatch(b, 0, 7)).error == StoreError::kOther);
}

TEST_CASE("EventsSince pages through one workflow's events") {
  TempDir dir;
  auto store = OpenStore(dir.File());
  WorkflowId a = Create(store.get(), "alpha", 10);
  WorkflowId b = Create(store.get(), "beta", 10);
  std::vector<Event> sent;
  for (int64_t seq = 1; seq <= 20; ++seq) {
    ChangeBatch batch;
    batch.workflow = seq % 3 == 0 ? b : a;
    batch.events.push_back(MakeEvent(seq, batch.workflow, seq % 2 ? "retry" : "lease_expired"));
    RequireOk(store->Append(batch));
    if (batch.workflow == a) sent.push_back(batch.events[0]);
  }
  CHECK(store->MaxEventSeq() == 20);
  std::vector<Event> got, page;
  int64_t cursor = 0;
  int pages = 0;
  do {
    RequireOk(store->EventsSince(a, cursor, 4, &page));
    CHECK(page.size() <= 4);
    for (const Event& e : page) got.push_back(e);
    if (!page.empty()) cursor = page.back().seq;
    ++pages;
  } while (!page.empty());
  CHECK(pages == 5);  // 14 events: 4 + 4 + 4 + 2, then an empty page
  CheckSameList(got, sent);
  RequireOk(store->EventsSince(a, 15, 100, &page));
  REQUIRE(page.size() == 4);  // 18 is b's
  CHECK(page[0].seq == 16);
  CHECK(page[3].seq == 20);
  RequireOk(store->EventsSince(a, 0, 0, &page));
  CHECK(page.empty());
  RequireOk(store->EventsSince(b + 100, 0, 10, &page));
  CHECK(page.empty());
  // Only one kind (by prefix), all of them, in order.
  RequireOk(store->EventsSince(a, 0, 1000, &page, "lease_"));
  std::vector<Event> leases;
  for (const Event& e : sent)
    if (e.kind == "lease_expired") leases.push_back(e);
  REQUIRE(leases.size() == 7);
  CheckSameList(page, leases);
  RequireOk(store->EventsSince(a, 0, 1000, &page, "allocation_"));
  CHECK(page.empty());
}

TEST_CASE("MaxEventSeq continues across reopening") {
  TempDir dir;
  {
    auto store = OpenStore(dir.File());
    WorkflowId id = Create(store.get(), "alpha", 4);  // MakeEvent's job indexes go to 3
    ChangeBatch batch;
    batch.workflow = id;
    batch.events = {MakeEvent(41, id, "retry"), MakeEvent(42, id, "requeue")};
    RequireOk(store->Append(batch));
    CHECK(store->MaxEventSeq() == 42);
  }
  CHECK(OpenStore(dir.File())->MaxEventSeq() == 42);
}

TEST_CASE("a locked database gives kBusy, writes nothing, and the store recovers") {
  TempDir dir;
  auto store = OpenStore(dir.File(), /*busy_timeout_ms=*/50);
  WorkflowId id = Create(store.get(), "alpha", 10);
  RequireOk(store->Append(MakeBatch(id, 0, 1)));
  std::vector<LoadedWorkflow> before = LoadAll(store.get());
  RawDb other(dir.File());
  other.Exec("BEGIN IMMEDIATE");
  StoreStatus status = store->Append(MakeBatch(id, 1, 3));
  CHECK(status.error == StoreError::kBusy);
  CHECK(status.message.find("database is locked") != std::string::npos);
  CHECK(status.message.find("workflow " + std::to_string(id)) != std::string::npos);
  WorkflowId ignored = 0;
  CHECK(store->CreateWorkflow(MakeRow("beta", 2), InitialJobs(2), &ignored).error ==
        StoreError::kBusy);
  CHECK(store->Checkpoint(id, before[0].jobs).error == StoreError::kBusy);
  CHECK(store->DeleteWorkflow(id).error == StoreError::kBusy);
  CHECK(store->MaxEventSeq() == 2);
  // Readers are not blocked by a writer in WAL mode.
  std::vector<LoadedWorkflow> during = LoadAll(store.get());
  REQUIRE(during.size() == 1);
  CheckSame(during[0], before[0]);
  other.Exec("ROLLBACK");

  std::vector<LoadedWorkflow> after = LoadAll(store.get());
  REQUIRE(after.size() == 1);
  CheckSame(after[0], before[0]);
  LoadedWorkflow expected = before[0];
  ChangeBatch retry = MakeBatch(id, 1, 3);
  RequireOk(store->Append(retry));
  Expect(&expected, retry);
  CheckSame(LoadAll(store.get())[0], expected);
  CHECK(store->MaxEventSeq() == 4);
}

TEST_CASE("a batch that fails half-way leaves nothing behind") {
  TempDir dir;
  auto store = OpenStore(dir.File());
  WorkflowId id = Create(store.get(), "alpha", 10);
  RequireOk(store->Append(MakeBatch(id, 0, 1)));
  std::vector<LoadedWorkflow> before = LoadAll(store.get());
  // Job changes, a result, a new event, then an event seq already used.
  ChangeBatch batch = MakeBatch(id, 1, 3);
  batch.events.push_back(MakeEvent(1, id, "duplicate"));
  StoreStatus status = store->Append(batch);
  CHECK(status.error == StoreError::kOther);
  CHECK(status.message.find("recording an event") != std::string::npos);
  CHECK(status.message.find("UNIQUE constraint failed") != std::string::npos);
  CheckSame(LoadAll(store.get())[0], before[0]);
  std::vector<Event> events;
  RequireOk(store->EventsSince(id, 0, 100, &events));
  CHECK(events.size() == 2);
  CHECK(store->MaxEventSeq() == 2);
  RawDb raw(dir.File());
  CHECK(raw.Count("SELECT COUNT(*) FROM job_log") == 1);
  // And the store goes on.
  RequireOk(store->Append(MakeBatch(id, 1, 3)));
}

TEST_CASE("CreateWorkflow stores the first batch in the same transaction, all or nothing") {
  TempDir dir;
  auto store = OpenStore(dir.File());
  WorkflowId first = Create(store.get(), "alpha", 4);
  ChangeBatch batch;
  batch.events.push_back(MakeEvent(1, 0, "workflow_created"));
  batch.actions.push_back({0, ActionStatus::kDue, ""});
  WorkflowId id = 0;
  RequireOk(store->CreateWorkflow(MakeRow("beta", 3), InitialJobs(3), batch, &id));
  CHECK(id > first);
  std::vector<Event> events;
  RequireOk(store->EventsSince(id, 0, 100, &events));
  REQUIRE(events.size() == 1);
  CHECK(events[0].kind == "workflow_created");
  CHECK(LoadAll(store.get())[1].actions.size() == 1);
  CHECK(store->MaxEventSeq() == 1);

  // A first batch that cannot be written (an event seq already used) leaves no workflow.
  RawDb raw(dir.File());
  int64_t rows = raw.Count("SELECT COUNT(*) FROM workflows");
  WorkflowId ignored = 0;
  StoreStatus status = store->CreateWorkflow(MakeRow("gamma", 2), InitialJobs(2), batch, &ignored);
  CHECK(status.error == StoreError::kOther);
  CHECK(status.message.find("UNIQUE constraint failed") != std::string::npos);
  CHECK(raw.Count("SELECT COUNT(*) FROM workflows") == rows);
  CHECK(LoadAll(store.get()).size() == 2);
  // And the store goes on: that batch under another seq is fine.
  batch.events[0].seq = 2;
  RequireOk(store->CreateWorkflow(MakeRow("gamma", 2), InitialJobs(2), batch, &ignored));
  CHECK(LoadAll(store.get()).size() == 3);
}

TEST_CASE("Append refuses unknown workflows and job indexes out of range") {
  TempDir dir;
  auto store = OpenStore(dir.File());
  WorkflowId id = Create(store.get(), "alpha", 3);
  ChangeBatch batch;
  batch.workflow = id;
  batch.jobs.emplace_back(3, JobDynamic{});
  StoreStatus status = store->Append(batch);
  CHECK(status.error == StoreError::kOther);
  CHECK(status.message.find("job index 3 out of range (3 jobs)") != std::string::npos);
  batch.workflow = id + 1;
  batch.jobs[0].first = 0;
  CHECK(store->Append(batch).error == StoreError::kOther);
  CheckSame(LoadAll(store.get())[0], Expected(id, "alpha", 3));
}

TEST_CASE("a file that is not a database is reported, not crashed on") {
  TempDir dir;
  {
    std::ofstream garbage(dir.File());
    for (int i = 0; i < 1000; ++i) garbage << "this is not an SQLite database " << i << "\n";
  }
  StoreStatus status;
  std::unique_ptr<Store> store = Store::Open(dir.File(), StoreOptions{}, &status);
  CHECK(!store);
  CHECK(status.error == StoreError::kCorrupt);
  CHECK(status.message.find(dir.File()) != std::string::npos);
  CHECK(status.message.find("file is not a database") != std::string::npos);
  MESSAGE(status.message);
}

TEST_CASE("a database in a missing directory cannot be opened") {
  TempDir dir;
  StoreStatus status;
  CHECK(!Store::Open(dir.File("no/such/dir.db"), StoreOptions{}, &status));
  CHECK(status.error == StoreError::kOther);
  CHECK(status.message.find("unable to open database file") != std::string::npos);
}

TEST_CASE("a database from a newer torc is refused") {
  TempDir dir;
  OpenStore(dir.File());
  {
    RawDb raw(dir.File());
    raw.Exec("INSERT INTO schema_version(version, applied_at) VALUES(99, 0)");
  }
  StoreStatus status;
  CHECK(!Store::Open(dir.File(), StoreOptions{}, &status));
  CHECK(status.error == StoreError::kOther);
  CHECK(status.message.find("schema version 99") != std::string::npos);
}

TEST_CASE("damaged job states load as kCorrupt") {
  TempDir dir;
  WorkflowId id = Create(OpenStore(dir.File()).get(), "alpha", 4);
  std::string where = " WHERE id = " + std::to_string(id);
  auto load_error = [&](const std::string& sql) {
    {
      RawDb raw(dir.File());
      raw.Exec("DELETE FROM job_log");
      raw.Exec(sql.c_str());
    }
    auto store = OpenStore(dir.File());
    std::vector<LoadedWorkflow> all;
    StoreStatus status = store->LoadAll(&all);
    CHECK(all.empty());
    CHECK(status.error == StoreError::kCorrupt);
    return status.message;
  };
  std::string id_text = std::to_string(id);
  // One change (format 1) to job 4 of a workflow with 4 jobs.
  CHECK(load_error("INSERT INTO job_log(workflow_id, time, payload) VALUES(" + id_text +
                   ", 0, x'01"
                   "04000000"
                   "00"
                   "01000000"
                   "0000"
                   "0000"
                   "0000000000000000')")
            .find("changes job 4 of a workflow with 4 jobs") != std::string::npos);
  CHECK(load_error("INSERT INTO job_log(workflow_id, time, payload) VALUES(" + id_text +
                   ", 0, x'0100010203')")
            .find("not a list of job changes") != std::string::npos);
  CHECK(load_error("INSERT INTO job_log(workflow_id, time, payload) VALUES(" + id_text +
                   ", 0, x'01"
                   "00000000"
                   "63"
                   "01000000"
                   "0000"
                   "0000"
                   "0000000000000000')")
            .find("bad state for job 0: status 99 is not a job status") != std::string::npos);
  CHECK(
      load_error("UPDATE workflows SET checkpoint = x'01'" + where).find("does not hold 4 jobs") !=
      std::string::npos);
}

/// A store holding one workflow of 3 jobs with a checkpoint, a job_log row after it, a
/// result, an event, a worker and an action, closed: `damage` is applied to the file with a
/// raw connection (foreign keys off, as any other tool would have them), then the store is
/// opened and loaded. The failure's message; "" when it opened and loaded.
std::string DamagedStoreError(const TempDir& dir, const std::string& damage,
                              const StoreOptions& options = {}) {
  std::error_code ignored;
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(dir.File() + suffix, ignored);
  {
    auto store = OpenStore(dir.File());
    WorkflowId id = Create(store.get(), "alpha", 3);
    std::vector<JobDynamic> jobs = InitialJobs(3);
    ChangeBatch claimed;  // job_log seq 1, then included in the checkpoint (seq 1)
    claimed.workflow = id;
    jobs[0].status = JobStatus::kClaimed;
    jobs[0].worker = 7;
    claimed.jobs.push_back({0, jobs[0]});
    RequireOk(store->Append(claimed));
    RequireOk(store->Checkpoint(id, jobs));
    ChangeBatch batch;  // job_log seq 2
    batch.workflow = id;
    JobDynamic done = jobs[0];
    done.status = JobStatus::kCompleted;
    batch.jobs.push_back({0, done});
    batch.results.push_back(MakeResult(0, 1, 0));
    batch.events.push_back(MakeEvent(1, id, "retry"));
    batch.workers.push_back(MakeWorker(7, id, 1700009999.0));
    batch.actions.push_back({0, ActionStatus::kDone, "123"});
    RequireOk(store->Append(batch));
  }
  if (!damage.empty()) RawDb(dir.File()).Exec(damage.c_str());
  StoreStatus status;
  auto store = Store::Open(dir.File(), options, &status);
  if (store) {
    std::vector<LoadedWorkflow> all;
    status = store->LoadAll(&all);
    if (!status.ok()) CHECK(all.empty());
  }
  if (status.ok()) return "";
  CHECK(status.error == StoreError::kCorrupt);
  CHECK(status.message.find("the database is damaged, so torc does not start on it") !=
        std::string::npos);
  return status.message;
}

TEST_CASE("every value loaded is range-checked: a bad row is kCorrupt naming table, row, column") {
  TempDir dir;
  REQUIRE(DamagedStoreError(dir, "") == "");
  const std::pair<const char*, const char*> cases[] = {
      // attempts: the job index (-1 and past the end crashed the server; 2^32 became job 0).
      {"UPDATE attempts SET job = -1", "attempts row rowid 1: job is -1, outside 0..2"},
      {"UPDATE attempts SET job = 3", "attempts row rowid 1: job is 3, outside 0..2"},
      {"UPDATE attempts SET job = 4294967296", "job is 4294967296, outside 0..2"},
      {"UPDATE attempts SET job = 'one'", "attempts row rowid 1: job holds text, not an integer"},
      {"UPDATE attempts SET attempt = 4294967297", "attempt is 4294967297, outside 1..4294967295"},
      {"UPDATE attempts SET attempt = 0", "attempt is 0, outside 1..4294967295"},
      {"UPDATE attempts SET status = 9", "status is 9, outside 0..8 (a job status)"},
      {"UPDATE attempts SET exit_code = 4294967296", "exit_code is 4294967296"},
      {"UPDATE attempts SET peak_rss_bytes = -2", "peak_rss_bytes is -2"},
      {"UPDATE attempts SET start_time = 'noon'", "start_time holds text, not a number"},
      {"UPDATE attempts SET workflow_id = 99", "attempts row rowid 1: workflow_id 99: there is no"},
      // workflows: counts, the checkpoint and its seq.
      {"UPDATE workflows SET job_count = 4294967299", "workflows row id 1: job_count is 4294967299"},
      {"UPDATE workflows SET checkpoint_seq = -1", "workflows row id 1: checkpoint_seq is -1"},
      {"UPDATE workflows SET checkpoint_seq = 99", "checkpoint_seq is 99, outside 0..2"},
      {"UPDATE workflows SET checkpoint_seq = 2",
       "job_log row seq 2: the checkpoint of workflow 1 claims to include it (checkpoint_seq 2)"},
      {"UPDATE workflows SET checkpoint = x'01'", "workflows row id 1: checkpoint of 1 bytes"},
      {"UPDATE workflows SET checkpoint = 'text'", "checkpoint holds text, not a blob"},
      {"UPDATE workflows SET parameter_files = '[\"ids.txt\"]'",
       "workflows row id 1: parameter_files is not a JSON object"},
      {"UPDATE workflows SET parameter_files = '{'", "parameter_files is not a JSON object"},
      {"UPDATE job_log SET payload = x'01"
       "00000000"  // job 0
       "00" "00000000" "0000" "0000" "0000000000000000'",  // blocked, attempt 0
       "job_log row seq 2: job log entry: bad state for job 0: attempt 0"},
      // workers and actions.
      {"UPDATE workers SET alive = 2", "workers row id 7: alive is 2, outside 0..1"},
      {"UPDATE workers SET pid = -5", "workers row id 7: pid is -5"},
      {"UPDATE workers SET resources_json = '[1, 2'", "resources_json is not a JSON object"},
      {"UPDATE actions SET status = 4", "actions row workflow_id 1, action 0: status is 4"},
      {"UPDATE actions SET action = -1", "action is -1, outside 0..4294967295"},
      // Rows the loader does not read are checked when the store opens.
      {"UPDATE events SET job = 3", "events row seq 1: job is 3, outside -1..2"},
      {"UPDATE events SET workflow_id = 5", "events row seq 1: workflow 5 does not exist"},
      {"UPDATE events SET attempt = -1", "events row seq 1: attempt is -1"},
      {"INSERT INTO counters VALUES('max_event_seq', 'many')",
       "counters row name max_event_seq: value holds text, not an integer"},
  };
  for (const auto& [damage, expected] : cases) {
    CAPTURE(damage);
    std::string message = DamagedStoreError(dir, damage);
    CAPTURE(message);
    CHECK(message.find(expected) != std::string::npos);
  }
}

TEST_CASE("a database with a damaged page is refused by PRAGMA quick_check when it opens") {
  TempDir dir;
  REQUIRE(DamagedStoreError(dir, "") == "");
  int64_t root = 0, page_size = 0;
  {
    RawDb raw(dir.File());
    raw.Exec("PRAGMA wal_checkpoint(TRUNCATE)");
    root = raw.Count("SELECT rootpage FROM sqlite_schema WHERE name = 'events_by_workflow'");
    page_size = raw.Count("PRAGMA page_size");
  }
  {
    // The index page's type byte: nothing the loader reads, and SQLite's check finds it.
    std::fstream file(dir.File(), std::ios::in | std::ios::out | std::ios::binary);
    file.seekp((root - 1) * page_size);
    file.put(static_cast<char>(0x55));
  }
  StoreStatus status;
  auto store = Store::Open(dir.File(), StoreOptions{}, &status);
  CHECK(!store);
  CHECK(status.error == StoreError::kCorrupt);
  CHECK(status.message.find("quick_check") != std::string::npos);
  CHECK(status.message.find("the database is damaged") != std::string::npos);
}

TEST_CASE("an emptied database file beside the files of an earlier start is refused") {
  TempDir dir;
  StoreOptions options;
  options.history_files = {dir.File("server.port"), dir.File("server.url")};
  // A first start: no history, so the empty file (as SQLite creates it) becomes a store.
  std::ofstream(dir.File()).close();
  StoreStatus status;
  CHECK(Store::Open(dir.File(), options, &status));
  CHECK(status.ok());
  fs::resize_file(dir.File(), 0);
  std::ofstream(dir.File("server.port")) << "8080\n";
  auto store = Store::Open(dir.File(), options, &status);
  CHECK(!store);
  CHECK(status.error == StoreError::kCorrupt);
  CHECK(status.message.find("the database file is empty (0 bytes), but " +
                            dir.File("server.port") + " shows") != std::string::npos);
  CHECK(fs::file_size(dir.File()) == 0);  // nothing written
}

TEST_CASE("SQLite's failures map to store errors") {
  TempDir dir;
  SqliteDb db;
  RequireOk(db.Open(dir.File()));
  RequireOk(db.Exec("CREATE TABLE t (b BLOB); PRAGMA max_page_count = 4", "setting up"));
  // A database that may not grow reports SQLITE_FULL, as a full disk would.
  StoreStatus status = db.Exec("INSERT INTO t VALUES(zeroblob(100000))", "filling");
  CHECK(status.error == StoreError::kFull);
  CHECK(status.message.find("filling: database or disk is full") == 0);
  CHECK(SqliteFailure(nullptr, SQLITE_BUSY, "x").error == StoreError::kBusy);
  CHECK(SqliteFailure(nullptr, SQLITE_LOCKED_SHAREDCACHE, "x").error == StoreError::kBusy);
  CHECK(SqliteFailure(nullptr, SQLITE_CORRUPT, "x").error == StoreError::kCorrupt);
  CHECK(SqliteFailure(nullptr, SQLITE_NOTADB, "x").error == StoreError::kCorrupt);
  CHECK(SqliteFailure(nullptr, SQLITE_CONSTRAINT, "x").error == StoreError::kOther);
}

double ThreadCpuMillis() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) / 1e6;
}

/// How long each of a series of Appends took, in milliseconds, sorted.
struct Timings {
  std::vector<double> wall;
  std::vector<double> cpu;  // this thread's CPU time: the wall time minus waiting for a core
};

std::string Summary(std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  std::ostringstream out;
  out << "min " << ms.front() << ", median " << ms[ms.size() / 2] << ", p90 "
      << ms[ms.size() * 9 / 10] << ", max " << ms.back() << " ms";
  return out.str();
}

/// Appends `rounds` batches of 1000 job changes + 1000 results, `gap` apart.
Timings TimeBigBatches(Store* store, WorkflowId id, uint32_t jobs, int rounds,
                       std::chrono::milliseconds gap, uint32_t* attempt, int64_t* event_seq) {
  Timings timings;
  for (int round = 0; round < rounds; ++round, ++*attempt) {
    ChangeBatch batch;
    batch.workflow = id;
    batch.time = 1700000000.0 + round;
    for (JobIndex j = 0; j < 1000; ++j) {
      JobIndex job = (j * 97 + static_cast<JobIndex>(round)) % jobs;
      batch.jobs.emplace_back(job, JobDynamic{JobStatus::kCompleted, *attempt, 0, 0, 0, -1, -1});
      batch.results.push_back(MakeResult(job, *attempt, 0));
    }
    batch.events.push_back(MakeEvent(++*event_seq, id, "retry"));
    std::this_thread::sleep_for(gap);  // requests arriving apart, as they do in a server
    double cpu_start = ThreadCpuMillis();
    auto start = std::chrono::steady_clock::now();
    RequireOk(store->Append(batch));
    auto end = std::chrono::steady_clock::now();
    timings.cpu.push_back(ThreadCpuMillis() - cpu_start);
    timings.wall.push_back(std::chrono::duration<double, std::milli>(end - start).count());
  }
  return timings;
}

TEST_CASE("a batch of 1000 job changes and 1000 results commits quickly") {
  TempDir dir;
  auto store = OpenStore(dir.File());
  constexpr uint32_t kJobs = 100000;
  WorkflowId id = Create(store.get(), "big", kJobs);
  uint32_t attempt = 1;
  int64_t event_seq = 0;
  // Measured, not asserted: timing depends on the machine and its load.
  for (int gap_ms : {0, 10}) {
    Timings t = TimeBigBatches(store.get(), id, kJobs, 30, std::chrono::milliseconds(gap_ms),
                               &attempt, &event_seq);
    MESSAGE("Append of 1000 job changes + 1000 results, 30 batches "
            << gap_ms << " ms apart: wall " << Summary(t.wall) << "; CPU " << Summary(t.cpu));
  }
  auto start = std::chrono::steady_clock::now();
  std::vector<LoadedWorkflow> all = LoadAll(store.get());
  auto end = std::chrono::steady_clock::now();
  MESSAGE("LoadAll of 100000 jobs, 60 log entries, 60000 attempts: "
          << std::chrono::duration<double, std::milli>(end - start).count() << " ms");
  REQUIRE(all.size() == 1);
  CHECK(all[0].results.size() == 60000);
}

TEST_CASE("the WAL is copied into the database file in the background") {
  TempDir dir;
  auto store = OpenStore(dir.File());
  WorkflowId id = Create(store.get(), "big", 100000);  // a 1.7 MB checkpoint, in the WAL
  uint32_t attempt = 1;
  int64_t event_seq = 0;
  TimeBigBatches(store.get(), id, 100000, 20, std::chrono::milliseconds(0), &attempt,
                 &event_seq);  // well over the 1000 pages that wake the checkpointer
  // Nothing but the checkpointer writes the database file while the store is open.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (fs::file_size(dir.File()) < 2'000'000 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(fs::file_size(dir.File()) >= 2'000'000);
}

TEST_CASE("node_usage and samples: stored with a result, counts loaded, samples read on request") {
  TempDir dir;
  WorkflowId a = 0;
  {
    auto store = OpenStore(dir.File());
    a = Create(store.get(), "alpha", 3);
    ChangeBatch batch;
    batch.workflow = a;
    AttemptResult r = MakeResult(1, 1, 0);
    r.node_usage = R"([{"node":"n1","peak_rss_bytes":300,"cpu_seconds":2.5}])";
    r.samples = 2;
    batch.results.push_back(r);
    batch.samples.push_back({1, 1, 1.0, "[[1.0,95.5,100],[2.0,90,300]]"});
    RequireOk(store->Append(batch));
  }
  auto store = OpenStore(dir.File());
  std::vector<LoadedWorkflow> all = LoadAll(store.get());
  REQUIRE(all.size() == 1);
  REQUIRE(all[0].results.size() == 1);
  CHECK(all[0].results[0].node_usage ==
        R"([{"node":"n1","peak_rss_bytes":300,"cpu_seconds":2.5}])");
  CHECK(all[0].results[0].samples == 2);  // the count, from the samples table
  AttemptSamples s;
  bool found = false;
  RequireOk(store->ReadSamples(a, 1, 1, &s, &found));
  CHECK(found);
  CHECK(s.interval_seconds == 1.0);
  CHECK(s.samples_json == "[[1.0,95.5,100],[2.0,90,300]]");
  RequireOk(store->ReadSamples(a, 2, 1, &s, &found));
  CHECK_FALSE(found);
}

TEST_CASE("a format-2 job log (before the interruption and Slurm budgets) loads, budgets 0") {
  TempDir dir;
  WorkflowId id = Create(OpenStore(dir.File()).get(), "two", 2);
  {
    RawDb raw(dir.File());
    // Job 1 ready at attempt 4 after 1 retry and 2 walltime requeues (worker 0), its memory
    // grown to 1 GiB, runtime the plan's.
    raw.Exec(("INSERT INTO job_log(workflow_id, time, payload) VALUES(" + std::to_string(id) +
              ", 0, x'02" "01000000" "01" "04000000" "0100" "0200" "0000000000000000"
              "0000004000000000" "ffffffffffffffff')").c_str());
  }
  auto store = OpenStore(dir.File());
  std::vector<LoadedWorkflow> all = LoadAll(store.get());
  REQUIRE(all.size() == 1);
  CHECK(all[0].jobs[1] == JobDynamic{JobStatus::kReady, 4, 1, 2, 0, int64_t{1} << 30, -1, 0, 0});
}

TEST_CASE("a store an older torc wrote loads: format-1 job states, attempts without requests") {
  TempDir dir;
  WorkflowId id = Create(OpenStore(dir.File()).get(), "old", 2);
  const std::string where = " WHERE id = " + std::to_string(id);
  {
    // What torc wrote before requests were kept: the schema without the attempts' request
    // columns (version 1: before node_usage and samples too), a checkpoint and a job log in format 1.
    RawDb raw(dir.File());
    raw.Exec("ALTER TABLE workflows DROP COLUMN input_stamps");
    raw.Exec("ALTER TABLE attempts DROP COLUMN memory_request");
    raw.Exec("ALTER TABLE attempts DROP COLUMN runtime_request");
    raw.Exec("ALTER TABLE attempts DROP COLUMN node_usage");
    raw.Exec("DROP TABLE attempt_samples");
    raw.Exec("ALTER TABLE workflows DROP COLUMN parameter_files");
    raw.Exec("DELETE FROM schema_version WHERE version > 1");
    // Job 0 completed at attempt 2 (worker 5), job 1 ready at attempt 1.
    raw.Exec(("UPDATE workflows SET checkpoint = x'01"
              "04" "02000000" "0100" "0000" "0500000000000000"
              "01" "01000000" "0000" "0000" "0000000000000000'" + where).c_str());
    // A later change: job 1 failed at attempt 3 after 2 retries.
    raw.Exec(("INSERT INTO job_log(workflow_id, time, payload) VALUES(" + std::to_string(id) +
              ", 0, x'01" "01000000" "05" "03000000" "0200" "0000" "0000000000000000')").c_str());
    raw.Exec(("INSERT INTO attempts(workflow_id, job, attempt, worker, status, exit_code, signal,"
              " reason, start_time, end_time, peak_rss_bytes, cpu_seconds, nodes) VALUES(" +
              std::to_string(id) + ", 0, 2, 5, 4, 0, 0, '', 1, 2, -1, -1, 'n1')").c_str());
  }
  auto store = OpenStore(dir.File());  // migrates
  std::vector<LoadedWorkflow> all = LoadAll(store.get());
  REQUIRE(all.size() == 1);
  REQUIRE(all[0].jobs.size() == 2);
  CHECK(all[0].jobs[0] == JobDynamic{JobStatus::kCompleted, 2, 1, 0, 5, -1, -1});
  CHECK(all[0].jobs[1] == JobDynamic{JobStatus::kFailed, 3, 2, 0, 0, -1, -1});
  CHECK(all[0].row.parameter_files == "{}");  // no "@file" values before version 4
  REQUIRE(all[0].results.size() == 1);
  CHECK(all[0].results[0].memory_request == -1);
  CHECK(all[0].results[0].runtime_request == -1);
  // What it writes from now on keeps a grown request; a checkpoint too.
  ChangeBatch batch;
  batch.workflow = id;
  batch.jobs.emplace_back(1, JobDynamic{JobStatus::kReady, 4, 0, 0, 0, 200 << 20, 7200});
  RequireOk(store->Append(batch));
  CHECK(LoadAll(store.get())[0].jobs[1] == batch.jobs[0].second);
  std::vector<JobDynamic> jobs = LoadAll(store.get())[0].jobs;
  RequireOk(store->Checkpoint(id, jobs));
  CHECK(LoadAll(OpenStore(dir.File()).get())[0].jobs == jobs);
}

TEST_CASE("input stamps: stored with the workflow, replaced with the update's states, kept across "
          "reopening") {
  TempDir dir;
  WorkflowRow row = MakeRow("stamped", 3);
  row.input_stamps = R"({"data/raw.csv":[10,1700000000123456789]})";
  WorkflowId id = 0;
  {
    auto store = OpenStore(dir.File());
    RequireOk(store->CreateWorkflow(row, InitialJobs(3), &id));
    row.id = id;
    CheckSame(LoadAll(store.get())[0].row, row);
    // An update: a new file and stamps, and job 2 runs again, in one transaction.
    row.spec_text = "name: stamped\n# edited\njobs: []\n";
    row.input_stamps = R"({"data/raw.csv":[11,1700000000999999999]})";
    ChangeBatch batch;
    batch.workflow = id;
    batch.jobs.emplace_back(2, JobDynamic{JobStatus::kBlocked, 2});
    batch.events.push_back({1, id, 5, "rerun", 2, 2, 0, "input file data/raw.csv changed"});
    RequireOk(store->UpdateWorkflow(row, batch));
  }
  auto store = OpenStore(dir.File());  // what a restarted server reads
  std::vector<LoadedWorkflow> all = LoadAll(store.get());
  REQUIRE(all.size() == 1);
  CheckSame(all[0].row, row);
  CHECK(all[0].jobs[2] == JobDynamic{JobStatus::kBlocked, 2});
  std::vector<Event> events;
  RequireOk(store->EventsSince(id, 0, 10, &events));
  REQUIRE(events.size() == 1);
  CHECK(events[0].kind == "rerun");
}

TEST_CASE("UpdateWorkflow refuses other jobs, and then writes nothing") {
  TempDir dir;
  auto store = OpenStore(dir.File());
  WorkflowId id = Create(store.get(), "fixed", 3);
  WorkflowRow row = MakeRow("fixed", 3);
  row.id = id;
  row.names_digest = "sha256:other";
  row.input_stamps = R"({"a":[1,2]})";
  ChangeBatch batch;
  batch.workflow = id;
  batch.jobs.emplace_back(0, JobDynamic{JobStatus::kBlocked, 2});
  StoreStatus status = store->UpdateWorkflow(row, batch);
  CHECK_FALSE(status.ok());
  CHECK(status.message.find("other jobs") != std::string::npos);
  std::vector<LoadedWorkflow> all = LoadAll(store.get());
  CHECK(all[0].row.input_stamps == "{}");
  CHECK(all[0].jobs[0] == InitialJobs(3)[0]);
  row.id = id + 100;
  CHECK_FALSE(store->UpdateWorkflow(row, batch).ok());
}
