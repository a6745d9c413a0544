// The subcommands of the `torc` binary, one registration function per group.
#pragma once

namespace CLI {
class App;
}

#include <string>

namespace torc::cmd {

/// The directory the command was started in (jobs run there, as with sbatch).
std::string CurrentDirectory();

/// `torc validate FILE` and `torc plan FILE [--json]`.
void AddSpecCommands(CLI::App& app);

/// `torc server run`, `submit`.
void AddClientCommands(CLI::App& app);

/// `torc status`, `watch`, `workflows list|show|delete`, `allocations list` (monitor_commands.cc).
void AddMonitorCommands(CLI::App& app);

/// `torc jobs list|show`, `logs`, `cancel`, `restart` (job_commands.cc).
void AddJobCommands(CLI::App& app);

/// `torc completion bash` and the hidden `torc help-markdown` (docs/cli.md), generated
/// from the whole command tree when they run.
void AddDocCommands(CLI::App& app);

/// `torc events [WF] [--follow] [--json]` (event_commands.cc).
void AddEventCommands(CLI::App& app);

/// `torc report WF --html FILE` (report_commands.cc).
void AddReportCommands(CLI::App& app);

/// `torc worker run` and `torc run`.
void AddRunCommands(CLI::App& app);

/// The hidden `torc job-exec` a slurm-mode step runs (job_exec_command.cc).
void AddJobExecCommand(CLI::App& app);
/// job-exec's options and action on `cmd`: the `torc job-exec` subcommand, or the whole of the
/// small `torc-job-exec` executable (job_exec_main.cc) that steps run when it is installed.
void DefineJobExecOptions(CLI::App* cmd);

}  // namespace torc::cmd
