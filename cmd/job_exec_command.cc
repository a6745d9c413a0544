// The hidden `torc job-exec`: what a slurm-mode step runs on each node (worker/job_exec.h). Not
// a user command: the worker writes its command line (docs/worker.md, "What a job used"). The
// same options make the small `torc-job-exec` executable (job_exec_main.cc).
#include <CLI/CLI.hpp>

#include <memory>

#include "cmd/commands.h"
#include "worker/job_exec.h"

namespace torc::cmd {

void DefineJobExecOptions(CLI::App* cmd) {
  auto o = std::make_shared<worker::JobExecOptions>();
  cmd->add_option("--report", o->report_prefix, "Prefix of the node's figures file");
  cmd->add_option("--memory-limit", o->memory_limit_bytes, "Kill the job above this RSS (bytes)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--oom-exit-code", o->oom_exit_code, "Exit status after a memory kill");
  cmd->add_option("--sample-interval", o->sample_interval_seconds,
                  "Seconds between time series samples (0: none)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--runtime-limit", o->runtime_limit_seconds,
                  "Seconds the command may run before --term-signal (0: no limit)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--term-signal", o->term_signal, "Signal number sent at the runtime limit")
      ->check(CLI::Range(1, 64));
  cmd->add_option("--kill-after", o->kill_after_seconds,
                  "Seconds from --term-signal to SIGKILL")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--stop-via-usr2", o->stop_via_usr2,
                "A SIGUSR2 is torc's stop: send the job --term-signal instead");
  cmd->add_option("command", o->argv, "The command and its arguments, after --")->required();
  cmd->callback([o] {
    if (int rc = worker::RunJobExec(*o); rc != 0) throw CLI::RuntimeError(rc);
  });
}

void AddJobExecCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "job-exec", "Internal: run a job's command in a Slurm step and measure it (docs/worker.md)");
  cmd->group("");  // hidden
  DefineJobExecOptions(cmd);
}

}  // namespace torc::cmd
