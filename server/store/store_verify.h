// How the store refuses damage in what it reads back: every value of a row is
// checked against its column's type and range as it is read (RowReader), and
// when the database opens, SQLite's own structural check runs and the rows the
// loader never reads (events, counters) are checked the same way. Private to
// the store (server/store*.cc); docs/reliability.md says what a refusal means.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "server/model/model.h"
#include "server/store/sqlite.h"
#include "server/store/store.h"

namespace torc::server {

/// Reads the columns of the current row of a statement, checking each value's
/// type and range. The first bad value becomes a kCorrupt status naming the
/// table, the row (by its key) and the column; getters return a harmless default
/// after that. Builds no string while the values are good.
class RowReader {
 public:
  /// The row is named by the column `key_col` (`key` says what it is: "rowid",
  /// "id", "seq") and, when `key2` is given, also by `key2_col`.
  RowReader(const SqliteStatement& s, const char* table, const char* key, int key_col,
            const char* key2 = nullptr, int key2_col = -1)
      : s_(s), table_(table), key_(key), key2_(key2), key_col_(key_col), key2_col_(key2_col) {}

  /// An integer in [lo, hi]; `range` (optional) says what bounds it, for the message.
  int64_t Int(int col, const char* name, int64_t lo, int64_t hi, std::string_view range = {});
  /// A finite number (an integer is taken as one).
  double Real(int col, const char* name);
  std::string Text(int col, const char* name);
  /// Valid until the statement steps again.
  std::string_view Blob(int col, const char* name);
  /// Records a failure of the row as a whole (a value another table contradicts).
  void Fail(std::string_view what);

  bool ok() const { return status_.ok(); }
  const StoreStatus& status() const { return status_; }

 private:
  /// True when column `col` holds a value of type `type`; records the failure if not.
  bool HasType(int col, const char* name, int type, const char* type_name);
  /// "attempts row rowid 5", "actions row workflow_id 2, action 1".
  std::string Where() const;

  const SqliteStatement& s_;
  const char* table_;
  const char* key_;
  const char* key2_;
  int key_col_, key2_col_;
  StoreStatus status_;
};

/// Reads one events row (seq, time, kind, job, attempt, worker, detail at
/// columns 0..6, workflow_id at `workflow_col`) into *e, checked; job_counts
/// holds the job count of every stored workflow.
void ReadEventRow(RowReader* row, int workflow_col,
                  const std::unordered_map<WorkflowId, uint32_t>& job_counts, Event* e);

/// Runs `PRAGMA quick_check`: the b-trees, pages and free list are sound.
/// kCorrupt with SQLite's first findings when not.
StoreStatus QuickCheck(SqliteDb* db);

/// Checks every row of the tables the loader does not read at start: events
/// (against the workflows' job counts) and counters.
StoreStatus CheckUnloadedRows(SqliteDb* db,
                              const std::unordered_map<WorkflowId, uint32_t>& job_counts);

}  // namespace torc::server
