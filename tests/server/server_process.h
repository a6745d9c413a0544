// Starts, kills and restarts a real `torc server run` process for the
// integration tests and benchmarks.
#pragma once

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "server/client.h"
#include "server/http.h"

namespace torc::testing {

/// A torc server child process with its own data directory.
class ServerProcess {
 public:
  ServerProcess(std::string torc_binary, std::string data_dir, std::vector<std::string> extra = {})
      : binary_(std::move(torc_binary)), dir_(std::move(data_dir)), extra_(std::move(extra)) {}
  ~ServerProcess() { Kill(SIGTERM); }

  /// Starts the server (port 0 the first time, then the port it had) and waits until it answers.
  void Start() {
    std::fflush(stdout);
    std::fflush(stderr);
    pid_ = fork();
    if (pid_ == 0) {
      std::vector<std::string> args = {binary_, "server", "run", "--data-dir", dir_};
      if (port_ == 0) args.insert(args.end(), {"--port", "0"});
      for (const auto& e : extra_) args.push_back(e);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      std::string log = dir_ + "/server.log";
      freopen(log.c_str(), "a", stdout);
      freopen(log.c_str(), "a", stderr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      // The old process is dead and reaped, so whoever answers is the new one.
      std::ifstream in(dir_ + "/server.url");
      std::string url;
      if (std::getline(in, url) && !url.empty()) {
        auto http = server::MakeHttpClient(url, "", std::chrono::milliseconds(1000));
        if (http->Request("GET", "/api/v1/health").status == 200) {
          url_ = url;
          port_ = std::stoi(url.substr(url.rfind(':') + 1));
          return;
        }
      }
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;  // reaped: never signal this pid again
        throw std::runtime_error("server exited at start");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    throw std::runtime_error("server did not start within 30 s");
  }

  /// Sends `sig` and reaps the process.
  void Kill(int sig) {
    if (pid_ <= 0) return;
    kill(pid_, sig);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  pid_t pid() const { return pid_; }
  const std::string& url() const { return url_; }
  const std::string& dir() const { return dir_; }

  std::unique_ptr<server::ApiClient> Client(std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    server::ClientOptions o;
    o.data_dir = dir_;
    o.url = url_;
    o.timeout = timeout;
    std::string error;
    auto c = server::ApiClient::Connect(o, &error);
    if (!c) throw std::runtime_error(error);
    return c;
  }

  /// Resident memory of the server in KiB (VmRSS, or VmHWM for the peak).
  long MemoryKiB(const char* field = "VmRSS:") const {
    std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
    std::string line;
    while (std::getline(in, line))
      if (line.rfind(field, 0) == 0) return std::atol(line.c_str() + std::string(field).size());
    return -1;
  }

 private:
  std::string binary_, dir_;
  std::vector<std::string> extra_;
  pid_t pid_ = -1;
  int port_ = 0;
  std::string url_;
};

/// A fresh temporary directory, removed at the end of the scope.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/torc-test-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() {
    if (!getenv("TORC_KEEP_TEST_DIRS")) std::system(("rm -rf '" + path_ + "'").c_str());
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace torc::testing
