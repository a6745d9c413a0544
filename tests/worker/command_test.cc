// The exact command lines and environment the worker gives a job.
#include "worker/command.h"

#include <doctest/doctest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>

using namespace torc::worker;
using V = std::vector<std::string>;

namespace doctest {
template <>
struct StringMaker<V> {
  static String convert(const V& v) {
    std::string s;
    for (const auto& a : v) s += "[" + a + "] ";
    return s.c_str();
  }
};
}  // namespace doctest

namespace {

std::vector<NodeInfo> Nodes(int n, int64_t cpus = 4, std::vector<int> gpus = {}) {
  std::vector<NodeInfo> nodes;
  for (int i = 1; i <= n; ++i) nodes.push_back({"n" + std::to_string(i), cpus, 4000LL << 20, gpus});
  return nodes;
}

JobToRun Job(int64_t cpus, int64_t mem, int64_t gpus, int64_t nodes) {
  JobToRun j;
  j.id = 7;
  j.name = "train";
  j.attempt = 2;
  j.command = "python train.py";
  j.needs = {cpus, mem, gpus, nodes};
  j.runtime_seconds = 1800;
  return j;
}

}  // namespace

TEST_CASE("srun line of a single-node job: both CPU and memory, pinned to its node") {
  auto nodes = Nodes(4);
  Placement p;
  p.nodes = {2};
  p.gpus = {{}};
  p.cpus_per_node = 2;
  p.memory_per_node = 1500LL << 20;
  SrunOptions o;
  o.workflow_name = "wf";
  CHECK(SrunArgs(Job(2, 1500LL << 20, 0, 1), p, nodes, o) ==
        V{"srun", "--nodes=1", "--ntasks=1", "--ntasks-per-node=1", "--cpus-per-task=2",
          "--mem=1500", "--exact", "--nodelist=n3", "--job-name=wf_train_2", "--export=ALL",
          "--quit-on-interrupt", "--gres=none", "--time=31", "bash", "-c", "python train.py"});
}

TEST_CASE("srun line of a multi-node job on whole nodes, with GPUs and options") {
  auto nodes = Nodes(4, 4, {0, 1});
  Placement p;
  p.nodes = {0, 1, 2, 3};
  p.gpus = {{0, 1}, {0, 1}, {0, 1}, {0, 1}};
  p.cpus_per_node = 4;
  p.memory_per_node = 4000LL << 20;
  p.whole_nodes = true;
  SrunOptions o;
  o.srun = "/opt/slurm/bin/srun";
  o.workflow_name = "dist";
  o.signal = "TERM@120";
  o.cpu_bind = true;
  JobToRun j = Job(32, 0, 2, 4);
  j.invocation_script = "module load cuda";
  CHECK(SrunArgs(j, p, nodes, o) ==
        V{"/opt/slurm/bin/srun", "--nodes=4", "--ntasks=4", "--ntasks-per-node=1",
          "--cpus-per-task=4", "--mem=0", "--exact", "--nodelist=n1,n2,n3,n4",
          "--job-name=dist_train_2", "--export=ALL", "--quit-on-interrupt", "--gpus-per-node=2", "--time=31",
          "--signal=TERM@120",
          "--cpu-bind=cores", "bash", "-c", "module load cuda\npython train.py"});
  // execution_config.srun_mpi: the step's MPI plugin (else none: Slurm's MpiDefault).
  o.mpi = "pmix";
  auto args = SrunArgs(j, p, nodes, o);
  CHECK(std::count(args.begin(), args.end(), "--mpi=pmix") == 1);
  o.mpi.clear();
  args = SrunArgs(j, p, nodes, o);
  CHECK(std::none_of(args.begin(), args.end(),
                     [](const std::string& a) { return a.rfind("--mpi", 0) == 0; }));
}

TEST_CASE("a GPU job asks for its GPUs; any other step for no GRES at all") {
  auto nodes = Nodes(1, 4, {0, 1});
  Placement p;
  p.nodes = {0};
  p.cpus_per_node = 1;
  p.memory_per_node = 1 << 20;
  auto gpu = SrunArgs(Job(1, 1 << 20, 1, 1), p, nodes, {});
  CHECK(std::count(gpu.begin(), gpu.end(), "--gpus-per-node=1") == 1);
  CHECK(std::count(gpu.begin(), gpu.end(), "--gres=none") == 0);
  auto cpu = SrunArgs(Job(1, 1 << 20, 0, 1), p, nodes, {});
  CHECK(std::count(cpu.begin(), cpu.end(), "--gres=none") == 1);
  CHECK(std::count(cpu.begin(), cpu.end(), "--export=ALL") == 1);
}

