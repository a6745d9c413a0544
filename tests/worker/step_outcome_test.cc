// How the worker tells a slurm-mode step's end apart (ClassifyStep), on the texts srun and
// slurmstepd really write (the format strings of launch_slurm.so, libslurmfull.so, srun and
// slurmstepd of Slurm 23.11), and srun's task lines taken out of a job's stderr.
#include "worker/step_outcome.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

using namespace torc::worker;
using Kind = StepOutcome::Kind;

namespace {

NodeUsageReport Ran(const std::string& node, int exit_code, int signal = 0) {
  NodeUsageReport r;
  r.node = node;
  r.exit_code = exit_code;
  r.slurm_signal = signal;
  r.started_at = 100;
  return r;
}

StepOutcome Classify(int srun_exit, const std::string& err, std::vector<NodeUsageReport> reports,
                     size_t nodes = 1) {
  return ClassifyStep({srun_exit, err, std::move(reports), nodes});
}

}  // namespace

TEST_CASE("the job's own exit: report exit codes win over srun's; srun's task lines say nothing") {
  auto ok = Classify(0, "", {Ran("n1", 0)});
  CHECK(ok.kind == Kind::kExited);
  CHECK(ok.exit_code == 0);
  // exit 3: srun says so too, with its task line
  auto three = Classify(3, "my own error\nsrun: error: n1: task 0: Exited with exit code 3\n",
                        {Ran("n1", 3)});
  CHECK(three.kind == Kind::kExited);
  CHECK(three.exit_code == 3);
  // Two nodes: srun's is the largest task's; the job's is the first node that failed.
  auto two = Classify(9, "", {Ran("n1", 0), Ran("n2", 4)}, 2);
  CHECK((two.kind == Kind::kExited && two.exit_code == 4));
  // The command ended well everywhere; srun's own trouble after that is not the job's.
  auto fine = Classify(1, "srun: error: Timed out waiting for job step to complete\n",
                       {Ran("n1", 0), Ran("n2", 0)}, 2);
  CHECK((fine.kind == Kind::kExited && fine.exit_code == 0));
  // No job-exec report (an older job-exec, or none): srun's exit is the job's.
  auto bare = Classify(2, "srun: error: n1: task 0: Exited with exit code 2\n", {});
  CHECK((bare.kind == Kind::kExited && bare.exit_code == 2));
  // A report without an exit code (an older job-exec): srun's stands.
  NodeUsageReport old = Ran("n1", -1);
  auto legacy = Classify(5, "", {old});
  CHECK((legacy.kind == Kind::kExited && legacy.exit_code == 5));
  // The job's own text never counts, whatever it says.
  auto text = Classify(1,
                       "Unable to create step for job 5: Job credential expired\n"
                       "error: Node failure on n3\n*** STEP 5.1 ON n1 CANCELLED AT now ***\n"
                       "oom-kill event(s) Out Of Memory\n",
                       {Ran("n1", 1)});
  CHECK((text.kind == Kind::kExited && text.exit_code == 1));
}

TEST_CASE("srun or Slurm could not create or run the step: its message, when the job never ran") {
  // Step creation refused (srun: "Unable to create step for job %u: %m").
  auto limit = Classify(1,
                        "srun: error: Unable to create step for job 12: Step limit reached for "
                        "this job\n",
                        {});
  CHECK(limit.kind == Kind::kSlurmFailure);
  CHECK(limit.message == "Step limit reached for this job");
  // Launch refused on the node ("Task launch for %ps failed on node %s: %m", then
  // "Application launch failed: %m").
  auto cred = Classify(1,
                       "srun: error: Task launch for StepId=12.7 failed on node n1: Job "
                       "credential expired\n"
                       "srun: error: Application launch failed: Job credential expired\n"
                       "srun: Job step aborted: Waiting up to 32 seconds for job step to finish.\n",
                       {});
  CHECK(cred.kind == Kind::kSlurmFailure);
  CHECK(cred.message == "Job credential expired");
  auto busy = Classify(1, "srun: error: Unable to create step for job 12: Requested nodes are busy\n",
                       {});
  CHECK((busy.kind == Kind::kSlurmFailure && busy.message == "Requested nodes are busy"));
  auto other = Classify(1, "srun: error: Unable to resolve \"n9\": Unknown host\n", {});
  CHECK((other.kind == Kind::kSlurmFailure &&
         other.message == "Unable to resolve \"n9\": Unknown host"));
  // The launch failed on one node of two: the command did not run everywhere.
  auto half = Classify(1,
                       "srun: error: Task launch for StepId=12.8 failed on node n2: Invalid job "
                       "credential\n",
                       {Ran("n1", 0)}, 2);
  CHECK((half.kind == Kind::kSlurmFailure && half.message == "Invalid job credential"));
  // srun failed with only task lines (no message of its own): the job's failure.
  auto tasks = Classify(1, "srun: error: n1: task 0: Exited with exit code 1\n", {});
  CHECK(tasks.kind == Kind::kExited);
  // A job that ran on every node and failed is the job's failure, whatever srun added.
  auto ran = Classify(3, "srun: error: Unable to create step for job 12: whatever\n",
                      {Ran("n1", 3)});
  CHECK((ran.kind == Kind::kExited && ran.exit_code == 3));
}

