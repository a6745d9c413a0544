// The client's side of an update (docs/rerun.md): what the disk says of a workflow's files,
// sent with its file to POST /workflows/W/update by `torc run` again, `torc submit --update`
// and `torc plan --against`, and how the answer is told.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "server/client/client.h"
#include "spec/plan.h"

namespace torc::cmd {

/// The stamps ([size, mtime_ns], with `hash` [size, mtime_ns, "fnv1a64:<hex>"] of the content) of
/// the plan's pure input files (read by a job, produced by none) that exist, by path as the
/// file writes it; a relative path is taken from `dir`.
nlohmann::json InputStamps(const spec::Plan& plan, const std::string& dir, bool hash = false);

/// "fnv1a64:<16 hex digits>" of the file's bytes, or "" with *error when it cannot be read.
std::string ContentHash(const std::string& path, std::string* error);

/// The plan's declared output files that do not exist (paths as the file writes them).
nlohmann::json MissingOutputs(const spec::Plan& plan, const std::string& dir);

/// Sends the update of workflow `wf`: the file's text, name and "@file" parameter files, and
/// the disk facts read from `dir` (the workflow's working dir). `dry_run`: the server only
/// says what would rerun.
server::ApiResult SendUpdate(server::ApiClient& client, int64_t wf, const std::string& text,
                             const std::string& file_name, const spec::Plan& plan,
                             const std::string& dir, bool dry_run, bool hash = false);

/// Whether a failed update says the file's jobs or dependencies differ from the workflow's
/// (it can only be submitted as a new workflow).
bool IsOutOfScope(const server::ApiResult& r);

/// `torc submit FILE --update WF` and `torc plan FILE --against WF`: sends the update (dry:
/// only asks) and prints what reruns and why on stdout (`json`: the answer); dies with the
/// server's message when it is refused.
void UpdateOrDie(server::ApiClient& client, int64_t wf, const std::string& text,
                 const std::string& file_name, const spec::Plan& plan, bool dry_run, bool json,
                 bool hash = false);

/// What an update answer says, for people: "N of M jobs are out of date:" (or, dry, "would
/// run again") and one line per job with why, at most `max_jobs` of them.
std::string DescribeUpdate(const nlohmann::json& answer, size_t max_jobs = 50);

}  // namespace torc::cmd