TEST_CASE("direct mode in Slurm: the job sees its own nodes, not the worker's step") {
  auto nodes = Nodes(4, 4, {});
  Placement p;
  p.nodes = {2, 3};
  p.cpus_per_node = 4;
  p.whole_nodes = true;
  auto env = DirectSlurmEnvironment(p, nodes, "/out/hostfiles/n3,n4_4");
  CHECK(env["SLURM_JOB_NODELIST"] == "n3,n4");
  CHECK(env["SLURM_NODELIST"] == "n3,n4");
  CHECK(env["SLURM_JOB_NUM_NODES"] == "2");
  CHECK(env["SLURM_NNODES"] == "2");
  CHECK(env["SLURM_TASKS_PER_NODE"] == "4(x2)");
  CHECK(env["SLURM_JOB_CPUS_PER_NODE"] == "4(x2)");
  CHECK(env["SLURM_HOSTFILE"] == "/out/hostfiles/n3,n4_4");
  CHECK(env["SLURM_OVERLAP"] == "1");
  // `srun -N2 -n2` reads two lines: one per node; `srun -n8`, all eight.
  CHECK(HostfileText(p, nodes) == "n3\nn4\nn3\nn4\nn3\nn4\nn3\nn4\n");
  const auto& drop = InheritedStepVariables();
  for (const char* name : {"SLURM_STEP_*", "SLURM_STEPID", "SLURM_PROCID", "SLURM_LOCALID", "SLURM_CPUS_PER_TASK",
                           "SLURM_TRES_PER_TASK", "SLURM_NTASKS*", "SLURM_CPU_BIND*", "PMI*",
                           "PMIX*"})
    CHECK_MESSAGE(std::count(drop.begin(), drop.end(), name) == 1, name);
}

TEST_CASE("memory is rounded up to whole MB, never 0") {
  auto nodes = Nodes(1);
  Placement p;
  p.nodes = {0};
  p.cpus_per_node = 1;
  p.memory_per_node = 1;
  CHECK(SrunArgs(Job(1, 1, 0, 1), p, nodes, {})[5] == "--mem=1");
  p.memory_per_node = (1 << 20) + 1;
  CHECK(SrunArgs(Job(1, 1, 0, 1), p, nodes, {})[5] == "--mem=2");
}

TEST_CASE("direct mode runs a plain command without a shell, anything else with bash -c") {
  JobToRun j = Job(1, 0, 0, 1);
  CHECK(DirectArgs(j) == V{"python", "train.py"});
  j.invocation_script = "set -e\n";
  CHECK(DirectArgs(j) == V{"bash", "-c", "set -e\npython train.py"});
  j.invocation_script.clear();
  j.command = "python train.py > log";
  CHECK(DirectArgs(j) == V{"bash", "-c", "python train.py > log"});
}

TEST_CASE("which commands are plain words") {
  CHECK(SimpleArgv("sleep 0.1") == V{"sleep", "0.1"});
  CHECK(SimpleArgv("  ./run.sh\t--lr=0.01  -n 4 a,b:c@d%e+f ") ==
        V{"./run.sh", "--lr=0.01", "-n", "4", "a,b:c@d%e+f"});
  CHECK(SimpleArgv("true") == V{"true"});
  for (const char* shell : {"echo hi", "cd /tmp", "exit 3", "X=1 prog", "prog $HOME", "a && b",
                            "a; b", "a | b", "prog 'quoted'", "prog \"q\"", "ls *.txt", "prog ~",
                            "a\nb", "prog # note", "(prog)", "prog `x`", "prog a\\ b", "",
                            "   ", "source env.sh", ". env.sh", "if", "{ a; }", "prog > out",
                            "prog [ab]", "prog {1..3}", "time prog", "! prog"})
    CHECK_MESSAGE(!SimpleArgv(shell), shell);
}

TEST_CASE("what a job sees") {
  JobToRun j = Job(1, 0, 1, 1);
  j.env = {{"LOG_LEVEL", "debug"}};
  Placement p;
  p.nodes = {0};
  p.gpus = {{1}};
  JobContext c{5, "/out/5", "http://127.0.0.1:8080", true, true};
  auto env = JobEnvironment(j, p, c);
  CHECK(env["TORC_WORKFLOW_ID"] == "5");
  CHECK(env["TORC_JOB_ID"] == "7");
  CHECK(env["TORC_JOB_NAME"] == "train");
  CHECK(env["TORC_ATTEMPT"] == "2");
  CHECK(env["TORC_OUTPUT_DIR"] == "/out/5");
  CHECK(env["TORC_API_URL"] == "http://127.0.0.1:8080");
  CHECK(env["LOG_LEVEL"] == "debug");
  CHECK(env["CUDA_VISIBLE_DEVICES"] == "1");
  CHECK(env["ROCR_VISIBLE_DEVICES"] == "1");
  p.gpus = {{}};
  CHECK(JobEnvironment(j, p, c)["CUDA_VISIBLE_DEVICES"] == "");  // no GPU: none visible
  c.direct = false;  // slurm mode: Slurm sets them in the step
  CHECK(JobEnvironment(j, p, c).count("CUDA_VISIBLE_DEVICES") == 0);
}

TEST_CASE("output files for each stdio mode") {
  JobToRun j = Job(1, 0, 0, 1);
  auto check = [&](const char* mode, const char* out, const char* err) {
    j.stdio_mode = mode;
    auto p = OutputsFor(j, "/o");
    CHECK(p.out == out);
    CHECK(p.err == err);
    CHECK(p.recovery_log == "/o/train.2.recovery.log");
  };
  check("separate", "/o/train.2.out", "/o/train.2.err");
  check("combined", "/o/train.2.out", "/o/train.2.out");
  check("no_stdout", "", "/o/train.2.err");
  check("no_stderr", "/o/train.2.out", "");
  check("none", "", "");
}

