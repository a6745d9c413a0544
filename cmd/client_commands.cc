// Commands that talk to a torc server: server run, submit, workflows, status,
// jobs, cancel, restart, events.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include <CLI/CLI.hpp>

#include "cmd/commands.h"
#include "server/client.h"
#include "server/server.h"
#include "spec/plan.h"

namespace torc::cmd {
namespace {

/// Options every client command shares.
struct Connection {
  std::string url, data_dir;
};

void AddConnectionFlags(CLI::App* app, Connection* c) {
  app->add_option("--url", c->url, "Server URL (default: TORC_API_URL, then <data-dir>/server.url)");
  app->add_option("--data-dir", c->data_dir, "Server data directory (default: TORC_DATA_DIR or ~/.torc)");
}

[[noreturn]] void Die(const std::string& message) {
  std::cerr << "torc: " << message << "\n";
  throw CLI::RuntimeError(1);
}

std::unique_ptr<server::ApiClient> Connect(const Connection& c) {
  server::ClientOptions o;
  o.url = c.url;
  o.data_dir = c.data_dir;
  std::string error;
  auto client = server::ApiClient::Connect(o, &error);
  if (!client) Die(error);
  return client;
}

nlohmann::json CallOrDie(server::ApiClient& client, const std::string& method,
                         const std::string& path, const nlohmann::json& body = nullptr) {
  server::ApiResult r = client.Call(method, path, body);
  if (!r.ok()) {
    std::string msg = client.Describe(r);
    if (r.body.is_object() && r.body.contains("errors"))
      for (const auto& e : r.body["errors"]) msg += "\n" + e.get<std::string>();
    Die(msg);
  }
  return r.body;
}

void PrintCounts(const nlohmann::json& status) {
  std::cout << "workflow " << status["workflow_id"] << " (" << status["name"].get<std::string>()
            << "): " << status["total"] << " jobs" << (status["complete"].get<bool>() ? ", complete" : "")
            << "\n";
  for (const auto& [state, n] : status["counts"].items())
    if (n.get<uint64_t>() > 0) std::cout << "  " << state << ": " << n << "\n";
}

}  // namespace

void AddClientCommands(CLI::App& app) {
  // torc server run
  auto* server_cmd = app.add_subcommand("server", "Run the torc server");
  server_cmd->require_subcommand(1);
  auto opts = std::make_shared<server::ServerOptions>();
  auto* run = server_cmd->add_subcommand("run", "Start the server (stops on SIGTERM/SIGINT)");
  run->add_option("--host", opts->host, "Address to listen on (default 127.0.0.1)");
  run->add_option("--port", opts->port, "Port; 0 picks a free one (default: the previous port, else 8080)");
  run->add_option("--data-dir", opts->data_dir, "Data directory (default: TORC_DATA_DIR or ~/.torc)");
  run->add_option("--heartbeat-seconds", opts->service.core.heartbeat_seconds,
                  "Worker heartbeat period; 3 missed heartbeats expire a lease (default 30)");
  run->add_option("--max-body-bytes", opts->max_body_bytes, "Largest request body accepted");
  run->footer("Example:\n  torc server run --port 0 --data-dir /scratch/$USER/torc");
  run->callback([opts] {
    int rc = server::RunServer(*opts);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });

  // torc submit FILE
  auto conn = std::make_shared<Connection>();
  auto file = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  auto* submit = app.add_subcommand("submit", "Create a workflow on the server from a workflow file");
  submit->add_option("file", *file, "Workflow file (YAML or JSON)")->required();
  submit->add_flag("--json", *json, "Print {\"workflow_id\": N}");
  AddConnectionFlags(submit, conn.get());
  submit->footer("Example:\n  torc submit examples/sweep_pipeline.yaml");
  submit->callback([conn, file, json] {
    std::ifstream in(*file, std::ios::binary);
    if (!in) Die("cannot read " + *file);
    std::stringstream text;
    text << in.rdbuf();
    // Validate locally first: errors come out exactly as `torc validate` prints them.
    auto local = spec::ParsePlan(text.str(), *file);
    if (!local.ok()) {
      for (const auto& e : local.errors) std::cerr << e.ToString() << "\n";
      Die(std::to_string(local.errors.size()) + " error(s) in " + *file + "; nothing was created");
    }
    auto client = Connect(*conn);
    const char* user = std::getenv("USER");
    auto body = CallOrDie(*client, "POST", "/workflows",
                          {{"spec_text", text.str()},
                           {"file_name", *file},
                           {"working_dir", CurrentDirectory()},
                           {"owner", user ? user : ""}});
    if (*json) {
      std::cout << nlohmann::json{{"workflow_id", body["workflow_id"]}}.dump() << "\n";
    } else {
      std::cout << "created workflow " << body["workflow_id"] << " (" << local.plan->name << ", "
                << body["jobs"] << " jobs)\n"
                << body["workflow_id"] << "\n";
    }
  });

  // torc workflows list|show|delete
  auto* wfs = app.add_subcommand("workflows", "List, show or delete workflows");
  wfs->require_subcommand(1);
  auto wconn = std::make_shared<Connection>();
  auto wjson = std::make_shared<bool>(false);
  auto* list = wfs->add_subcommand("list", "List the server's workflows");
  list->add_flag("--json", *wjson, "Print JSON");
  AddConnectionFlags(list, wconn.get());
  list->footer("Example:\n  torc workflows list");
  list->callback([wconn, wjson] {
    auto client = Connect(*wconn);
    auto body = CallOrDie(*client, "GET", "/workflows");
    if (*wjson) {
      std::cout << body["workflows"].dump(2) << "\n";
      return;
    }
    std::printf("%-6s %-30s %-10s %8s %10s %8s\n", "ID", "NAME", "OWNER", "JOBS", "COMPLETED", "STATE");
    for (const auto& w : body["workflows"]) {
      std::printf("%-6lld %-30s %-10s %8llu %10llu %8s\n", w["workflow_id"].get<long long>(),
                  w["name"].get<std::string>().c_str(), w["owner"].get<std::string>().c_str(),
                  w["total"].get<unsigned long long>(),
                  w["counts"]["completed"].get<unsigned long long>(),
                  w["complete"].get<bool>() ? "done" : "active");
    }
  });
  auto wid = std::make_shared<int64_t>(0);
  auto* show = wfs->add_subcommand("show", "Show one workflow");
  show->add_option("workflow", *wid, "Workflow id")->required();
  AddConnectionFlags(show, wconn.get());
  show->callback([wconn, wid] {
    auto client = Connect(*wconn);
    std::cout << CallOrDie(*client, "GET", "/workflows/" + std::to_string(*wid)).dump(2) << "\n";
  });
  auto* del = wfs->add_subcommand("delete", "Delete a workflow and everything recorded about it");
  del->add_option("workflow", *wid, "Workflow id")->required();
  AddConnectionFlags(del, wconn.get());
  del->callback([wconn, wid] {
    auto client = Connect(*wconn);
    CallOrDie(*client, "DELETE", "/workflows/" + std::to_string(*wid));
    std::cout << "deleted workflow " << *wid << "\n";
  });

  // torc status WF
  auto sconn = std::make_shared<Connection>();
  auto sid = std::make_shared<int64_t>(0);
  auto sjson = std::make_shared<bool>(false);
  auto* status = app.add_subcommand("status", "Job counts per state of a workflow");
  status->add_option("workflow", *sid, "Workflow id")->required();
  status->add_flag("--json", *sjson, "Print JSON (workflow_id, total, counts, ...)");
  AddConnectionFlags(status, sconn.get());
  status->footer("Example:\n  torc status 3 --json");
  status->callback([sconn, sid, sjson] {
    auto client = Connect(*sconn);
    auto body = CallOrDie(*client, "GET", "/workflows/" + std::to_string(*sid) + "/status");
    if (*sjson) {
      std::cout << body.dump(2) << "\n";
      return;
    }
    PrintCounts(body);
    for (const auto& u : body["unclaimable"])
      std::cout << "  cannot run: " << u["job"].get<std::string>() << ": "
                << u["reason"].get<std::string>() << "\n";
  });

  // torc jobs list WF
  auto* jobs = app.add_subcommand("jobs", "List a workflow's jobs");
  jobs->require_subcommand(1);
  auto jconn = std::make_shared<Connection>();
  auto jid = std::make_shared<int64_t>(0);
  auto jstatus = std::make_shared<std::string>();
  auto jname = std::make_shared<std::string>();
  auto jjson = std::make_shared<bool>(false);
  auto* jlist = jobs->add_subcommand("list", "List jobs with their state, attempt and exit code");
  jlist->add_option("workflow", *jid, "Workflow id")->required();
  jlist->add_option("--status", *jstatus, "Only jobs in this state");
  jlist->add_option("--name", *jname, "Only jobs whose name matches this regex");
  jlist->add_flag("--json", *jjson, "Print a JSON array");
  AddConnectionFlags(jlist, jconn.get());
  jlist->footer("Example:\n  torc jobs list 3 --status failed");
  jlist->callback([jconn, jid, jstatus, jname, jjson] {
    auto client = Connect(*jconn);
    nlohmann::json all = nlohmann::json::array();
    for (int64_t offset = 0;; offset += 10000) {
      std::string path = "/workflows/" + std::to_string(*jid) + "/jobs?limit=10000&offset=" +
                         std::to_string(offset);
      if (!jstatus->empty()) path += "&status=" + server::UrlEncode(*jstatus);
      if (!jname->empty()) path += "&name=" + server::UrlEncode(*jname);
      auto body = CallOrDie(*client, "GET", path);
      for (auto& j : body["jobs"]) all.push_back(std::move(j));
      if (static_cast<int64_t>(all.size()) >= body["total"].get<int64_t>()) break;
    }
    if (*jjson) {
      std::cout << all.dump(2) << "\n";
      return;
    }
    std::printf("%-8s %-40s %-11s %7s %9s\n", "ID", "NAME", "STATUS", "ATTEMPT", "EXIT");
    for (const auto& j : all) {
      std::string exit = j["exit_code"].is_null() ? "-" : std::to_string(j["exit_code"].get<int>());
      std::printf("%-8u %-40s %-11s %7u %9s\n", j["id"].get<unsigned>(),
                  j["name"].get<std::string>().c_str(), j["status"].get<std::string>().c_str(),
                  j["attempt"].get<unsigned>(), exit.c_str());
    }
  });

  // torc cancel WF / torc restart WF
  for (const char* verb : {"cancel", "restart"}) {
    auto cconn = std::make_shared<Connection>();
    auto cid = std::make_shared<int64_t>(0);
    auto names = std::make_shared<std::vector<std::string>>();
    std::string what = verb;
    auto* cmd = app.add_subcommand(
        verb, what == "cancel" ? "Cancel a workflow (or some of its jobs)"
                               : "Run failed/canceled/terminated jobs again (and their dependents)");
    cmd->add_option("workflow", *cid, "Workflow id")->required();
    cmd->add_option("jobs", *names, "Job names (default: all)");
    AddConnectionFlags(cmd, cconn.get());
    cmd->footer("Example:\n  torc " + what + " 3");
    cmd->callback([cconn, cid, names, what] {
      auto client = Connect(*cconn);
      nlohmann::json body = nlohmann::json::object();
      if (!names->empty()) body["jobs"] = *names;
      auto r = CallOrDie(*client, "POST", "/workflows/" + std::to_string(*cid) + "/" + what, body);
      std::cout << (what == "cancel" ? "canceled " : "restarted ")
                << r[what == "cancel" ? "canceled" : "restarted"] << " jobs\n";
    });
  }
}

}  // namespace torc::cmd
