// What a job used: the recorder's peak and samples, the per-node files of torc job-exec, how the
// worker combines the nodes, and what job-exec reports of the job's end (exit, signal, runtime).
#include "worker/usage.h"
#include "worker/step_outcome.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <signal.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "worker/job_exec.h"
#include "worker/process.h"

using namespace torc::worker;
using torc::protocol::AttemptReport;
using torc::protocol::ResourceSample;

namespace {
double WallSeconds() {
  timeval tv{};
  gettimeofday(&tv, nullptr);
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
}
}  // namespace

TEST_CASE("UsageRecorder: the peak of every look, a sample per interval with its CPU share") {
  UsageRecorder u;
  u.Begin(100, 1);
  u.Observe(100.5, {10, 0.25});  // a memory check between samples: the peak only
  CHECK(u.samples().empty());
  u.Observe(101.0, {40, 0.5});
  u.Observe(102.2, {20, 1.7});
  REQUIRE(u.samples().size() == 2);
  CHECK(u.samples()[0] == ResourceSample{1.0, 50.0, 40});
  CHECK(u.samples()[1].t == doctest::Approx(2.2));
  CHECK(u.samples()[1].cpu_percent == doctest::Approx(100.0));
  CHECK(u.peak_rss_bytes() == 40);
  CHECK(u.next_sample() == doctest::Approx(103));
  UsageRecorder none;
  none.Begin(0, 0);
  CHECK_FALSE(none.SampleDue(1e9));
}

TEST_CASE("two nodes: node_usage per node, max RSS, summed CPU, samples summed by index") {
  NodeUsageReport a{"n1", 300, 2.0, false, 1000.5, {{1, 90, 100}, {2, 95, 300}}};
  NodeUsageReport b{"n2", 200, 1.5, false, 1000.6, {{1, 80, 50}}};
  AttemptReport r;
  CombineNodeUsage({a, b}, 1000, &r);
  REQUIRE(r.node_usage.size() == 2);
  CHECK(r.node_usage[1].node == "n2");
  CHECK(r.peak_rss_bytes == 300);
  CHECK(r.cpu_seconds == doctest::Approx(3.5));
  REQUIRE(r.samples.size() == 2);
  CHECK(r.samples[0].t == doctest::Approx(1.5));  // the first node's time, from the attempt start
  CHECK(r.samples[0].cpu_percent == doctest::Approx(170));
  CHECK(r.samples[0].rss_bytes == 150);
  CHECK(r.samples[1].rss_bytes == 300);
  AttemptReport nothing;
  CombineNodeUsage({}, 0, &nothing);
  CHECK(nothing.peak_rss_bytes == -1);
  CHECK(nothing.node_usage.empty());
}

TEST_CASE("a node's file round-trips; a missing or broken one is nullopt") {
  char dir[] = "/tmp/torc-usage-XXXXXX";
  REQUIRE(mkdtemp(dir));
  const std::string path = UsageReportPath(std::string(dir) + "/7.2", "n1");
  CHECK(path == std::string(dir) + "/7.2.n1.json");
  NodeUsageReport r{"n1", 300, 2.5, true, 12.5, {{1, 50, 7}}};
  std::string error;
  REQUIRE(WriteNodeUsageReport(path, r, &error));
  auto back = ReadNodeUsageReport(path);
  REQUIRE(back);
  CHECK(back->node == "n1");
  CHECK(back->memory_killed);
  CHECK(back->samples == r.samples);
  CHECK(back->exit_code == -1);
  r.exit_code = 143;
  r.slurm_signal = 15;
  r.runtime_killed = true;
  REQUIRE(WriteNodeUsageReport(path, r, &error));
  back = ReadNodeUsageReport(path);
  REQUIRE(back);
  CHECK(back->exit_code == 143);
  CHECK(back->slurm_signal == 15);
  CHECK(back->runtime_killed);
  // A file of an older job-exec (no exit code, signal or runtime flag) still reads: unknown.
  FILE* old = fopen(path.c_str(), "w");
  fputs("{\"node\": \"n1\", \"peak_rss_bytes\": 5, \"cpu_seconds\": 1, \"started_at\": 3}", old);
  fclose(old);
  back = ReadNodeUsageReport(path);
  REQUIRE(back);
  CHECK((back->exit_code == -1 && back->slurm_signal == 0 && !back->runtime_killed &&
         back->peak_rss_bytes == 5));
  CHECK_FALSE(ReadNodeUsageReport(path + ".none"));
  FILE* f = fopen(path.c_str(), "w");
  fputs("{\"samples\": [1]}", f);
  fclose(f);
  CHECK_FALSE(ReadNodeUsageReport(path));
  unlink(path.c_str());
  rmdir(dir);
}

