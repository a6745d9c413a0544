// Thin RAII wrappers over the sqlite3 C API, used by the store: a connection,
// a prepared statement and a transaction, with SQLite's result codes turned
// into StoreStatus values. Private to the store (and its tests).
#pragma once

#include <sqlite3.h>

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "server/store/store.h"

namespace torc::server {

/// Turns the failure `rc` on `db` into a StoreStatus: busy/locked -> kBusy,
/// full (or an I/O error from a full disk) -> kFull, corrupt/not a database ->
/// kCorrupt, anything else -> kOther. The message reads "<doing>: <sqlite's words>".
StoreStatus SqliteFailure(sqlite3* db, int rc, std::string_view doing);

/// Prefixes a failed status's message with `context` ("<context>: <message>").
StoreStatus WithContext(StoreStatus status, std::string_view context);

/// One open database connection, closed on destruction. Not thread-safe: one
/// thread at a time.
class SqliteDb {
 public:
  SqliteDb() = default;
  ~SqliteDb();
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;

  /// Opens (creating if needed) the database file at `path`, with extended
  /// result codes on. SQLite reads the file lazily: a file that is not a
  /// database is only noticed by the first statement that reads it.
  StoreStatus Open(const std::string& path);
  /// Runs `sql` (one or more statements, rows ignored).
  StoreStatus Exec(const char* sql, std::string_view doing);
  sqlite3* get() const { return db_; }

 private:
  sqlite3* db_ = nullptr;
};

/// A prepared statement, compiled once and reused. Bind parameters, then
/// Step() through rows and Reset(), or Run() a statement whose rows (if any)
/// do not matter. Text and blobs are bound without copying: they must stay
/// alive until the statement is reset.
class SqliteStatement {
 public:
  SqliteStatement() = default;
  ~SqliteStatement() { sqlite3_finalize(stmt_); }
  SqliteStatement(const SqliteStatement&) = delete;
  SqliteStatement& operator=(const SqliteStatement&) = delete;

  StoreStatus Prepare(sqlite3* db, const char* sql);

  // Parameters are numbered from 1. A failed bind (only possible for values
  // over SQLite's size limit) leaves NULL, which the NOT NULL columns refuse
  // when the statement runs, so it is reported there.
  void BindInt(int i, int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  void BindDouble(int i, double v) { sqlite3_bind_double(stmt_, i, v); }
  void BindText(int i, std::string_view v) {
    sqlite3_bind_text64(stmt_, i, v.data(), v.size(), SQLITE_STATIC, SQLITE_UTF8);
  }
  void BindBlob(int i, std::string_view v) {
    sqlite3_bind_blob64(stmt_, i, v.data(), v.size(), SQLITE_STATIC);
  }

  /// Advances one row: true when a row is available, false at the end or on
  /// failure (then *status says why).
  bool Step(StoreStatus* status, std::string_view doing);
  /// Steps to the end and resets.
  StoreStatus Run(std::string_view doing);
  /// Makes the statement ready to be bound and stepped again.
  void Reset();

  /// SQLITE_INTEGER, SQLITE_FLOAT, SQLITE_TEXT, SQLITE_BLOB or SQLITE_NULL: a column's
  /// declared type does not bind what a row holds.
  int ColumnType(int col) const { return sqlite3_column_type(stmt_, col); }
  int64_t ColumnInt(int col) const { return sqlite3_column_int64(stmt_, col); }
  double ColumnDouble(int col) const { return sqlite3_column_double(stmt_, col); }
  std::string ColumnText(int col) const;
  /// Valid until the next Step() or Reset().
  std::string_view ColumnBlob(int col) const;

  sqlite3* db() const { return db_; }

 private:
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
};

/// The statements that begin and end transactions on one connection.
struct SqliteTransactionStatements {
  SqliteStatement begin_read;   // BEGIN (deferred): a consistent snapshot
  SqliteStatement begin_write;  // BEGIN IMMEDIATE: takes the write lock up front
  SqliteStatement commit;
  SqliteStatement rollback;
  StoreStatus Prepare(sqlite3* db);
};

/// One transaction: rolled back on destruction unless Commit() succeeded.
class SqliteTransaction {
 public:
  explicit SqliteTransaction(SqliteTransactionStatements* statements) : statements_(statements) {}
  ~SqliteTransaction();
  SqliteTransaction(const SqliteTransaction&) = delete;
  SqliteTransaction& operator=(const SqliteTransaction&) = delete;

  /// A write transaction takes the write lock now, so a lock held by another
  /// connection is reported here (kBusy, after the busy timeout), before
  /// anything has been written.
  StoreStatus BeginWrite();
  StoreStatus BeginRead();
  StoreStatus Commit();

 private:
  SqliteTransactionStatements* statements_;
  bool open_ = false;
};

/// Copies the write-ahead log back into the database file on a thread and
/// connection of its own. SQLite's automatic checkpoint would otherwise run
/// inside whichever commit crosses the threshold and make that one commit
/// slow (copying every page written since the last one, plus fsyncs). Replaces
/// the auto-checkpoint of the connection it watches.
class SqliteWalCheckpointer {
 public:
  SqliteWalCheckpointer() = default;
  ~SqliteWalCheckpointer();
  SqliteWalCheckpointer(const SqliteWalCheckpointer&) = delete;
  SqliteWalCheckpointer& operator=(const SqliteWalCheckpointer&) = delete;

  /// Opens a second connection to `path` and starts the thread; from then on
  /// each commit on `watched` that leaves the WAL at `pages` pages or more
  /// wakes it. `watched` must outlive this object.
  StoreStatus Start(sqlite3* watched, const std::string& path, int busy_timeout_ms, int pages);

 private:
  static int OnCommit(void* self, sqlite3* db, const char* name, int pages);
  void Run();

  sqlite3* watched_ = nullptr;
  SqliteDb db_;  // used by the thread only
  int pages_ = 0;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool requested_ = false;  // guarded by mutex_
  bool stopping_ = false;   // guarded by mutex_
  std::thread thread_;
};

}  // namespace torc::server
