#include "cmd/client_support.h"

#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <map>
#include <thread>

namespace torc::cmd {

void AddConnectionFlags(CLI::App* app, Connection* c) {
  app->add_option("--url", c->url,
                  "Server URL (default: TORC_API_URL, then <data-dir>/server.url)");
  app->add_option("--data-dir", c->data_dir,
                  "Server data directory (default: TORC_DATA_DIR or ~/.torc)");
  app->add_option("--ca-file", c->ca_file,
                  "For an https:// server: trust certificates of these CAs (PEM) naming its host, "
                  "instead of the key of <data-dir>/server.crt (default: TORC_CA_FILE)");
}

void Warn(const std::string& message) {
  std::cout.flush();
  // Messages quote names and what the server said: escaped, line by line.
  std::string shown;
  for (size_t start = 0; start <= message.size();) {
    size_t end = std::min(message.find('\n', start), message.size());
    shown.append(start ? "\n" : "").append(Printable(message.substr(start, end - start)));
    start = end + 1;
  }
  std::cerr << "torc: " << shown << "\n";
}

void Die(const std::string& message, int code) {
  Warn(message);
  throw CLI::RuntimeError(code);
}

void PrintFileErrors(const std::vector<spec::Diagnostic>& errors) {
  for (const auto& e : errors) std::cerr << Printable(e.ToString()) << "\n";
}

std::unique_ptr<server::ApiClient> Connect(const Connection& c) {
  server::ClientOptions o;
  o.url = c.url;
  o.data_dir = c.data_dir;
  o.ca_file = c.ca_file;
  std::string error;
  auto client = server::ApiClient::Connect(o, &error);
  if (!client) Die(error);
  return client;
}

void DieOfCall(server::ApiClient& client, const server::ApiResult& r, const std::string& suffix,
               int code) {
  // One line per error: a line break inside one is shown escaped (Die keeps these).
  std::string msg = Printable(client.Describe(r) + suffix);
  if (r.body.is_object() && r.body.contains("errors") && r.body["errors"].is_array())
    for (const auto& e : r.body["errors"])
      if (e.is_string()) msg.append("\n").append(Printable(e.get<std::string>()));
  Die(msg, code);
}

nlohmann::json CallOrDie(server::ApiClient& client, const std::string& method,
                         const std::string& path, const nlohmann::json& body) {
  server::ApiResult r = client.Call(method, path, body);
  if (!r.ok()) DieOfCall(client, r);
  return r.body;
}

std::string WorkflowPath(int64_t workflow) { return "/workflows/" + std::to_string(workflow); }

int64_t DefaultWorkflow(server::ApiClient& client) {
  auto body = CallOrDie(client, "GET", "/workflows");
  const char* user_env = std::getenv("USER");
  std::string user = user_env ? user_env : "";
  int64_t newest = 0, newest_mine = 0;
  for (const auto& w : body["workflows"]) {
    int64_t id = w.value("workflow_id", int64_t{0});
    newest = std::max(newest, id);
    if (!user.empty() && w.value("owner", "") == user) newest_mine = std::max(newest_mine, id);
  }
  if (newest == 0) Die("the server has no workflows; submit one with 'torc submit FILE'");
  return newest_mine ? newest_mine : newest;
}

bool IsWorkflowId(const std::string& text) {
  return !text.empty() && text.size() < 19 &&
         text.find_first_not_of("0123456789") == std::string::npos &&
         text.find_first_not_of('0') != std::string::npos;
}

int64_t WorkflowArgument(server::ApiClient& client, const std::string& text,
                         const std::string& usage) {
  if (text.empty()) return DefaultWorkflow(client);
  if (!IsWorkflowId(text))
    Die("'" + text + "' is not a workflow id; usage: " + usage +
        " (WF: a number; without it, your newest workflow)");
  return std::stoll(text);
}

namespace {
volatile std::sig_atomic_t g_interrupted = 0;
void OnInterrupt(int) { g_interrupted = 1; }
}  // namespace

void CatchInterrupts() {
  struct sigaction sa {};
  sa.sa_handler = OnInterrupt;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

bool SleepUnlessInterrupted(double seconds) {
  for (double slept = 0; slept < seconds && !g_interrupted; slept += 0.05)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  return !g_interrupted;
}

nlohmann::json AllJobs(server::ApiClient& client, int64_t workflow, const std::string& status,
                       const std::string& name_regex) {
  nlohmann::json all = nlohmann::json::array();
  constexpr int64_t kPage = 10000;
  for (int64_t offset = 0;; offset += kPage) {
    std::string path = WorkflowPath(workflow) + "/jobs?limit=" + std::to_string(kPage) +
                       "&offset=" + std::to_string(offset);
    if (!status.empty()) path.append("&status=").append(server::UrlEncode(status));
    if (!name_regex.empty()) path.append("&name=").append(server::UrlEncode(name_regex));
    auto body = CallOrDie(client, "GET", path);
    size_t got = body["jobs"].size();
    for (auto& j : body["jobs"]) all.push_back(std::move(j));
    if (got == 0 || static_cast<int64_t>(all.size()) >= body["total"].get<int64_t>()) break;
  }
  return all;
}

bool UseColor(const std::string& mode, std::FILE* stream) {
  if (mode == "always") return true;
  if (mode == "never") return false;
  const char* no_color = std::getenv("NO_COLOR");
  if (no_color && *no_color) return false;
  const char* term = std::getenv("TERM");
  if (term && std::string(term) == "dumb") return false;
  return isatty(fileno(stream)) == 1;
}

void AddColorFlag(CLI::App* app, std::string* mode) {
  app->add_option("--color", *mode, "auto (on a terminal unless NO_COLOR is set), always or never")
      ->check(CLI::IsMember({"auto", "always", "never"}));
}

std::string Paint(bool on, const std::string& state, const std::string& text) {
  static const std::map<std::string, const char*> kCodes = {
      {"completed", "32"}, {"failed", "31;1"}, {"canceled", "35"}, {"terminated", "35"},
      {"running", "36"},   {"claimed", "36"},  {"ready", "33"},    {"blocked", "2"},
      {"disabled", "2"},   {"bold", "1"},      {"dim", "2"},       {"pending", "33"},
      {"done", "32"}};
  if (!on || text.empty()) return text;
  auto it = kCodes.find(state);
  if (it == kCodes.end()) return text;
  return std::string("\033[") + it->second + "m" + text + "\033[0m";
}

std::string ErrorCount(size_t n) { return std::to_string(n) + " error(s)"; }

std::string FormatSeconds(double s) {
  if (s < 0 || std::isnan(s)) return "-";
  char buf[48];
  if (s < 1)
    std::snprintf(buf, sizeof buf, "%.0f ms", s * 1000);
  else if (s < 60)
    std::snprintf(buf, sizeof buf, "%.1f s", s);
  else if (s < 3600)
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(s) / 60,
                  static_cast<long long>(s) % 60);
  else
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(s) / 3600,
                  static_cast<long long>(s) / 60 % 60);
  return buf;
}

