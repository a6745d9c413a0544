#include "server/store/sqlite.h"

#include <cerrno>
#include <cstring>

namespace torc::server {

StoreStatus SqliteFailure(sqlite3* db, int rc, std::string_view doing) {
  StoreStatus status;
  switch (rc & 0xff) {  // the primary code; extended codes are on
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      status.error = StoreError::kBusy;
      break;
    case SQLITE_FULL:
      status.error = StoreError::kFull;
      break;
    case SQLITE_IOERR: {
      // A write that fails for lack of space surfaces as an I/O error: a
      // user's disk quota (EDQUOT) or a file size limit (EFBIG, ulimit -f)
      // pass when space returns, like a full disk. SQLite does not always keep
      // the errno of a failed write, so every failed write counts: the
      // transaction was rolled back, nothing changed, and a retry may succeed.
      int err = db ? sqlite3_system_errno(db) : 0;
      status.error = err == ENOSPC || err == EDQUOT || err == EFBIG || rc == SQLITE_IOERR_WRITE
                         ? StoreError::kFull
                         : StoreError::kOther;
      break;
    }
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      status.error = StoreError::kCorrupt;
      break;
    default:
      status.error = StoreError::kOther;
      break;
  }
  // The connection's message is the most specific; without one, the code's.
  const char* what = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  status.message = std::string(doing) + ": " + what;
  if ((rc & 0xff) == SQLITE_IOERR && db && sqlite3_system_errno(db) != 0)
    status.message.append(" (").append(std::strerror(sqlite3_system_errno(db))).append(")");
  return status;
}

StoreStatus WithContext(StoreStatus status, std::string_view context) {
  if (!status.ok()) status.message = std::string(context) + ": " + status.message;
  return status;
}

SqliteDb::~SqliteDb() { sqlite3_close_v2(db_); }

StoreStatus SqliteDb::Open(const std::string& path) {
  // NOMUTEX: a Store is used by one thread at a time, so SQLite's own
  // per-call locking would be pure overhead.
  int rc =
      sqlite3_open_v2(path.c_str(), &db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    StoreStatus status = SqliteFailure(db_, rc, "opening the database file");
    sqlite3_close_v2(db_);
    db_ = nullptr;
    return status;
  }
  sqlite3_extended_result_codes(db_, 1);
  return StoreStatus::Ok();
}

StoreStatus SqliteDb::Exec(const char* sql, std::string_view doing) {
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return SqliteFailure(db_, rc, doing);
  return StoreStatus::Ok();
}

StoreStatus SqliteStatement::Prepare(sqlite3* db, const char* sql) {
  db_ = db;
  sqlite3_finalize(stmt_);
  stmt_ = nullptr;
  int rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr);
  if (rc != SQLITE_OK) return SqliteFailure(db, rc, std::string("preparing \"") + sql + "\"");
  return StoreStatus::Ok();
}

bool SqliteStatement::Step(StoreStatus* status, std::string_view doing) {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc != SQLITE_DONE) *status = SqliteFailure(db_, rc, doing);
  return false;
}

StoreStatus SqliteStatement::Run(std::string_view doing) {
  StoreStatus status;
  while (Step(&status, doing)) {
  }
  Reset();
  return status;
}

void SqliteStatement::Reset() {
  if (!stmt_) return;  // never prepared (a failure came first)
  // reset's return value repeats the last step's error, already reported.
  sqlite3_reset(stmt_);
  // Bound text and blobs point into the caller's memory; forget them.
  sqlite3_clear_bindings(stmt_);
}

std::string SqliteStatement::ColumnText(int col) const {
  const unsigned char* text = sqlite3_column_text(stmt_, col);
  if (!text) return {};
  return std::string(reinterpret_cast<const char*>(text),
                     static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
}

std::string_view SqliteStatement::ColumnBlob(int col) const {
  const void* data = sqlite3_column_blob(stmt_, col);
  if (!data) return {};
  return std::string_view(static_cast<const char*>(data),
                          static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
}

StoreStatus SqliteTransactionStatements::Prepare(sqlite3* db) {
  StoreStatus status = begin_read.Prepare(db, "BEGIN");
  if (status.ok()) status = begin_write.Prepare(db, "BEGIN IMMEDIATE");
  if (status.ok()) status = commit.Prepare(db, "COMMIT");
  if (status.ok()) status = rollback.Prepare(db, "ROLLBACK");
  return status;
}

SqliteTransaction::~SqliteTransaction() {
  // Some errors (a full disk, an I/O error) make SQLite roll back by itself;
  // only roll back a transaction that is still open.
  if (open_ && !sqlite3_get_autocommit(statements_->rollback.db())) {
    (void)statements_->rollback.Run("rolling back");
  }
}

StoreStatus SqliteTransaction::BeginWrite() {
  StoreStatus status = statements_->begin_write.Run("beginning a write transaction");
  open_ = status.ok();
  return status;
}

StoreStatus SqliteTransaction::BeginRead() {
  StoreStatus status = statements_->begin_read.Run("beginning a read transaction");
  open_ = status.ok();
  return status;
}

StoreStatus SqliteTransaction::Commit() {
  StoreStatus status = statements_->commit.Run("committing");
  if (status.ok()) open_ = false;
  return status;
}

SqliteWalCheckpointer::~SqliteWalCheckpointer() {
  if (!thread_.joinable()) return;
  sqlite3_wal_hook(watched_, nullptr, nullptr);
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

StoreStatus SqliteWalCheckpointer::Start(sqlite3* watched, const std::string& path,
                                         int busy_timeout_ms, int pages) {
  StoreStatus status = db_.Open(path);
  if (!status.ok()) return WithContext(status, "starting the WAL checkpointer");
  sqlite3_busy_timeout(db_.get(), busy_timeout_ms);
  // A connection learns that the database is in WAL mode by reading it;
  // until then a checkpoint on it succeeds without doing anything.
  status = db_.Exec("SELECT COUNT(*) FROM sqlite_schema", "starting the WAL checkpointer");
  if (!status.ok()) return status;
  watched_ = watched;
  pages_ = pages;
  thread_ = std::thread(&SqliteWalCheckpointer::Run, this);
  sqlite3_wal_hook(watched, &SqliteWalCheckpointer::OnCommit, this);
  return status;
}

int SqliteWalCheckpointer::OnCommit(void* self, sqlite3*, const char*, int pages) {
  auto* checkpointer = static_cast<SqliteWalCheckpointer*>(self);
  if (pages >= checkpointer->pages_) {
    {
      std::lock_guard lock(checkpointer->mutex_);
      checkpointer->requested_ = true;
    }
    checkpointer->wake_.notify_one();
  }
  return SQLITE_OK;
}

void SqliteWalCheckpointer::Run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return requested_ || stopping_; });
    if (stopping_) return;
    requested_ = false;
    lock.unlock();
    // PASSIVE: copies what it can without waiting on (or blocking) the
    // writer. A checkpoint that does not finish is retried on the next wake;
    // until then the WAL just grows, which costs disk, not correctness.
    sqlite3_wal_checkpoint_v2(db_.get(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    lock.lock();
  }
}

}  // namespace torc::server