TEST_CASE("memory: job-exec's kill, srun's Out Of Memory task line, slurmstepd's oom-kill") {
  NodeUsageReport killed = Ran("n1", 137);
  killed.memory_killed = true;
  CHECK(Classify(137, "", {killed}).kind == Kind::kMemory);
  CHECK(Classify(137, "", {killed}).exit_code == 137);
  CHECK(Classify(1, "srun: error: n1: task 0: Out Of Memory\n", {}).kind == Kind::kMemory);
  CHECK(Classify(137,
                 "slurmstepd: error: Detected 1 oom-kill event(s) in StepId=12.3. Some of your "
                 "processes may have been killed by the cgroup out-of-memory handler.\n",
                 {Ran("n1", 137)})
            .kind == Kind::kMemory);
  CHECK(Classify(137,
                 "slurmstepd-n1: error: Detected 1 oom_kill event in StepId=12.3. Some of the "
                 "step tasks have been OOM Killed.\n",
                 {})
            .kind == Kind::kMemory);
  CHECK(Classify(1, "srun: error: n1: task 0: Exited with exit code 1\n", {}).kind ==
        Kind::kExited);
}

TEST_CASE("Slurm cancelled the step: slurmstepd's line, with its cause, or a signal job-exec got") {
  // Measured on the lab (preemption, PreemptMode=CANCEL, GraceTime=5): no cause given.
  auto plain = Classify(143,
                        "slurmstepd-n1: error: *** STEP 1.0 ON n1 CANCELLED AT "
                        "2026-12-06T18:24:21 ***\n"
                        "srun: error: n1: task 0: Exited with exit code 143\n",
                        {Ran("n1", 143, 15)});
  CHECK(plain.kind == Kind::kCancelled);
  CHECK(plain.message.empty());
  CHECK(plain.exit_code == 143);
  for (const char* cause : {"PREEMPTION", "TIME LIMIT", "JOB REQUEUE"}) {
    auto c = Classify(143, std::string("slurmstepd: error: *** STEP 4.2 ON n2 CANCELLED AT "
                                       "2026-12-06T18:24:21 DUE TO ") +
                               cause + " ***\n",
                      {});
    CHECK(c.kind == Kind::kCancelled);
    CHECK(c.message == cause);
  }
  // job-exec was signalled (and passed it on), slurmstepd's line lost or cut off.
  auto signalled = Classify(143, "", {Ran("n1", 143, 15)});
  CHECK(signalled.kind == Kind::kCancelled);
  // A job that handled the signal and ended well completed.
  CHECK(Classify(0, "", {Ran("n1", 0, 15)}).kind == Kind::kExited);
}

