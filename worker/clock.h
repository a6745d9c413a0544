// The time as the worker loop sees it: one seam, so that tests drive the loop with a fake
// clock (tests/worker/loop_test.cc) instead of sleeping.
#pragma once

#include "server/util/clock.h"

namespace torc::worker {

/// Where the worker loop reads the time: seconds since the epoch.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual double Now() = 0;
};

/// The wall clock (util::WallClockNow), the clock of a real worker.
class SystemClock : public Clock {
 public:
  double Now() override { return util::WallClockNow(); }
};

}  // namespace torc::worker
