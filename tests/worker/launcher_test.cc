// The launchers' mode-dependent answers: slurm mode's pacing follows how slowly steps start.
#include "worker/launcher.h"

#include <doctest/doctest.h>

using namespace torc::worker;

TEST_CASE("srun pacing: the configured interval, longer while steps are slow to start") {
  LaunchSettings s;
  s.launch_interval_seconds = 0.025;
  SrunLauncher srun(s);
  CHECK(srun.launch_interval() == doctest::Approx(0.025));
  CHECK(srun.interrupts_before_kill());
  // Steps starting in 0.1 s: a healthy controller, no change.
  for (int i = 0; i < 5; ++i) srun.ObserveStepStart(0.1);
  CHECK(srun.launch_interval() == doctest::Approx(0.025));
  // A throttled controller: 4 s per step creation; the mean follows within a few steps and the
  // interval becomes a sixteenth of it (16 step creations in flight), at most 2 s.
  for (int i = 0; i < 20; ++i) srun.ObserveStepStart(4);
  CHECK(srun.launch_interval() == doctest::Approx(0.25).epsilon(0.01));
  for (int i = 0; i < 20; ++i) srun.ObserveStepStart(60);
  CHECK(srun.launch_interval() == doctest::Approx(2.0));
  // Fast again: back to the configured interval.
  for (int i = 0; i < 30; ++i) srun.ObserveStepStart(0.05);
  CHECK(srun.launch_interval() == doctest::Approx(0.025));
  // Pacing turned off (0) stays off.
  s.launch_interval_seconds = 0;
  SrunLauncher unpaced(s);
  unpaced.ObserveStepStart(10);
  CHECK(unpaced.launch_interval() == 0);
  DirectLauncher direct(s, [](const std::string&) {});
  CHECK_FALSE(direct.interrupts_before_kill());
}