TEST_CASE("slurm mode: torc job-exec runs the command in the step, with the limit and samples") {
  auto nodes = Nodes(4);
  Placement p;
  p.nodes = {0, 1};
  p.gpus = {{}, {}};
  p.cpus_per_node = 1;
  p.memory_per_node = 100LL << 20;
  SrunOptions o;
  o.workflow_name = "wf";
  o.job_exec = "/opt/torc/bin/torc";
  o.job_output_dir = "/out/3";
  o.limit_memory = true;
  o.oom_exit_code = 99;
  o.sample_interval_seconds = 5;
  o.term_signal = 10;
  o.kill_after_seconds = 20;
  V args = SrunArgs(Job(1, 100LL << 20, 0, 2), p, nodes, o);
  V tail(std::find(args.begin(), args.end(), "/opt/torc/bin/torc"), args.end());
  // The runtime limit is job-exec's, counted from the command's start in the step.
  CHECK(tail == V{"/opt/torc/bin/torc", "job-exec", "--report", "/out/3/usage/7.2",
                  "--runtime-limit", "1800", "--term-signal", "10", "--kill-after", "20",
                  "--memory-limit", std::to_string(100LL << 20), "--oom-exit-code", "99",
                  "--sample-interval", "5", "--", "python", "train.py"});
  o.limit_memory = false;
  o.sample_interval_seconds = 0;
  args = SrunArgs(Job(1, 100LL << 20, 0, 2), p, nodes, o);
  tail.assign(std::find(args.begin(), args.end(), "/opt/torc/bin/torc"), args.end());
  CHECK(tail == V{"/opt/torc/bin/torc", "job-exec", "--report", "/out/3/usage/7.2",
                  "--runtime-limit", "1800", "--term-signal", "10", "--kill-after", "20", "--",
                  "python", "train.py"});
  // Under job-exec a command that is not plain words still goes through bash, as in direct
  // mode (DirectArgs); without job-exec srun gets bash -c (above).
  JobToRun shell = Job(1, 100LL << 20, 0, 2);
  shell.command = "python train.py > log";
  args = SrunArgs(shell, p, nodes, o);
  CHECK(V(args.end() - 4, args.end()) == V{"--", "bash", "-c", "python train.py > log"});
  // A termination signal srun would not forward: torc's stop goes as SIGUSR2, job-exec relays.
  o.term_signal = 15;
  o.stop_via_usr2 = true;
  args = SrunArgs(Job(1, 100LL << 20, 0, 2), p, nodes, o);
  CHECK(std::count(args.begin(), args.end(), "--stop-via-usr2") == 1);
  CHECK(SrunEndsStepOn(SIGTERM));
  CHECK(SrunEndsStepOn(SIGINT));
  CHECK_FALSE(SrunEndsStepOn(SIGUSR1));
}

TEST_CASE("slurm mode: the small torc-job-exec beside torc runs the step, torc job-exec without it") {
  CHECK(JobExecWords("/opt/torc/bin/torc-job-exec") == V{"/opt/torc/bin/torc-job-exec"});
  CHECK(JobExecWords("torc-job-exec") == V{"torc-job-exec"});
  CHECK(JobExecWords("/opt/torc/bin/torc") == V{"/opt/torc/bin/torc", "job-exec"});
  CHECK(JobExecWords("/opt/torc-job-exec/bin/torc") == V{"/opt/torc-job-exec/bin/torc", "job-exec"});
  auto nodes = Nodes(2);
  Placement p;
  p.nodes = {0};
  p.gpus = {{}};
  p.cpus_per_node = 1;
  SrunOptions o;
  o.job_exec = "/opt/torc/bin/torc-job-exec";
  o.job_output_dir = "/out/3";
  V args = SrunArgs(Job(1, 100LL << 20, 0, 2), p, nodes, o);
  V tail(std::find(args.begin(), args.end(), o.job_exec), args.end());
  CHECK(V(tail.begin(), tail.begin() + std::min<size_t>(3, tail.size())) ==
        V{"/opt/torc/bin/torc-job-exec", "--report", "/out/3/usage/7.2"});

  // FindJobExec: the executable beside the binary when there is one, else the binary.
  char tmpl[] = "/tmp/torc_find_job_exec_XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  const std::string dir = tmpl;
  CHECK(FindJobExec(dir + "/torc") == dir + "/torc");
  CHECK(FindJobExec("torc") == "torc");
  const std::string small = dir + "/torc-job-exec";
  { std::ofstream(small) << "#!/bin/sh\n"; }
  CHECK(FindJobExec(dir + "/torc") == dir + "/torc");  // there, but not executable
  chmod(small.c_str(), 0755);
  CHECK(FindJobExec(dir + "/torc") == small);
  unlink(small.c_str());
  rmdir(dir.c_str());
}
