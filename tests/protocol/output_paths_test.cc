// One naming of a job's output for worker, server and CLI (server/protocol/output_paths.h).
#include <doctest/doctest.h>

#include "server/protocol/output_paths.h"

using namespace torc::protocol;
using torc::spec::StdioMode;

TEST_CASE("AttemptOutputPaths: each stdio mode") {
  auto p = AttemptOutputPaths("/o/1", "train_3", 2, StdioMode::kSeparate);
  CHECK(p.out == "/o/1/train_3.2.out");
  CHECK(p.err == "/o/1/train_3.2.err");
  CHECK(p.recovery_log == "/o/1/train_3.2.recovery.log");
  p = AttemptOutputPaths("/o/1", "a", 1, StdioMode::kCombined);
  CHECK(p.out == "/o/1/a.1.out");
  CHECK(p.err == "/o/1/a.1.out");
  p = AttemptOutputPaths("/o/1", "a", 1, StdioMode::kNoStdout);
  CHECK(p.out.empty());
  CHECK(p.err == "/o/1/a.1.err");
  p = AttemptOutputPaths("/o/1", "a", 1, StdioMode::kNoStderr);
  CHECK(p.out == "/o/1/a.1.out");
  CHECK(p.err.empty());
  p = AttemptOutputPaths("/o/1", "a", 1, StdioMode::kNone);
  CHECK((p.out.empty() && p.err.empty()));
  CHECK(p.recovery_log == "/o/1/a.1.recovery.log");  // kept whatever the job's stdio
  // The worker gets the mode by name (ToString) in its claim.
  for (StdioMode m : {StdioMode::kSeparate, StdioMode::kCombined, StdioMode::kNoStdout,
                      StdioMode::kNoStderr, StdioMode::kNone})
    CHECK(torc::spec::StdioModeNamed(torc::spec::ToString(m)) == m);
  CHECK(torc::spec::StdioModeNamed("bogus") == StdioMode::kSeparate);
}

TEST_CASE("job output directories: the worker's root, and the default for the server and CLI") {
  CHECK(JobOutputDir("torc_output", 7) == "torc_output/7");
  CHECK(JobOutputDir("/scratch/out", 12) == "/scratch/out/12");
  CHECK(DefaultJobOutputDir("/home/u/proj", 3) == "/home/u/proj/torc_output/3");
  CHECK(DefaultJobOutputDir("", 3) == "./torc_output/3");
}
