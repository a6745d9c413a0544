// The users of a multi-user server (`torc server run --multi-user`, see
// docs/security.md): <data-dir>/users holds one "name sha256-of-token" line
// per user (mode 0600); `torc server add-user NAME` writes it and the user's
// token file. The server never stores a user's token, only its digest.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace torc::server {

/// The largest users file read (about 130 bytes a user: some 120,000 users).
inline constexpr int64_t kMaxUsersFileBytes = 16 << 20;

/// A user name: 1 to 64 of [A-Za-z0-9._-], not starting with '-' or '.'.
bool ValidUserName(const std::string& name);

/// The SHA-256 of a token, as 64 lowercase hex digits.
std::string TokenDigest(const std::string& token);

/// The users file of a multi-user server, re-read when it changes (so
/// `torc server add-user` needs no restart). Thread-safe.
class UserDirectory {
 public:
  explicit UserDirectory(std::string path) : path_(std::move(path)) {}

  /// The user whose token `token` is, or "" when none is. Compares against
  /// every user's digest in constant time (no early exit).
  std::string Find(const std::string& token);

  /// Reads the file now; false with *error when it is missing, readable by
  /// group or others, or malformed.
  bool Load(std::string* error);

 private:
  std::mutex mutex_;
  std::string path_;
  struct timespec ctime_ {};  // st_ctim: changes with the contents and with chmod
  off_t size_ = -1;
  ino_t inode_ = 0;
  std::vector<std::pair<std::string, std::string>> users_;  // name, digest
};

/// Adds the user `name` to dir/users (or gives them a new token, which makes
/// the old one invalid), and writes the token to `token_file` (mode 0600;
/// owned by that Unix user when run as root and one by that name exists).
bool AddUser(const std::string& dir, const std::string& name, const std::string& token_file,
             std::string* error);

}  // namespace torc::server
