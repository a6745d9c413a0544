// What the commands that talk to a server share: finding and calling it with
// one-line errors, choosing a workflow, and the output helpers (colour, tables,
// durations, sizes) every listing uses.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cmd/printable.h"
#include "server/client/client.h"
#include "spec/plan.h"

namespace CLI {
class App;
}

namespace torc::cmd {

/// Where the server is: --url, --data-dir and --ca-file of every client command.
struct Connection {
  std::string url, data_dir, ca_file;
};

/// Adds --url, --data-dir and --ca-file to a command.
void AddConnectionFlags(CLI::App* app, Connection* c);

/// Prints "torc: <message>" on stderr, each of its lines Printable, and ends the command
/// with exit code `code`.
[[noreturn]] void Die(const std::string& message, int code = 1);

/// Prints "torc: <message>" on stderr like Die, without ending the command.
void Warn(const std::string& message);

/// Prints a workflow file's errors on stderr, one Printable "file:line:col: message" a line.
void PrintFileErrors(const std::vector<spec::Diagnostic>& errors);

/// Finds the server (flags, TORC_API_URL, the data directory) or dies with one line.
std::unique_ptr<server::ApiClient> Connect(const Connection& c);

/// One API call; any failure dies with the server's message (or the transport error).
nlohmann::json CallOrDie(server::ApiClient& client, const std::string& method,
                         const std::string& path, const nlohmann::json& body = nullptr);
/// Dies (exit code `code`) with the message of a failed call: the server's, with every
/// line of its "errors", or the transport error; `suffix` is appended to its first line.
[[noreturn]] void DieOfCall(server::ApiClient& client, const server::ApiResult& r,
                            const std::string& suffix = "", int code = 1);

/// "/workflows/<id>".
std::string WorkflowPath(int64_t workflow);

/// The workflow a command without WF means: the newest workflow (highest id)
/// owned by $USER, else the newest of all. Dies when the server has none.
int64_t DefaultWorkflow(server::ApiClient& client);

/// Whether `text` is a workflow id (a decimal number above 0).
bool IsWorkflowId(const std::string& text);

/// The workflow an optional WF argument names: `text` as an id, or DefaultWorkflow when
/// `text` is empty. Dies with `usage` (e.g. "torc jobs list [WF]") when `text` is not an id.
int64_t WorkflowArgument(server::ApiClient& client, const std::string& text,
                         const std::string& usage);

/// Makes SIGINT and SIGTERM set a flag instead of ending the process, for commands that
/// poll until they are interrupted (they then exit 130).
void CatchInterrupts();
/// Sleeps `seconds` in short steps; false as soon as SIGINT or SIGTERM came (CatchInterrupts).
bool SleepUnlessInterrupted(double seconds);

/// Every job of a workflow matching the filters (pages through the API).
nlohmann::json AllJobs(server::ApiClient& client, int64_t workflow, const std::string& status,
                       const std::string& name_regex);

/// Colour on a terminal: `mode` is auto (a terminal and NO_COLOR unset, TERM not
/// dumb), always or never.
bool UseColor(const std::string& mode, std::FILE* stream);
/// Adds --color auto|always|never to a command.
void AddColorFlag(CLI::App* app, std::string* mode);
/// `text` in the colour of a job state (or "bold"/"dim"), when `on`.
std::string Paint(bool on, const std::string& state, const std::string& text);

/// "1 error(s)", "3 error(s)": how every command counts the errors in a workflow file.
std::string ErrorCount(size_t n);

/// "42 ms", "3.5 s", "2m05s", "1h02m"; "-" for negative values.
std::string FormatSeconds(double seconds);
/// "512 B", "3.2 MiB"; "-" for negative values.
std::string FormatBytes(int64_t bytes);
/// Local time "2026-11-22 06:50:01"; "-" for 0.
std::string FormatTime(double epoch_seconds);

/// A plain text table: columns padded to the widest cell; a cell may carry a
/// state colour that does not count towards the width. Cells are printed Printable.
class Table {
 public:
  explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}
  /// One cell: its text and the colour it is printed in when colour is on.
  struct Cell {
    std::string text;
    std::string color;  // a job state, "bold", "dim" or ""
  };
  void Row(std::vector<Cell> cells) { rows_.push_back(std::move(cells)); }
  void Print(std::FILE* out, bool color, const std::string& indent = "") const;
  bool empty() const { return rows_.empty(); }

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<Cell>> rows_;
};

/// Markdown describing a command's --json output, shown by `torc help-markdown`
/// (docs/cli.md) under that command.
void DocumentJson(CLI::App* command, std::string markdown);
/// The markdown given to DocumentJson for `command`, or null.
const std::string* JsonDocOf(const CLI::App* command);

}  // namespace torc::cmd
