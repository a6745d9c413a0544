// Starting a server and giving it work: server run, submit. (Watching and
// steering workflows: monitor_commands.cc and job_commands.cc.)
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "cmd/client_support.h"
#include "cmd/slurm_setup.h"
#include "cmd/commands.h"
#include "cmd/rerun_client.h"
#include "cmd/workflow_file.h"
#include "server/client/client.h"
#include "server/util/data_dir.h"
#include "server/server.h"
#include "server/users.h"
#include "spec/plan.h"

namespace torc::cmd {
namespace {

// torc server run
void AddServerRunCommand(CLI::App* server_cmd) {
  auto opts = std::make_shared<server::ServerOptions>();
  auto* run = server_cmd->add_subcommand("run", "Start the server (stops on SIGTERM/SIGINT)");
  run->add_option("--host", opts->host,
                  "IPv4 address to listen on (default 127.0.0.1); 0.0.0.0 for every interface, so "
                  "that compute nodes can reach the server");
  run->add_option("--advertise-url", opts->advertise_url,
                  "The URL compute nodes and clients are given (server.url, batch scripts), e.g. "
                  "http://login1.cluster; without a port the listening port is added (default: "
                  "--host, or for 0.0.0.0 this host's name or first non-loopback address)");
  run->add_option("--port", opts->port, "Port; 0 picks a free one (default: the previous port, else 8080)");
  auto* tls_on = run->add_flag_callback(
      "--tls", [opts] { opts->tls = server::ServerOptions::Tls::kOn; },
      "Serve HTTPS also on loopback (it is served whenever --host is not loopback)");
  run->add_flag_callback(
         "--no-tls", [opts] { opts->tls = server::ServerOptions::Tls::kOff; },
         "Serve plain HTTP: only with a loopback --host, where nothing crosses the network")
      ->excludes(tls_on);
  run->add_option("--tls-cert", opts->tls_cert,
                  "A site's certificate (PEM, with its chain) to serve instead of the self-signed "
                  "one torc makes in the data directory; with --tls-key");
  run->add_option("--tls-key", opts->tls_key, "The key of --tls-cert (PEM, not encrypted)");
  run->add_option("--data-dir", opts->data_dir, "Data directory (default: TORC_DATA_DIR or ~/.torc)");
  run->add_option("--heartbeat-seconds", opts->service.core.heartbeat_seconds,
                  "Worker heartbeat period; 3 missed heartbeats expire a lease (default 30)");
  run->add_option("--max-body-bytes", opts->max_body_bytes,
                  "Largest request body accepted; larger ones get 413 (default 67108864, 64 MiB)");
  run->add_option("--max-header-bytes", opts->max_header_bytes,
                  "Largest request line plus headers accepted; larger ones get 431 (default "
                  "65536, 64 KiB; at least 1024)")
      ->check(CLI::Range(size_t{1024}, size_t{1} << 40));
  run->add_option("--max-connections-per-client", opts->max_connections_per_client,
                  "Most open connections from one client address; more get 503 (default 256; "
                  "local workers all connect from 127.0.0.1)")
      ->check(CLI::PositiveNumber);
  // Workflow limits (docs/limits.md): a submit over one gets 400 with the file's error.
  auto& limits = opts->service.limits;
  run->add_option("--max-jobs", limits.max_jobs,
                  "Most jobs a workflow may expand to (default 10000000)");
  run->add_option("--max-parameter-values", limits.max_parameter_values,
                  "Most values of all of a workflow's parameters together (default 10000000)");
  run->add_option("--max-combinations", limits.max_combinations,
                  "Most parameter combinations a workflow may expand, fan-in included "
                  "(default 50000000)");
  run->add_option("--max-data-values", limits.max_data_values,
                  "Most values in all of a workflow's user_data (default 1000000)");
  run->add_option("--max-regex-tests", limits.max_regex_tests,
                  "Most job names a workflow's regular expressions may test (default 500000000)");
  run->add_flag("--multi-user", opts->multi_user,
                "Each user has a token of their own (torc server add-user) and sees only their "
                "own workflows (docs/security.md)");
  run->add_option("--db-busy-timeout-ms", opts->store.busy_timeout_ms,
                  "How long a write waits for a database another process locked before the "
                  "request gets 503 (default 500)");
  run->footer("Example:\n  torc server run --port 0 --data-dir /scratch/$USER/torc");
  run->callback([opts] {
    int rc = server::RunServer(*opts);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

// torc server add-user NAME
void AddUserCommand(CLI::App* server_cmd) {
  auto user = std::make_shared<std::string>();
  auto user_dir = std::make_shared<std::string>();
  auto user_token_file = std::make_shared<std::string>();
  auto* add_user = server_cmd->add_subcommand(
      "add-user", "Give a user of a --multi-user server a token (a new one if they had one)");
  add_user->add_option("name", *user, "User name (their workflows' owner)")->required();
  add_user->add_option("--data-dir", *user_dir, "The server's data directory (default: TORC_DATA_DIR or ~/.torc)");
  add_user->add_option("--token-file", *user_token_file,
                       "Where to write the token, mode 0600 (default <data-dir>/tokens/NAME)");
  add_user->footer("Example (as root, the file then belongs to alice):\n"
                   "  torc server add-user alice --data-dir /srv/torc --token-file ~alice/.torc-token");
  add_user->callback([user, user_dir, user_token_file] {
    std::string dir = util::ResolveDataDir(*user_dir);
    std::string path = user_token_file->empty() ? dir + "/tokens/" + *user : *user_token_file;
    std::string error;
    if (!server::AddUser(dir, *user, path, &error)) Die(error);
    std::string url, url_error;
    if (!util::ReadServerUrl(dir, &url, &url_error) || url.empty()) url = "<the server's URL>";
    // An https server: they trust its certificate (public) by name; a copy of it does too.
    std::string trust;
    if (url.rfind("https://", 0) == 0) trust = " TORC_CA_FILE=" + dir + "/server.crt";
    std::cout << "user " << *user << ": token in " << path << " (mode 0600)\n"
              << "they connect with: TORC_TOKEN_FILE=" << path << " TORC_API_URL=" << url
              << trust << " torc workflows list\n";
  });
}

// torc submit FILE
void AddSubmitCommand(CLI::App& app) {
  auto conn = std::make_shared<Connection>();
  auto file = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  auto slurm = std::make_shared<bool>(false);
  auto strict = std::make_shared<bool>(false);
  auto no_input_check = std::make_shared<bool>(false);
  auto setup = std::make_shared<SetupFlags>();
  auto update = std::make_shared<std::string>();
  auto dry_run = std::make_shared<bool>(false);
  auto hash = std::make_shared<bool>(false);
  auto* submit = app.add_subcommand("submit", "Create a workflow on the server from a workflow file");
  submit->add_option("file", *file, "Workflow file (YAML or JSON)")->required();
  submit->add_flag("--json", *json, "Print {\"workflow_id\": N}");
  submit->add_flag("--slurm", *slurm,
                   "First write Slurm schedulers and actions for the jobs that have none (as "
                   "`torc slurm generate`), then submit that");
  AddSetupFlags(submit, setup.get());
  submit->add_flag("--strict", *strict, "Refuse a file with warnings (keys torc does not act on, "
                                        "...): nothing is created");
  submit->add_flag("--no-input-check", *no_input_check,
                   "Do not refuse the file when a job's input file that no job produces does "
                   "not exist (something makes it after the start)");
  auto* update_opt = submit->add_option(
      "--update", *update,
      "Update workflow WF from the file instead (same jobs and dependencies): the jobs the "
      "changes make out of date and what is downstream run again (docs/rerun.md)");
  submit->add_flag("--hash", *hash,
                   "Record (and with --update, compare) input files by a hash of their content, "
                   "not their modification time (every input file is read)");
  submit->add_flag("--dry-run", *dry_run, "With --update: list what would run again and why; "
                                          "change nothing")
      ->needs(update_opt);
  AddConnectionFlags(submit, conn.get());
  submit->footer("Examples:\n  torc submit examples/sweep_pipeline.yaml\n"
                 "  torc submit workflow.yaml --slurm --account myproject\n"
                 "  torc submit examples/sweep_pipeline.yaml --update 3 --dry-run");
  submit->callback([conn, file, json, slurm, strict, no_input_check, setup, update, dry_run,
                    hash] {
    // Validate locally first: errors come out exactly as `torc validate` prints them.
    std::string text;
    auto local = LoadWorkflowFile(*file, &text);
    if (!local.ok()) {
      PrintFileErrors(local.errors);
      Die(std::to_string(local.errors.size()) + " error(s) in " + *file + "; nothing was created");
    }
    // With --slurm, what the file lacks for Slurm is what is added: only its keys are warned of.
    if (!ReportWarnings(*local.plan, *strict, *slurm)) Die("nothing was created");
    if (!*no_input_check && !CheckInputsExist(*local.plan, *file)) Die("nothing was created");
    if (*slurm) {
      std::string summary;
      bool as_json = file->size() >= 5 && file->compare(file->size() - 5, 5, ".json") == 0;
      text = GenerateSetupOrDie(*file, *setup, as_json, &summary);
      std::cerr << summary;
    }
    auto client = Connect(*conn);
    if (!update->empty()) {
      int64_t wf = WorkflowArgument(*client, *update, "torc submit FILE --update WF");
      UpdateOrDie(*client, wf, text, *file, *local.plan, *dry_run, *json, *hash);
      return;
    }
    const char* user = std::getenv("USER");
    nlohmann::json request = {{"spec_text", text},
                              {"file_name", *file},
                              {"working_dir", CurrentDirectory()},
                              {"owner", user ? user : ""},
                              {"input_stamps", InputStamps(*local.plan, CurrentDirectory(), *hash)}};
    // The server cannot read this machine's files: "@file" parameter values go with the text.
    if (!local.plan->parameter_files.empty())
      request["parameter_files"] = local.plan->parameter_files;
    auto body = CallOrDie(*client, "POST", "/workflows", request);
    if (*json) {
      std::cout << nlohmann::json{{"workflow_id", body["workflow_id"]}}.dump() << "\n";
    } else {
      std::cout << "created workflow " << body["workflow_id"] << " (" << Printable(local.plan->name)
                << ", " << body["jobs"] << " jobs)\n"
                << body["workflow_id"] << "\n";
    }
  });
}

}  // namespace

void AddClientCommands(CLI::App& app) {
  auto* server_cmd = app.add_subcommand("server", "Run the torc server");
  server_cmd->require_subcommand(1);
  server_cmd->footer("Example:\n  torc server run &");
  AddServerRunCommand(server_cmd);
  AddUserCommand(server_cmd);
  AddSubmitCommand(app);
}

}  // namespace torc::cmd
