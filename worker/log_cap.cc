#include "worker/log_cap.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace torc::worker {

std::string TruncationMarker(int64_t max_bytes) {
  return "\n[torc: output truncated: this file reached the limit of " + std::to_string(max_bytes) +
         " bytes (torc worker run --max-log-bytes); later output was dropped]\n";
}

bool CapOutputFile(const std::string& path, int64_t max_bytes) {
  if (path.empty() || max_bytes <= 0) return false;
  struct stat st;
  if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  const std::string marker = TruncationMarker(max_bytes);
  const auto capped = static_cast<off_t>(max_bytes + static_cast<int64_t>(marker.size()));
  if (st.st_size <= capped) return false;
  int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return false;
  // Was it cut before? Then the marker is already in place.
  std::string there(marker.size(), '\0');
  bool first = pread(fd, there.data(), there.size(), static_cast<off_t>(max_bytes)) !=
                   static_cast<ssize_t>(there.size()) ||
               there != marker;
  // The marker goes over the bytes at the cap first, then the rest is cut off: the job, which
  // appends (O_APPEND), goes on writing after the marker.
  if (first && pwrite(fd, marker.data(), marker.size(), static_cast<off_t>(max_bytes)) !=
                   static_cast<ssize_t>(marker.size())) {
    close(fd);
    return false;
  }
  bool ok = ftruncate(fd, capped) == 0;
  close(fd);
  return ok && first;
}

}  // namespace torc::worker
