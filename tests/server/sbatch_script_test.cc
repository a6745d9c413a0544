// The generated batch script (server/sbatch_script.h): what it asks Slurm for.
#include "server/sbatch_script.h"

#include <doctest/doctest.h>

#include <string>

namespace {

using torc::server::SbatchScript;
using torc::server::ScriptContext;
using torc::server::WarningLeadSeconds;

struct Script {
  torc::spec::Plan plan;
  torc::spec::SlurmScheduler scheduler;
  ScriptContext context;

  Script() {
    plan.name = "wf";
    scheduler.name = "s";
    scheduler.nodes = 2;
    scheduler.walltime_seconds = 3600;
    context.torc_binary = "/bin/torc";
    context.workflow_id = 7;
    context.output_dir = "/out";
  }
  std::string Text() const { return SbatchScript(plan, scheduler, context); }
  /// How many lines of the script contain `text`.
  int Count(const std::string& text) const {
    const std::string s = Text();
    int n = 0;
    for (size_t p = s.find(text); p != std::string::npos; p = s.find(text, p + 1)) ++n;
    return n;
  }
};

TEST_CASE("the batch script asks for a warning signal to the batch shell before the end") {
  Script s;
  SUBCASE("the default stop lead (30 s) is raised to 60 s") {
    CHECK(WarningLeadSeconds(s.plan, s.scheduler) == 60);
    CHECK(s.Count("#SBATCH --signal=B:USR1@60\n") == 1);
  }
  SUBCASE("a longer stop lead is the lead") {
    s.plan.execution.sigterm_lead_seconds = 300;
    CHECK(s.Count("#SBATCH --signal=B:USR1@300\n") == 1);
  }
  SUBCASE("sigkill_headroom_seconds adds to the lead") {
    s.plan.execution.sigterm_lead_seconds = 30;
    s.plan.execution.sigkill_headroom_seconds = 60;
    CHECK(s.Count("#SBATCH --signal=B:USR1@90\n") == 1);
  }
  SUBCASE("at most half the walltime: a short allocation is not told to stop at its start") {
    s.scheduler.walltime_seconds = 60;
    CHECK(s.Count("#SBATCH --signal=B:USR1@30\n") == 1);
  }
  SUBCASE("at most Slurm's 65535 s") {
    s.scheduler.walltime_seconds = 7 * 86400;
    s.plan.execution.sigterm_lead_seconds = 86400;
    CHECK(s.Count("#SBATCH --signal=B:USR1@65535\n") == 1);
  }
  SUBCASE("one worker per node: the batch shell is srun, which forwards it to the workers") {
    s.context.one_worker_per_node = true;
    CHECK(s.Count("#SBATCH --signal=B:USR1@60\n") == 1);
  }
}

TEST_CASE("a --signal of the workflow's own wins over torc's") {
  Script s;
  SUBCASE("in the scheduler's extra") {
    s.scheduler.extra = "--requeue --signal=B:USR2@120";
    CHECK(s.Count("--signal") == 1);
    CHECK(s.Count("#SBATCH --signal=B:USR2@120\n") == 1);
  }
  SUBCASE("in the scheduler's extra, value as the next word") {
    s.scheduler.extra = "--signal B:USR1@90";
    CHECK(s.Count("B:USR1@60") == 0);
  }
  SUBCASE("in slurm_defaults") {
    s.plan.slurm_defaults = {{"signal", "USR1@200"}};
    CHECK(s.Count("--signal") == 1);
    CHECK(s.Count("#SBATCH --signal=USR1@200\n") == 1);
  }
  SUBCASE("an option that only starts like it is not it") {
    s.scheduler.extra = "--signals-are-not-this";
    CHECK(s.Count("#SBATCH --signal=B:USR1@60\n") == 1);
  }
}

}  // namespace

TEST_CASE("an action's idle_timeout reaches the worker (one per allocation, or one per node)") {
  Script s;
  CHECK(s.Count("--idle-timeout") == 0);  // the worker's default
  s.context.idle_timeout_seconds = 15;
  CHECK(s.Count(" --scheduler 's' --idle-timeout 15\n") == 1);
  s.context.one_worker_per_node = true;
  CHECK(s.Count(" --scheduler 's' --idle-timeout 15 --mode direct --this-node-only\n") == 1);
}

