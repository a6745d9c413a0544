// Starts, kills and restarts a real `torc server run` process for the
// integration tests and benchmarks.
#pragma once

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "server/client/client.h"
#include "server/client/http_client.h"
#include "server/http/http.h"

namespace torc::testing {

/// A free TCP port on 127.0.0.1 for a server that is killed and restarted on the same port.
/// Not from the ephemeral range (32768-60999 here): while the server is down, any process's
/// `--port 0` or outgoing connection could take an ephemeral port, and the clients would then
/// talk to that. (A bodyless 404 seen by a client of a restarting server was first blamed on
/// this; its cause was cpprestsdk answering in the moment the server starts, which the client
/// now retries: server/client.cc.) 20000-32699, last two digits 50-99: the local Slurm
/// clusters' ports (16817 + 100 k, slurmd +10...) end in 17-40.
inline int FreeFixedPort() {
  std::random_device rd;
  std::mt19937 rng(rd());
  for (int tries = 0; tries < 200; ++tries) {
    int port = 20000 + 100 * static_cast<int>(rng() % 127) + 50 + static_cast<int>(rng() % 50);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) break;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool free = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    close(fd);
    if (free) return port;
  }
  return 0;  // fall back to an ephemeral port
}

// Live server children, so that a test binary that crashes or aborts (a failed REQUIRE in a
// thread, a segfault) takes them along instead of leaving them running. doctest reports a fatal
// signal with its own handler and then raises it again with the previous one: this.
namespace children {
inline constexpr int kSlots = 64;
inline volatile sig_atomic_t pids[kSlots];

inline void KillAll() {
  for (int i = 0; i < kSlots; ++i)
    if (pids[i] > 0) kill(static_cast<pid_t>(pids[i]), SIGKILL);
}

inline void OnFatalSignal(int sig) {
  KillAll();
  signal(sig, SIG_DFL);
  raise(sig);
}

// Installed before main, so before doctest's handlers, which chain to it.
inline const bool installed = [] {
  for (int sig : {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTERM, SIGINT}) {
    struct sigaction sa {};
    sa.sa_handler = OnFatalSignal;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, nullptr);
  }
  return true;
}();

inline void Add(pid_t pid) {
  for (int i = 0; i < kSlots; ++i)
    if (pids[i] == 0) {
      pids[i] = pid;
      return;
    }
}

inline void Remove(pid_t pid) {
  for (int i = 0; i < kSlots; ++i)
    if (pids[i] == pid) pids[i] = 0;
}
}  // namespace children

/// A torc server child process with its own data directory.
class ServerProcess {
 public:
  ServerProcess(std::string torc_binary, std::string data_dir, std::vector<std::string> extra = {})
      : binary_(std::move(torc_binary)), dir_(std::move(data_dir)), extra_(std::move(extra)) {}
  ~ServerProcess() { Kill(SIGTERM); }

  /// Starts the server (a free port outside the ephemeral range the first time, then the
  /// port it had) and waits until it answers.
  void Start() {
    if (port_ == 0 && url_.empty()) first_port_ = FreeFixedPort();
    size_t log_start = LogSize();
    Spawn();
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      // The old process is dead and reaped, so whoever answers is the new one.
      std::ifstream in(dir_ + "/server.url");
      std::string url;
      if (std::getline(in, url) && !url.empty()) {
        // Through the data dir, as a client finds it (an https:// server: its certificate).
        server::ClientOptions o;
        o.data_dir = dir_;
        o.url = url;
        o.timeout = std::chrono::milliseconds(1000);
        std::string ignored;
        auto client = server::ApiClient::Connect(o, &ignored);
        if (client && client->Health().ok()) {
          url_ = url;
          port_ = std::stoi(url.substr(url.rfind(':') + 1));
          return;
        }
      }
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        children::Remove(pid_);
        pid_ = -1;  // reaped: never signal this pid again
        // The fixed port is free for anyone while the server is down; another process may
        // hold it now. That is the machine's doing: say who (ss) and start again.
        if (LogSince(log_start).find("Address already in use") != std::string::npos &&
            std::chrono::steady_clock::now() + std::chrono::milliseconds(500) < deadline) {
          const int port = port_ != 0 ? port_ : first_port_;
          std::fprintf(stderr,
                       "server_process: port %d is taken while the server restarts; "
                       "retrying. Holders:\n",
                       port);
          std::fflush(stderr);
          const std::string ss = "ss -tanpe state all '( sport = :" + std::to_string(port) +
                                 " )' >&2; cat /proc/sys/net/ipv4/ip_local_port_range >&2";
          if (std::system(ss.c_str()) != 0) std::fprintf(stderr, "(ss failed)\n");
          std::this_thread::sleep_for(std::chrono::milliseconds(500));
          log_start = LogSize();
          Spawn();
          continue;
        }
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
    children::Remove(pid_);
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
  void Spawn() {
    std::fflush(stdout);
    std::fflush(stderr);
    pid_ = fork();
    if (pid_ == 0) {
      std::vector<std::string> args = {binary_, "server", "run", "--data-dir", dir_};
      if (port_ == 0) args.insert(args.end(), {"--port", std::to_string(first_port_)});
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
    children::Add(pid_);
  }

  std::string LogSince(size_t offset) const {
    std::ifstream in(dir_ + "/server.log");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return offset < text.size() ? text.substr(offset) : std::string();
  }
  size_t LogSize() const { return LogSince(0).size(); }

  std::string binary_, dir_;
  std::vector<std::string> extra_;
  pid_t pid_ = -1;
  int port_ = 0;
  int first_port_ = 0;
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
