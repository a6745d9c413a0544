#include "server/slurm.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cerrno>
#include <cstring>
#include <cstdlib>
#include <sstream>
#include <thread>

extern char** environ;

namespace torc::server {

SlurmPaths SlurmPaths::FromEnvironment() {
  SlurmPaths p;
  auto get = [](const char* name, std::string* field) {
    if (const char* v = std::getenv(name); v && *v) *field = v;
  };
  get("TORC_SBATCH", &p.sbatch);
  get("TORC_SQUEUE", &p.squeue);
  get("TORC_SCANCEL", &p.scancel);
  get("TORC_SRUN", &p.srun);
  return p;
}

namespace {

/// Starts argv with its standard output on `out_fd` and standard error on `err_fd`, with no
/// signal blocked. Returns posix_spawnp's error (0: started, *pid set).
int Spawn(const std::vector<std::string>& argv, int out_fd, int err_fd, pid_t* pid) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
  posix_spawn_file_actions_adddup2(&actions, err_fd, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  // The server ignores SIGXFSZ (a file size limit gives 503s, not death); commands get the default.
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGXFSZ);
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

/// Reads the pipe `out_fd` into *out and, when `err` is not null, `err_fd` into *err, until
/// both are closed, and closes them. At the deadline kills `pid` and says so in the output.
void ReadPipes(int out_fd, int err_fd, std::string* out, std::string* err, pid_t pid,
               int timeout_seconds) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
  pollfd fds[2] = {{out_fd, POLLIN, 0}, {err ? err_fd : -1, POLLIN, 0}};
  std::string* sinks[2] = {out, err};
  char buf[4096];
  while (fds[0].fd >= 0 || fds[1].fd >= 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      kill(pid, SIGKILL);
      *(err ? err : out) += "\n(timed out after " + std::to_string(timeout_seconds) + " s)";
      break;
    }
    if (poll(fds, 2, static_cast<int>(left.count())) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n > 0) {
        sinks[i]->append(buf, static_cast<size_t>(n));
      } else {
        close(fds[i].fd);
        fds[i].fd = -1;
      }
    }
  }
  for (auto& f : fds)
    if (f.fd >= 0) close(f.fd);
}

/// Runs argv with stdout into *out and stderr into *err (into *out too when err is null).
int Run(const std::vector<std::string>& argv, std::string* out, std::string* err,
        int timeout_seconds) {
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
  out->clear();
  if (err) err->clear();
  if (rc != 0) {
    close(out_pipe[0]);
    if (err) close(err_pipe[0]);
    (err ? *err : *out) = "cannot run " + argv[0] + ": " + std::strerror(rc);
    return -1;
  }
  ReadPipes(out_pipe[0], err_pipe[0], out, err, pid, timeout_seconds);
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string Trimmed(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

/// What Slurm said went wrong: its "error:" lines (a site banner around them is left out), or
/// all of the text when it has none.
std::string SlurmMessage(const std::string& text) {
  std::istringstream lines(text);
  std::string line, errors;
  while (std::getline(lines, line))
    if (line.find("error:") != std::string::npos)
      errors += (errors.empty() ? "" : "; ") + Trimmed(line);
  return errors.empty() ? Trimmed(text) : errors;
}

/// The ids of `refs` ("ID" or "ID;CLUSTER") grouped by cluster ("" for the local one).
std::map<std::string, std::vector<std::string>> ByCluster(const std::vector<std::string>& refs) {
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& ref : refs) {
    size_t semi = ref.find(';');
    out[semi == std::string::npos ? "" : ref.substr(semi + 1)].push_back(ref.substr(0, semi));
  }
  return out;
}

std::string Joined(const std::vector<std::string>& ids) {
  std::string list;
  for (const auto& id : ids) list += (list.empty() ? "" : ",") + id;
  return list;
}

}  // namespace

int RunCommand(const std::vector<std::string>& argv, std::string* output, int timeout_seconds) {
  return Run(argv, output, nullptr, timeout_seconds);
}

int RunCommandSplit(const std::vector<std::string>& argv, std::string* out, std::string* err,
                    int timeout_seconds) {
  return Run(argv, out, err, timeout_seconds);
}

