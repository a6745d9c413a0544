// Small parsers of the text Slurm hands a worker (environment variables, squeue and scontrol
// output), shared by allocation discovery (allocation.cc) and the hostlist, count-list and time
// readers (slurm_text.cc). Internal to the worker.
#pragma once

#include <cctype>
#include <cstdint>
#include <string_view>
#include <vector>

namespace torc::worker::text {

/// Most hosts (or per-node counts) one allocation may list.
inline constexpr int64_t kMaxHosts = 100000;

inline std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

inline bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

// A non-negative decimal integer of at most 18 digits (so it fits in int64).
inline bool ParseCount(std::string_view s, int64_t* out) {
  if (!AllDigits(s) || s.size() > 18) return false;
  int64_t v = 0;
  for (char c : s) v = v * 10 + (c - '0');
  *out = v;
  return true;
}

inline std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == sep) {
      parts.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  return parts;
}

}  // namespace torc::worker::text
