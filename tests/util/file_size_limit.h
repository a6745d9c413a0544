// A file size limit for the time of a test (as `ulimit -f`): write() past it fails with EFBIG,
// as writes on a full disk fail with ENOSPC, without needing a full disk.
#pragma once

#include <signal.h>
#include <sys/resource.h>

namespace torc::testing {

/// While it lives, files may not grow past `bytes` (SIGXFSZ ignored, so a write fails instead
/// of killing the process, as `torc server run` does).
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    getrlimit(RLIMIT_FSIZE, &before_);
    old_handler_ = signal(SIGXFSZ, SIG_IGN);
    rlimit limited = before_;
    limited.rlim_cur = bytes;
    setrlimit(RLIMIT_FSIZE, &limited);
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &before_);
    signal(SIGXFSZ, old_handler_);
  }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;

 private:
  rlimit before_{};
  sighandler_t old_handler_ = SIG_DFL;
};

}  // namespace torc::testing
