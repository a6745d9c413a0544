// Reading and writing the small files torc keeps or is given (workflow files, the token,
// server.url, the users file): every read is bounded and refuses what is not a regular file,
// every write replaces the old file whole or not at all.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace torc::util {

/// Reads the regular file at `path` whole into *text. False with *error ("cannot read the
/// WHAT file PATH: ...") when it cannot be opened, is not a regular file (a directory, FIFO,
/// device or socket; it is opened without blocking, so a FIFO cannot hang the caller), or holds
/// more than `limit` bytes, counted as it is read (a file that grows while it is read is caught
/// too). `*mode`, when given, receives the file's st_mode (from the same open file).
bool ReadSmallFile(const std::string& path, int64_t limit, const std::string& what,
                   std::string* text, std::string* error, mode_t* mode = nullptr);

/// Writes `text` to `path` with mode `mode` so that a reader finds the old file or the new one
/// whole, never a part or nothing: a temporary file in the same directory is written, fsync'ed
/// and renamed over `path`. When anything fails (a full disk) `path` is left as it was, the
/// temporary file is removed, and *error says why.
bool WriteFileAtomically(const std::string& path, const std::string& text, mode_t mode,
                         std::string* error);

/// Like WriteFileAtomically, but only when `path` does not exist (link() instead of rename():
/// of two writers racing, one wins and the other's file is discarded). False with *exists set
/// when another file was there first.
bool CreateFileAtomically(const std::string& path, const std::string& text, mode_t mode,
                          bool* exists, std::string* error);

/// Files a server must leave for its clients (server.url, server.port). Writes them at once;
/// the ones that cannot be written (a full disk) are tried again every `retry` on a thread of
/// its own until they are written or this is destroyed. Every failure to write a file the first
/// time, and the write that finally succeeds, is reported through `log`.
class RetryingFileWriter {
 public:
  /// How one file is written (WriteFileAtomically with mode 0600 by default; tests fail it).
  using WriteFn =
      std::function<bool(const std::string& path, const std::string& text, std::string* error)>;
  /// (path, contents) pairs, written in this order.
  using Files = std::vector<std::pair<std::string, std::string>>;

  RetryingFileWriter(Files files, std::chrono::milliseconds retry,
                     std::function<void(const std::string&)> log, WriteFn write = nullptr);
  ~RetryingFileWriter();
  RetryingFileWriter(const RetryingFileWriter&) = delete;
  RetryingFileWriter& operator=(const RetryingFileWriter&) = delete;

  /// Whether every file has been written.
  bool done();

 private:
  /// Writes what is still pending; true when nothing is left.
  bool WritePending(bool first);
  void RetryLoop();

  Files pending_;
  std::chrono::milliseconds retry_;
  std::function<void(const std::string&)> log_;
  WriteFn write_;
  int failures_ = 0;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace torc::util