TEST_CASE("a node failed: srun's Node failure line names it; slurmstepd's cause says so") {
  auto lost = Classify(1,
                       "srun: error: Node failure on n3\n"
                       "srun: error: n3: task 2: Killed\n",
                       {Ran("n1", 143, 15), Ran("n2", 143, 15)}, 3);
  CHECK(lost.kind == Kind::kNodeFailure);
  CHECK(lost.node == "n3");
  CHECK(lost.message == "Node failure on n3");
  auto unnamed = Classify(143,
                          "slurmstepd: error: *** STEP 4.2 ON n1 CANCELLED AT 2026-12-06T18:24:21 "
                          "DUE TO NODE FAILURE, SEE SLURMCTLD LOG FOR DETAILS ***\n",
                          {Ran("n1", 143, 15)});
  CHECK(unnamed.kind == Kind::kNodeFailure);
  CHECK(unnamed.node.empty());
  // srun exits 0 after a node failure (measured on the lab): the node that did not report
  // failed, whatever srun's exit says.
  auto zero = Classify(0,
                       "srun: got SIGCONT\n"
                       "srun: error: Node failure on n3\n"
                       "srun: Job step aborted\n"
                       "srun: forcing job termination\n",
                       {}, 1);
  CHECK(zero.kind == Kind::kNodeFailure);
  CHECK(zero.node == "n3");
  // srun's 0 with a report missing and nothing from Slurm: the job's success stands.
  CHECK(Classify(0, "", {}, 1).kind == Kind::kExited);
  CHECK(Classify(0, "", {}, 1).exit_code == 0);
}

TEST_CASE("job-exec's own runtime limit") {
  NodeUsageReport late = Ran("n1", 143);
  late.runtime_killed = true;
  CHECK(Classify(143, "srun: error: n1: task 0: Exited with exit code 143\n", {late}).kind ==
        Kind::kRuntime);
}

TEST_CASE("srun's task lines are the only lines taken out of a job's stderr") {
  CHECK(IsSrunTaskLine("srun: error: n1: task 0: Exited with exit code 3"));
  CHECK(IsSrunTaskLine("srun: error: node-7: tasks 0-3,5: Exited with exit code 1"));
  CHECK(IsSrunTaskLine("srun: error: n1: task 0: Killed"));
  CHECK(IsSrunTaskLine("srun: error: n1: task 0: Terminated"));
  CHECK(IsSrunTaskLine("srun: error: n1: task 0: Segmentation fault (core dumped)"));
  CHECK(IsSrunTaskLine("srun: launch/slurm: _step_signal: Terminating StepId=12.3"));
  CHECK_FALSE(IsSrunTaskLine("srun: error: n1: task 0: Out Of Memory"));
  CHECK_FALSE(IsSrunTaskLine("srun: error: Node failure on n3"));
  CHECK_FALSE(IsSrunTaskLine("srun: error: Unable to create step for job 1: Step limit reached"));
  CHECK_FALSE(IsSrunTaskLine("n1: task 0: Exited with exit code 3"));
  CHECK_FALSE(IsSrunTaskLine("my log: srun: error: n1: task 0: Exited with exit code 3"));

  char path[] = "/tmp/torc-strip-XXXXXX";
  const int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  close(fd);
  auto write = [&](const std::string& text) {
    std::ofstream(path, std::ios::trunc) << text;
  };
  auto read = [&] {
    std::stringstream ss;
    ss << std::ifstream(path).rdbuf();
    return ss.str();
  };
  write("line one\nsrun: error: n1: task 0: Exited with exit code 3\nlast words");
  REQUIRE(StripSrunTaskLines(path));
  CHECK(read() == "line one\nlast words");
  write("a\nsrun: launch/slurm: _step_signal: Terminating StepId=1.0\n"
        "srun: error: n1: task 0: Terminated\nsrun: error: Node failure on n3\n");
  REQUIRE(StripSrunTaskLines(path));
  CHECK(read() == "a\nsrun: error: Node failure on n3\n");
  // Only the window at the end is looked at, from its first whole line: earlier lines stay.
  std::string big = "srun: error: n1: task 0: Exited with exit code 9\n" +
                    std::string(200, 'x') + "\nsrun: error: n1: task 0: Exited with exit code 9\n";
  write(big);
  REQUIRE(StripSrunTaskLines(path, 100));
  CHECK(read() == "srun: error: n1: task 0: Exited with exit code 9\n" + std::string(200, 'x') +
                      "\n");
  write("nothing of srun's\n");
  REQUIRE(StripSrunTaskLines(path));
  CHECK(read() == "nothing of srun's\n");
  unlink(path);
  CHECK_FALSE(StripSrunTaskLines(path));
}