TEST_CASE("torc job-exec: the command's exit status, its figures in the node's file, the limit") {
  char dir[] = "/tmp/torc-jobexec-XXXXXX";
  REQUIRE(mkdtemp(dir));
  setenv("SLURMD_NODENAME", "nx", 1);
  JobExecOptions o;
  o.report_prefix = std::string(dir) + "/1.1";
  o.argv = {"bash", "-c", "exit 3"};
  CHECK(RunJobExec(o) == 3);
  auto r = ReadNodeUsageReport(o.report_prefix + ".nx.json");
  REQUIRE(r);
  CHECK(r->node == "nx");
  CHECK(r->cpu_seconds >= 0);
  CHECK_FALSE(r->memory_killed);
  CHECK(r->exit_code == 3);
  CHECK(r->slurm_signal == 0);
  o.argv = {"bash", "-c", "kill -TERM $$"};
  CHECK(RunJobExec(o) == 128 + 15);
  r = ReadNodeUsageReport(o.report_prefix + ".nx.json");
  REQUIRE(r);
  CHECK(r->exit_code == 143);
  CHECK(r->slurm_signal == 0);  // the job signalled itself: job-exec received nothing
  // Its own runtime limit: the termination signal at 0.5 s after the command's start, SIGKILL
  // 0.5 s later for a job that ignores it.
  o.runtime_limit_seconds = 0.5;
  o.term_signal = SIGUSR1;
  o.kill_after_seconds = 0.5;
  o.argv = {"bash", "-c", "trap '' USR1; sleep 20"};
  const double before = WallSeconds();
  CHECK(RunJobExec(o) == 128 + SIGKILL);
  CHECK(WallSeconds() - before < 5);
  r = ReadNodeUsageReport(o.report_prefix + ".nx.json");
  REQUIRE(r);
  CHECK(r->runtime_killed);
  o.argv = {"bash", "-c", "sleep 20"};
  CHECK(RunJobExec(o) == 128 + SIGUSR1);
  o.runtime_limit_seconds = 0;
  // A signal job-exec receives (srun forwarding it: scancel, a preemption, torc's stop) goes
  // to the job and is reported.
  o.argv = {"bash", "-c", "kill -TERM $PPID; sleep 5; exit 7"};
  CHECK(RunJobExec(o) == 128 + SIGTERM);
  r = ReadNodeUsageReport(o.report_prefix + ".nx.json");
  REQUIRE(r);
  CHECK(r->slurm_signal == SIGTERM);
  CHECK_FALSE(r->runtime_killed);
  // torc's stop relayed by srun as SIGUSR2 (srun would end the step on a SIGTERM): the job gets
  // the workflow's termination signal, and it is not reported as Slurm's.
  o.stop_via_usr2 = true;
  o.term_signal = SIGTERM;
  o.argv = {"bash", "-c", "trap 'exit 42' TERM; kill -USR2 $PPID; sleep 5 & wait"};
  CHECK(RunJobExec(o) == 42);
  r = ReadNodeUsageReport(o.report_prefix + ".nx.json");
  REQUIRE(r);
  CHECK(r->slurm_signal == 0);
  o.stop_via_usr2 = false;
  // Over its limit: killed within a check or two, with the workflow's exit code.
  o.memory_limit_bytes = 20 << 20;
  o.oom_exit_code = 99;
  o.argv = {"python3", "-c",
            "b = bytearray(200 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096]); "
            "import time; time.sleep(30)"};
  CHECK(RunJobExec(o) == 99);
  r = ReadNodeUsageReport(o.report_prefix + ".nx.json");
  REQUIRE(r);
  CHECK(r->memory_killed);
  unsetenv("SLURMD_NODENAME");
  std::system((std::string("rm -rf ") + dir).c_str());
}

namespace {
// A process group of bash and two sleeps (3 processes), started by hand.
pid_t StartGroupOfThree() {
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    execl("/bin/bash", "bash", "-c", "sleep 30 & sleep 30 & wait", static_cast<char*>(nullptr));
    _exit(127);
  }
  setpgid(pid, pid);
  return pid;
}

void EndGroup(pid_t pid) {
  kill(-pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}
}  // namespace