TEST_CASE("srun_mpi sets the MPI plugin of the srun that starts one worker per node") {
  Script s;
  s.context.one_worker_per_node = true;
  CHECK(s.Count(" --wait=0 --mpi=none --export=ALL ") == 1);  // torc's default: no wire-up
  s.plan.execution.srun_mpi = "pmix";
  CHECK(s.Count(" --mpi=none") == 0);
  CHECK(s.Count(" --wait=0 --mpi=pmix --export=ALL ") == 1);
  s.context.one_worker_per_node = false;  // one worker: no srun in the script
  CHECK(s.Count("--mpi") == 0);
}

TEST_CASE("one worker per node: the batch script reads the allocation once for all workers") {
  Script s;
  s.context.one_worker_per_node = true;
  CHECK(s.Count("export TORC_SLURM_JOB=\"$('scontrol' show job -o \"$SLURM_JOB_ID\" 2>/dev/null)\"\n") ==
        1);
  s.context.srun = "/opt/slurm/bin/srun";  // scontrol beside the srun the server was told of
  CHECK(s.Count("export TORC_SLURM_JOB=\"$('/opt/slurm/bin/scontrol' show job") == 1);
  s.context.one_worker_per_node = false;  // one worker reads it itself
  CHECK(s.Count("TORC_SLURM_JOB") == 0);
}

TEST_CASE("an action's max_parallel_jobs reaches each worker (one per allocation, or per node)") {
  Script s;
  CHECK(s.Count("--max-parallel-jobs") == 0);  // no cap: the resources decide
  s.context.max_parallel_jobs = 3;
  CHECK(s.Count(" --scheduler 's' --max-parallel-jobs 3\n") == 1);
  s.context.idle_timeout_seconds = 15;
  CHECK(s.Count(" --scheduler 's' --idle-timeout 15 --max-parallel-jobs 3\n") == 1);
  // Torc's meaning is per job runner: with one worker per node, each node's worker has the cap.
  s.context.one_worker_per_node = true;
  CHECK(s.Count(" --idle-timeout 15 --max-parallel-jobs 3 --mode direct --this-node-only\n") == 1);
}

TEST_CASE("Torc's start-up window grows with the workers that start together") {
  using torc::server::StartupWindowSeconds;
  CHECK(StartupWindowSeconds(0) == 0);
  CHECK(StartupWindowSeconds(1) == 0);
  CHECK(StartupWindowSeconds(2) == 2);
  CHECK(StartupWindowSeconds(10) == 10);
  CHECK(StartupWindowSeconds(11) == 10);  // 10 + 1 * 50 / 90, in whole seconds
  CHECK(StartupWindowSeconds(28) == 20);  // 10 + 18 * 50 / 90
  CHECK(StartupWindowSeconds(55) == 35);  // 10 + 45 * 50 / 90
  CHECK(StartupWindowSeconds(100) == 60);
  CHECK(StartupWindowSeconds(101) == 60);
  CHECK(StartupWindowSeconds(100000) == 60);
}

TEST_CASE("staggered_start: the workers get the window of all the workers of the request") {
  Script s;  // 2 nodes per allocation
  SUBCASE("off (torc's default): no delay, however many start") {
    s.context.allocations = 50;
    CHECK(s.Count("--startup-delay") == 0);
  }
  SUBCASE("on") {
    s.plan.execution.staggered_start = true;
    SUBCASE("one allocation, one worker: no delay") { CHECK(s.Count("--startup-delay") == 0); }
    SUBCASE("one allocation, a worker per node: 2 workers") {
      s.context.one_worker_per_node = true;
      CHECK(s.Count(" --scheduler 's' --startup-delay 2 --mode direct --this-node-only\n") == 1);
    }
    SUBCASE("8 allocations, one worker each: 8 s") {
      s.context.allocations = 8;
      CHECK(s.Count(" --scheduler 's' --startup-delay 8\n") == 1);
    }
    SUBCASE("20 allocations of 2 nodes, a worker per node: 40 workers, 26 s") {
      s.context.allocations = 20;
      s.context.one_worker_per_node = true;
      CHECK(s.Count(" --startup-delay 26 --mode direct") == 1);
    }
    SUBCASE("300 allocations: 60 s") {
      s.context.allocations = 300;
      CHECK(s.Count(" --startup-delay 60\n") == 1);
    }
  }
}
