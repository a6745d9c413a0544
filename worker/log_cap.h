// A cap on the size of a job's stdout/stderr file (`torc worker run --max-log-bytes`,
// docs/limits.md): a job that prints without end must not fill the file system.
#pragma once

#include <cstdint>
#include <string>

namespace torc::worker {

/// Default cap per output file: 1 GiB. 0 turns the cap off.
inline constexpr int64_t kDefaultMaxLogBytes = int64_t{1} << 30;

/// The line that replaces whatever a job wrote past the cap.
std::string TruncationMarker(int64_t max_bytes);

/// When the file at `path` is longer than `max_bytes` plus the marker, cuts it back to its first
/// `max_bytes` bytes followed by the marker (the job keeps running; its later output is
/// appended after the marker and cut again at the next check). Returns true when it cut the
/// file for the first time (the marker was not there yet). A missing file, "" or
/// max_bytes <= 0 does nothing.
bool CapOutputFile(const std::string& path, int64_t max_bytes);

}  // namespace torc::worker