TEST_CASE("GroupUsageReader: a full pass over /proc every few seconds, only known processes between") {
  const pid_t pid = StartGroupOfThree();
  // Wait until bash has started both sleeps, and both run `sleep` (a child between fork and
  // exec has no resident memory of its own for a moment: seen once on a loaded machine).
  size_t seen = 0;
  for (int i = 0; i < 200 && seen < 3; ++i) {
    std::map<pid_t, std::vector<pid_t>> members;
    ScanGroupUsage(&members);
    seen = 0;
    for (pid_t member : members[pid]) {
      std::ifstream comm("/proc/" + std::to_string(member) + "/comm");
      std::string name;
      std::getline(comm, name);
      seen += member == pid || name == "sleep";
    }
    if (seen < 3) usleep(10000);
  }
  REQUIRE(seen == 3);

  GroupUsageReader reader;
  // The first look reads the leader only; the first full pass comes an interval later.
  auto leader = reader.Read({pid}, 98.0);
  CHECK(reader.full_passes() == 0);
  REQUIRE(leader.count(pid) == 1);
  auto first = reader.Read({pid}, 100.0);
  CHECK(reader.full_passes() == 1);
  REQUIRE(first.count(pid) == 1);
  CHECK(first[pid].rss_bytes > leader[pid].rss_bytes);  // bash and both sleeps
  // Within the interval: no full pass, the same three processes read one by one.
  auto between = reader.Read({pid}, 100.0 + GroupUsageReader::kFullPassSeconds / 2);
  CHECK(reader.full_passes() == 1);
  REQUIRE(between.count(pid) == 1);
  CHECK(between[pid].rss_bytes == doctest::Approx(first[pid].rss_bytes).epsilon(0.5));

  // A group that started after the pass is read through its leader.
  const pid_t second = StartGroupOfThree();
  auto with_new = reader.Read({pid, second}, 100.0 + GroupUsageReader::kFullPassSeconds / 2);
  CHECK(reader.full_passes() == 1);
  CHECK(with_new.count(second) == 1);
  // The next full pass comes once the interval is over, and finds all of the new group.
  reader.Read({pid, second}, 100.0 + GroupUsageReader::kFullPassSeconds);
  CHECK(reader.full_passes() == 2);

  // A group whose processes all ended is absent, or uses nothing while its killed sleeps wait
  // as zombies for init.
  EndGroup(pid);
  EndGroup(second);
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {
    auto after = reader.Read({pid}, 103.0);
    gone = after.count(pid) == 0 || after[pid].rss_bytes == 0;
    if (!gone) usleep(10000);
  }
  CHECK(gone);
}

TEST_CASE("ProgramPaths: a program is looked up on PATH once, then for kKeepSeconds by its path") {
  char tmpl[] = "/tmp/torc-paths-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  const std::string root = tmpl, early = root + "/early", late = root + "/late";
  REQUIRE(system(("mkdir -p " + early + " " + late + " && printf '#!/bin/sh\\n' > " + late +
                  "/prog && chmod +x " + late + "/prog && printf x > " + late + "/plain")
                     .c_str()) == 0);
  const std::string path = "/nonexistent:" + early + ":" + late;
  ProgramPaths paths;
  const std::string* found = paths.Find("prog", path, 100);
  REQUIRE(found != nullptr);
  CHECK(*found == late + "/prog");
  CHECK(paths.Find("plain", path, 100) == nullptr);  // not executable: execvpe reports it
  CHECK(paths.Find("missing", path, 100) == nullptr);
  CHECK(paths.Find("./prog", path, 100) == nullptr);   // a slash: run as written
  CHECK(paths.Find("prog", "bin:" + late, 100) == nullptr);  // relative entry first
  CHECK(paths.Find("prog", ":" + late, 100) == nullptr);     // empty entry: the job's directory

  // A program put earlier on PATH is found once the entry has expired.
  REQUIRE(system(("cp " + late + "/prog " + early + "/prog").c_str()) == 0);
  CHECK(*paths.Find("prog", path, 100 + ProgramPaths::kKeepSeconds / 2) == late + "/prog");
  CHECK(*paths.Find("prog", path, 100 + ProgramPaths::kKeepSeconds) == early + "/prog");
  // Another PATH is another lookup.
  CHECK(*paths.Find("prog", late, 101) == late + "/prog");
  REQUIRE(system(("rm -rf " + root).c_str()) == 0);
}
