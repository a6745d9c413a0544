// The store's SQLite schema and its migrations. Private to the store
// (server/store*.cc).
#pragma once

#include "server/store/sqlite.h"
#include "server/store/store.h"

namespace torc::server {

/// Brings the database on `db` to the schema version this torc knows, in one
/// write transaction begun through `transactions`: creates the schema_version
/// table if needed, then applies and records each missing migration in order.
/// kOther when the database has a newer version than this torc knows.
StoreStatus MigrateSchema(SqliteDb* db, SqliteTransactionStatements* transactions);

}  // namespace torc::server
