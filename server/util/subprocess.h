// Running a short command and capturing what it prints, with a time limit: sbatch, squeue,
// scancel and action commands on the server; squeue and scontrol during the worker's
// allocation discovery. The one such runner in torc (job processes are the worker's
// ProcessTable, worker/process.h).
#pragma once

#include <string>
#include <vector>

namespace torc::util {

/// Runs argv (looked up in PATH) with stdin from /dev/null, its standard output into *out and
/// its standard error into *err (into *out too when err is null), and kills it after
/// `timeout_seconds` (then "(timed out after N s)" ends the error text). Returns the exit
/// code, 128 + signal, or -1 when it could not start (*err or *out then says why). Uses
/// posix_spawn with a clean signal mask: safe in a threaded server.
int RunCaptured(const std::vector<std::string>& argv, std::string* out, std::string* err,
                int timeout_seconds);

}  // namespace torc::util
