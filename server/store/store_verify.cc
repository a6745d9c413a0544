// Checks of what the store reads back; see server/store/store_verify.h.

#include "server/store/store_verify.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace torc::server {

const char* const kDamagedStoreAdvice =
    "the database is damaged, so torc does not start on it (nothing was changed). To recover, "
    "with no server running: keep a copy of the data directory, then put back a backup of "
    "torc.db, or move torc.db, torc.db-wal and torc.db-shm aside to start with an empty store "
    "(docs/reliability.md, \"A damaged store\")";

namespace {

constexpr int64_t kMaxInt64 = std::numeric_limits<int64_t>::max();
constexpr int64_t kMaxUint32 = std::numeric_limits<uint32_t>::max();

const char* TypeName(int type) {
  switch (type) {
    case SQLITE_INTEGER:
      return "an integer";
    case SQLITE_FLOAT:
      return "a real number";
    case SQLITE_TEXT:
      return "text";
    case SQLITE_BLOB:
      return "a blob";
    default:
      return "NULL";
  }
}

}  // namespace

std::string RowReader::Where() const {
  std::string where = std::string(table_) + " row " + key_ + " " + s_.ColumnText(key_col_);
  if (key2_) where += std::string(", ") + key2_ + " " + s_.ColumnText(key2_col_);
  return where;
}

void RowReader::Fail(std::string_view what) {
  if (ok()) status_ = {StoreError::kCorrupt, Where() + ": " + std::string(what)};
}

bool RowReader::HasType(int col, const char* name, int type, const char* type_name) {
  if (!ok()) return false;
  int actual = s_.ColumnType(col);
  if (actual == type || (type == SQLITE_FLOAT && actual == SQLITE_INTEGER)) return true;
  Fail(std::string(name) + " holds " + TypeName(actual) + ", not " + type_name);
  return false;
}

int64_t RowReader::Int(int col, const char* name, int64_t lo, int64_t hi, std::string_view range) {
  if (!HasType(col, name, SQLITE_INTEGER, "an integer")) return lo;
  int64_t v = s_.ColumnInt(col);
  if (v >= lo && v <= hi) return v;
  std::string what = std::string(name) + " is " + std::to_string(v) + ", outside " +
                     std::to_string(lo) + ".." + std::to_string(hi);
  if (!range.empty()) what.append(" (").append(range).append(")");
  Fail(what);
  return lo;
}

double RowReader::Real(int col, const char* name) {
  if (!HasType(col, name, SQLITE_FLOAT, "a number")) return 0;
  double v = s_.ColumnDouble(col);
  if (std::isfinite(v)) return v;
  Fail(std::string(name) + " is " + std::to_string(v) + ", not a finite number");
  return 0;
}

std::string RowReader::Text(int col, const char* name) {
  if (!HasType(col, name, SQLITE_TEXT, "text")) return {};
  return s_.ColumnText(col);
}

std::string_view RowReader::Blob(int col, const char* name) {
  if (!HasType(col, name, SQLITE_BLOB, "a blob")) return {};
  return s_.ColumnBlob(col);
}

void ReadEventRow(RowReader* row, int workflow_col,
                  const std::unordered_map<WorkflowId, uint32_t>& job_counts, Event* e) {
  e->seq = row->Int(0, "seq", 1, kMaxInt64);
  e->workflow = row->Int(workflow_col, "workflow_id", 1, kMaxInt64);
  auto it = job_counts.find(e->workflow);
  if (row->ok() && it == job_counts.end()) {
    row->Fail("workflow " + std::to_string(e->workflow) + " does not exist");
    return;
  }
  e->time = row->Real(1, "time");
  e->kind = row->Text(2, "kind");
  if (row->ok()) {
    // -1: an event about no job in particular.
    e->job =
        row->Int(3, "job", -1, int64_t{it->second} - 1,
                 "-1 or a job index of a workflow with " + std::to_string(it->second) + " jobs");
  }
  e->attempt = static_cast<uint32_t>(row->Int(4, "attempt", 0, kMaxUint32));
  e->worker = row->Int(5, "worker", 0, kMaxInt64);
  e->detail = row->Text(6, "detail");
}

StoreStatus QuickCheck(SqliteDb* db) {
  // quick_check reads every page once (O(size), no index-against-table
  // comparison): docs/reliability.md gives its time on a large store.
  SqliteStatement check;
  StoreStatus status = check.Prepare(db->get(), "PRAGMA quick_check(5)");
  std::string findings;
  while (status.ok() && check.Step(&status, "checking the database (PRAGMA quick_check)")) {
    // One row per finding; a row may hold several lines, and a header names the database.
    std::string text = check.ColumnText(0);
    for (size_t at = 0; at <= text.size();) {
      size_t end = std::min(text.find('\n', at), text.size());
      std::string line = text.substr(at, end - at);
      at = end + 1;
      if (line.empty() || line == "ok" || line.rfind("*** in database", 0) == 0) continue;
      findings += (findings.empty() ? "" : "; ") + line;
    }
  }
  check.Reset();
  if (!status.ok()) return status;
  if (findings.empty()) return StoreStatus::Ok();
  return {StoreError::kCorrupt, "PRAGMA quick_check found damage: " + findings};
}

StoreStatus CheckUnloadedRows(SqliteDb* db,
                              const std::unordered_map<WorkflowId, uint32_t>& job_counts) {
  SqliteStatement events;
  StoreStatus status = events.Prepare(
      db->get(), "SELECT seq, time, kind, job, attempt, worker, detail, workflow_id FROM events");
  Event e;
  while (status.ok() && events.Step(&status, "checking the events")) {
    RowReader row(events, "events", "seq", 0);
    ReadEventRow(&row, 7, job_counts, &e);
    status = row.status();
  }
  events.Reset();
  SqliteStatement counters;
  if (status.ok()) status = counters.Prepare(db->get(), "SELECT name, value FROM counters");
  while (status.ok() && counters.Step(&status, "checking the counters")) {
    RowReader row(counters, "counters", "name", 0);
    row.Text(0, "name");
    row.Int(1, "value", 0, kMaxInt64);
    status = row.status();
  }
  counters.Reset();
  return status;
}

}  // namespace torc::server
