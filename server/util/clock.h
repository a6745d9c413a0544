// The wall clock, in seconds since the epoch, as the server and workers record
// times. The scheduling core never reads it: it gets `now` as an argument.
#pragma once

#include <chrono>

namespace torc::util {

inline double WallClockNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace torc::util
