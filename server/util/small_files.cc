#include "server/util/small_files.h"

#include <fcntl.h>
#include <libgen.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace torc::util {
namespace {

/// "a directory", "a FIFO (named pipe)", ... for a file that is not a regular one.
const char* KindOf(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

/// "4 KiB", "64 MiB", else "N bytes".
std::string Size(int64_t bytes) {
  if (bytes >= (1 << 20) && bytes % (1 << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
  if (bytes >= 1024 && bytes % 1024 == 0) return std::to_string(bytes >> 10) + " KiB";
  return std::to_string(bytes) + " bytes";
}

bool WriteAll(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

/// Writes `text` to a new temporary file beside `path` (mode `mode`, fsync'ed); its name in
/// *tmp. Nothing is left behind when it fails.
bool WriteTemporary(const std::string& path, const std::string& text, mode_t mode, std::string* tmp,
                    std::string* error) {
  *tmp = path + ".tmp.XXXXXX";
  int fd = mkostemp(tmp->data(), O_CLOEXEC);
  if (fd < 0) {
    *error = "cannot write " + path +
             ": cannot create a temporary file beside it: " + std::strerror(errno);
    return false;
  }
  bool ok = fchmod(fd, mode) == 0 && WriteAll(fd, text) && fsync(fd) == 0;
  int saved = errno;
  if (close(fd) != 0 && ok) {
    ok = false;
    saved = errno;
  }
  if (!ok) {
    unlink(tmp->c_str());
    *error = "cannot write " + path + ": " + std::strerror(saved);
  }
  return ok;
}

/// Makes a rename or link in the directory of `path` durable (best effort: some file systems
/// cannot fsync a directory).
void SyncDirectoryOf(const std::string& path) {
  std::string copy = path;
  int fd = open(dirname(copy.data()), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  fsync(fd);
  close(fd);
}

}  // namespace

bool ReadSmallFile(const std::string& path, int64_t limit, const std::string& what,
                   std::string* text, std::string* error, mode_t* mode) {
  const std::string prefix = "cannot read the " + what + " file " + path + ": ";
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    int saved = errno;
    struct stat st {};
    if (stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode))  // e.g. a socket (ENXIO)
      *error = prefix + "it is " + KindOf(st.st_mode) + ", not a regular file";
    else
      *error = prefix + std::strerror(saved);
    return false;
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    *error = prefix + "it is " + KindOf(st.st_mode) + ", not a regular file";
    close(fd);
    return false;
  }
  if (mode) *mode = st.st_mode;
  const std::string too_large =
      prefix + "it holds more than " + Size(limit) + ", the limit for a " + what + " file";
  if (st.st_size > limit) {
    *error = too_large;
    close(fd);
    return false;
  }
  text->clear();
  char buf[65536];
  while (true) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *error = prefix + std::strerror(errno);
      close(fd);
      return false;
    }
    if (n == 0) break;
    if (static_cast<int64_t>(text->size()) + n > limit) {  // it grew while being read
      *error = too_large;
      close(fd);
      return false;
    }
    text->append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return true;
}

bool WriteFileAtomically(const std::string& path, const std::string& text, mode_t mode,
                         std::string* error) {
  std::string tmp;
  if (!WriteTemporary(path, text, mode, &tmp, error)) return false;
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    *error = "cannot write " + path + ": " + std::strerror(errno);
    unlink(tmp.c_str());
    return false;
  }
  // No fsync of the directory (slow on some file systems, and on the server's way to ready):
  // after a crash the old file or the new one is there, each whole.
  return true;
}

bool CreateFileAtomically(const std::string& path, const std::string& text, mode_t mode,
                          bool* exists, std::string* error) {
  *exists = false;
  std::string tmp;
  if (!WriteTemporary(path, text, mode, &tmp, error)) return false;
  int rc = link(tmp.c_str(), path.c_str());
  int saved = errno;
  if (rc != 0 && (saved == EPERM || saved == EOPNOTSUPP || saved == ENOSYS)) {
    // A file system without hard links: rename, after checking nothing is there (a race with
    // another writer is then possible, but not a partial file).
    struct stat st {};
    if (lstat(path.c_str(), &st) == 0) {
      saved = EEXIST;
    } else {
      rc = rename(tmp.c_str(), path.c_str());
      saved = errno;
    }
  }
  unlink(tmp.c_str());  // after link(): the name stays; after rename(): already gone
  if (rc != 0) {
    *exists = saved == EEXIST;
    *error = "cannot write " + path + ": " + std::strerror(saved);
    return false;
  }
  SyncDirectoryOf(path);
  return true;
}

RetryingFileWriter::RetryingFileWriter(Files files, std::chrono::milliseconds retry,
                                       std::function<void(const std::string&)> log, WriteFn write)
    : pending_(std::move(files)), retry_(retry), log_(std::move(log)), write_(std::move(write)) {
  if (!write_)
    write_ = [](const std::string& path, const std::string& text, std::string* error) {
      return WriteFileAtomically(path, text, 0600, error);
    };
  if (!WritePending(true)) thread_ = std::thread([this] { RetryLoop(); });
}

RetryingFileWriter::~RetryingFileWriter() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool RetryingFileWriter::done() {
  std::lock_guard lock(mutex_);
  return pending_.empty();
}

bool RetryingFileWriter::WritePending(bool first) {
  std::lock_guard lock(mutex_);
  Files left;
  for (auto& [path, text] : pending_) {
    std::string error;
    if (write_(path, text, &error)) {
      if (!first)
        log_("wrote " + path + " after " + std::to_string(failures_) + " failed attempt(s)");
      continue;
    }
    if (first) {
      char every[32];
      std::snprintf(every, sizeof every, "%g s", static_cast<double>(retry_.count()) / 1000);
      log_(error + "; clients that read it find its old contents (or none); trying again every " +
           every);
    }
    left.emplace_back(std::move(path), std::move(text));
  }
  if (!left.empty()) ++failures_;
  pending_ = std::move(left);
  return pending_.empty();
}

void RetryingFileWriter::RetryLoop() {
  std::unique_lock lock(mutex_);
  while (!stop_) {
    wake_.wait_for(lock, retry_, [this] { return stop_; });
    if (stop_) break;
    lock.unlock();
    bool finished = WritePending(false);
    lock.lock();
    if (finished) break;
  }
}

}  // namespace torc::util
