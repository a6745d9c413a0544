// The one command runner with a time limit (server/util/subprocess.h), used for sbatch, squeue,
// scancel, action commands and the worker's allocation discovery.
#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "server/util/subprocess.h"

using torc::util::RunCaptured;

TEST_CASE("RunCaptured: output and errors, apart or together; the exit code") {
  std::string out, err;
  CHECK(RunCaptured({"bash", "-c", "echo out; echo err >&2; exit 3"}, &out, &err, 10) == 3);
  CHECK(out == "out\n");
  CHECK(err == "err\n");
  CHECK(RunCaptured({"bash", "-c", "echo out; echo err >&2"}, &out, nullptr, 10) == 0);
  CHECK(out.find("out\n") != std::string::npos);
  CHECK(out.find("err\n") != std::string::npos);
  CHECK(RunCaptured({"bash", "-c", "kill -TERM $$"}, &out, &err, 10) == 128 + 15);
  // stdin is /dev/null: a command that reads it ends at once.
  CHECK(RunCaptured({"cat"}, &out, &err, 10) == 0);
  CHECK(out.empty());
}

TEST_CASE("RunCaptured: a command that cannot start, and one that outlives its time") {
  std::string out, err;
  CHECK(RunCaptured({"/no/such/torc-command"}, &out, &err, 10) == -1);
  CHECK(err.find("cannot run /no/such/torc-command") != std::string::npos);
  CHECK(RunCaptured({}, &out, &err, 10) == -1);
  auto t0 = std::chrono::steady_clock::now();
  CHECK(RunCaptured({"sleep", "30"}, &out, &err, 1) == 128 + 9);
  CHECK(err.find("(timed out after 1 s)") != std::string::npos);
  // Closing its output does not let it run on past the limit.
  CHECK(RunCaptured({"bash", "-c", "exec >&- 2>&-; sleep 30"}, &out, &err, 1) == 128 + 9);
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK(took < 10);
}