bool ParseSbatchOutput(const std::string& out, std::string* job_id, std::string* cluster) {
  std::istringstream lines(out);
  std::string line;
  bool found = false;
  while (std::getline(lines, line)) {
    line = Trimmed(line);
    size_t semi = line.find(';');
    std::string id = line.substr(0, semi), rest = semi == std::string::npos ? "" : line.substr(semi + 1);
    if (id.empty() || id.find_first_not_of("0123456789") != std::string::npos) continue;
    if (semi != std::string::npos &&
        (rest.empty() || rest.find_first_of(" \t;") != std::string::npos))
      continue;
    *job_id = id;
    *cluster = rest;
    found = true;  // the last such line wins: a wrapper may print other numbers first
  }
  return found;
}

bool IsTransientSbatchFailure(const std::string& message) {
  static const char* kTransient[] = {
      "Socket timed out",     "temporarily unable", "Temporarily unable",
      "Resource temporarily unavailable", "Unable to contact slurm controller",
      "Connection refused",   "Connection timed out", "Zero Bytes were transmitted",
      "try again"};  // not torc's own timeout: the job may have been queued all the same
  for (const char* t : kTransient)
    if (message.find(t) != std::string::npos) return true;
  return false;
}

bool SlurmClient::Submit(const std::string& script, SubmittedJob* job, std::string* error,
                         const std::function<void(const std::string&)>& on_retry) {
  double delay = retry_.first_delay_seconds;
  for (int attempt = 1;; ++attempt) {
    std::string out, err;
    int rc = RunCommandSplit({paths_.sbatch, "--parsable", script}, &out, &err);
    // Standard error carries site banners and "sleeping and retrying" notes even when the job
    // was queued: logged, never parsed for the id.
    job->messages = Trimmed(err);
    if (rc == 0 && ParseSbatchOutput(out, &job->id, &job->cluster)) return true;
    std::string why = SlurmMessage(Trimmed(err).empty() ? out : err);
    if (why.empty()) why = rc == 0 ? "no job id on standard output" : "no message";
    *error = "sbatch failed (exit " + std::to_string(rc) + "): " + why;
    if (rc == 0 || attempt >= retry_.attempts || !IsTransientSbatchFailure(why)) return false;
    if (on_retry)
      on_retry("sbatch failed (attempt " + std::to_string(attempt) + " of " +
               std::to_string(retry_.attempts) + "), retrying: " + why);
    if (log_) log_("sbatch attempt " + std::to_string(attempt) + " failed, retrying in " +
                   std::to_string(static_cast<int>(delay * 1000)) + " ms: " + why);
    std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int>(delay * 1000)));
    delay *= 2;
  }
}

bool SlurmClient::Cancel(const std::vector<std::string>& refs, std::string* error) {
  bool ok = true;
  for (const auto& [cluster, ids] : ByCluster(refs)) {
    std::vector<std::string> argv = {paths_.scancel};
    if (!cluster.empty()) argv.insert(argv.end(), {"-M", cluster});
    argv.insert(argv.end(), ids.begin(), ids.end());
    std::string out;
    int rc = RunCommand(argv, &out);
    if (rc != 0) {
      *error = "scancel failed (exit " + std::to_string(rc) + "): " + out;
      ok = false;
    }
  }
  return ok;
}

bool SlurmClient::Query(const std::vector<std::string>& refs,
                        std::map<std::string, std::string>* states, std::string* error) {
  states->clear();
  for (const auto& [cluster, ids] : ByCluster(refs)) {
    std::vector<std::string> argv = {paths_.squeue, "-h", "-t", "all", "-j", Joined(ids), "-o",
                                     "%i %T"};
    if (!cluster.empty()) argv.insert(argv.begin() + 1, {"-M", cluster});
    std::string out, err;
    int rc = RunCommandSplit(argv, &out, &err);
    if (rc != 0 && err.find("Invalid job id") == std::string::npos) {
      *error = "squeue failed (exit " + std::to_string(rc) + "): " + Trimmed(err + out);
      return false;
    }
    // Only "<digits> <STATE>" lines: with -M, squeue adds a "CLUSTER: name" line.
    std::istringstream in(out);
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream words(line);
      std::string id, state;
      if (words >> id >> state && id.find_first_not_of("0123456789_[]-") == std::string::npos)
        (*states)[id] = state;
    }
  }
  return true;
}

}  // namespace torc::server
