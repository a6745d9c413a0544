#include "server/util/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

extern char** environ;

namespace torc::util {
namespace {

using Clock = std::chrono::steady_clock;

// Reaps pid, killing it at the deadline (it may have closed its output and lived on).
int WaitUntil(pid_t pid, Clock::time_point deadline, bool* killed) {
  int status = 0;
  while (true) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) return -1;
    if (Clock::now() >= deadline) {
      kill(pid, SIGKILL);
      *killed = true;
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      break;
    }
    if (r == 0) usleep(5000);
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// Starts argv with stdin from /dev/null, stdout on out_fd and stderr on err_fd, with no signal
// blocked and SIGXFSZ/SIGPIPE at their defaults (the server ignores them; commands must not).
// Returns posix_spawnp's error (0: started, *pid set).
int Spawn(const std::vector<std::string>& argv, int out_fd, int err_fd, pid_t* pid) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
  posix_spawn_file_actions_adddup2(&actions, err_fd, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGXFSZ);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<std::string> args = argv;
  std::vector<char*> cargs;
  for (auto& a : args) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  int rc = posix_spawnp(pid, cargs[0], &actions, &attr, cargs.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  return rc;
}

// Reads both pipes (err_fd may be -1) to EOF or the deadline, then closes them.
void ReadUntil(int out_fd, int err_fd, std::string* out, std::string* err,
               Clock::time_point deadline) {
  pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
  std::string* sinks[2] = {out, err};
  char buf[4096];
  while (fds[0].fd >= 0 || fds[1].fd >= 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) break;
    int r = poll(fds, 2, static_cast<int>(left.count()));
    if (r <= 0) continue;  // EINTR, or the deadline check above ends the loop
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n > 0) {
        sinks[i]->append(buf, static_cast<size_t>(n));
      } else {
        close(fds[i].fd);  // EOF: the child (and anything it started) closed it
        fds[i].fd = -1;
      }
    }
  }
  for (auto& f : fds)
    if (f.fd >= 0) close(f.fd);
}

}  // namespace

int RunCaptured(const std::vector<std::string>& argv, std::string* out, std::string* err,
                int timeout_seconds) {
  out->clear();
  if (err) err->clear();
  std::string* errors = err ? err : out;
  if (argv.empty()) {
    *errors = "no command";
    return -1;
  }
  int out_pipe[2], err_pipe[2] = {-1, -1};
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return -1;
  if (err && pipe2(err_pipe, O_CLOEXEC) != 0) {
    close(out_pipe[0]);
    close(out_pipe[1]);
    return -1;
  }
  pid_t pid = 0;
  int rc = Spawn(argv, out_pipe[1], err ? err_pipe[1] : out_pipe[1], &pid);
  close(out_pipe[1]);
  if (err) close(err_pipe[1]);
  if (rc != 0) {
    close(out_pipe[0]);
    if (err) close(err_pipe[0]);
    *errors = "cannot run " + argv[0] + ": " + std::strerror(rc);
    return -1;
  }
  const auto deadline = Clock::now() + std::chrono::seconds(timeout_seconds);
  ReadUntil(out_pipe[0], err ? err_pipe[0] : -1, out, err, deadline);
  bool killed = false;
  int code = WaitUntil(pid, deadline, &killed);
  if (killed) *errors += "\n(timed out after " + std::to_string(timeout_seconds) + " s)";
  return code;
}

}  // namespace torc::util
