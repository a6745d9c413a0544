#include "server/slurm.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <cstdlib>
#include <sstream>

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

int RunCommand(const std::vector<std::string>& argv, std::string* output, int timeout_seconds) {
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return -1;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipefd[1], 1);
  posix_spawn_file_actions_adddup2(&actions, pipefd[1], 2);
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
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, cargs[0], &actions, &attr, cargs.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(pipefd[1]);
  if (rc != 0) {
    close(pipefd[0]);
    *output = "cannot run " + argv[0] + ": " + std::strerror(rc);
    return -1;
  }
  output->clear();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
  char buf[4096];
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      kill(pid, SIGKILL);
      *output += "\n(timed out after " + std::to_string(timeout_seconds) + " s)";
      break;
    }
    pollfd p{pipefd[0], POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    ssize_t n = read(pipefd[0], buf, sizeof buf);
    if (n <= 0) break;
    output->append(buf, static_cast<size_t>(n));
  }
  close(pipefd[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

bool SlurmClient::Submit(const std::string& script, std::string* job_id, std::string* error) {
  std::string out;
  int rc = RunCommand({paths_.sbatch, "--parsable", script}, &out);
  std::string id = out.substr(0, out.find_first_of(";\n"));
  if (rc != 0 || id.empty() || id.find_first_not_of("0123456789_") != std::string::npos) {
    *error = "sbatch failed (exit " + std::to_string(rc) + "): " + out;
    return false;
  }
  *job_id = id;
  return true;
}

bool SlurmClient::Cancel(const std::vector<std::string>& ids, std::string* error) {
  if (ids.empty()) return true;
  std::vector<std::string> argv = {paths_.scancel};
  argv.insert(argv.end(), ids.begin(), ids.end());
  std::string out;
  int rc = RunCommand(argv, &out);
  if (rc != 0) *error = "scancel failed (exit " + std::to_string(rc) + "): " + out;
  return rc == 0;
}

bool SlurmClient::Query(const std::vector<std::string>& ids,
                        std::map<std::string, std::string>* states, std::string* error) {
  states->clear();
  if (ids.empty()) return true;
  std::string list;
  for (const auto& id : ids) list += (list.empty() ? "" : ",") + id;
  std::string out;
  int rc = RunCommand({paths_.squeue, "-h", "-t", "all", "-j", list, "-o", "%i %T"}, &out);
  if (rc != 0 && out.find("Invalid job id") == std::string::npos) {
    *error = "squeue failed (exit " + std::to_string(rc) + "): " + out;
    return false;
  }
  std::istringstream in(out);
  std::string id, state;
  while (in >> id >> state) (*states)[id] = state;
  return true;
}

}  // namespace torc::server