std::string FormatBytes(int64_t bytes) {
  if (bytes < 0) return "-";
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

std::string FormatTime(double epoch) {
  if (epoch <= 0) return "-";
  std::time_t t = static_cast<std::time_t>(epoch);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

void Table::Print(std::FILE* out, bool color, const std::string& indent) const {
  // Cells come from users (names, reasons, commands): every listing escapes them here.
  std::vector<std::vector<Cell>> rows;
  rows.reserve(rows_.size() + 1);
  rows.emplace_back();
  for (const auto& h : header_) rows[0].push_back({Printable(h), ""});
  for (const auto& row : rows_) {
    rows.emplace_back();
    for (const auto& cell : row) rows.back().push_back({Printable(cell.text), cell.color});
  }
  std::vector<size_t> width(header_.size());
  for (const auto& row : rows)
    for (size_t c = 0; c < row.size() && c < width.size(); ++c)
      width[c] = std::max(width[c], row[c].text.size());
  auto line = [&](const std::vector<Cell>& cells) {
    std::string s = indent;
    for (size_t c = 0; c < cells.size() && c < width.size(); ++c) {
      bool last = c + 1 == cells.size();
      std::string pad = last ? "" : std::string(width[c] - cells[c].text.size() + 2, ' ');
      s.append(Paint(color, cells[c].color, cells[c].text)).append(pad);
    }
    while (!s.empty() && s.back() == ' ') s.pop_back();
    std::fprintf(out, "%s\n", s.c_str());
  };
  for (const auto& row : rows) line(row);
}

namespace {
std::map<const CLI::App*, std::string>& JsonDocs() {
  static std::map<const CLI::App*, std::string> docs;
  return docs;
}
}  // namespace

void DocumentJson(CLI::App* command, std::string markdown) {
  JsonDocs()[command] = std::move(markdown);
}

const std::string* JsonDocOf(const CLI::App* command) {
  auto it = JsonDocs().find(command);
  return it == JsonDocs().end() ? nullptr : &it->second;
}

}  // namespace torc::cmd
