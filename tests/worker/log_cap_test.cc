// The cap on job output files (worker/log_cap.h, docs/limits.md), also with a process that
// keeps appending while the file is cut.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "worker/log_cap.h"

using namespace torc::worker;

namespace {

std::string Read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct TempFile {
  TempFile() {
    char tmpl[] = "/tmp/torc-logcap-XXXXXX";
    int fd = mkstemp(tmpl);
    close(fd);
    path = tmpl;
  }
  ~TempFile() { unlink(path.c_str()); }
  std::string path;
};

}  // namespace

TEST_CASE("a file over the cap keeps its first bytes and gets the marker once") {
  TempFile f;
  std::ofstream(f.path) << std::string(10000, 'x');
  CHECK(CapOutputFile(f.path, 1000));
  const std::string marker = TruncationMarker(1000);
  CHECK(Read(f.path) == std::string(1000, 'x') + marker);
  CHECK(marker.find("1000 bytes") != std::string::npos);
  // Again: nothing to do.
  CHECK_FALSE(CapOutputFile(f.path, 1000));
  CHECK(Read(f.path) == std::string(1000, 'x') + marker);
  // More output appended later is cut again, without a second marker.
  std::ofstream(f.path, std::ios::app) << std::string(5000, 'y');
  CHECK_FALSE(CapOutputFile(f.path, 1000));
  CHECK(Read(f.path) == std::string(1000, 'x') + marker);
}

TEST_CASE("files under the cap, missing files and a cap of 0 are left alone") {
  TempFile f;
  std::ofstream(f.path) << std::string(999, 'x');
  CHECK_FALSE(CapOutputFile(f.path, 1000));
  CHECK(Read(f.path).size() == 999);
  std::ofstream(f.path, std::ios::app) << std::string(10000, 'x');
  CHECK_FALSE(CapOutputFile(f.path, 0));
  CHECK(Read(f.path).size() == 10999);
  CHECK_FALSE(CapOutputFile("/nonexistent/dir/file", 10));
  CHECK_FALSE(CapOutputFile("", 10));
}

TEST_CASE("a process writing without end: the file stays near the cap, the writer runs on") {
  TempFile f;
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // Like a job: stdout is the file, opened for appending.
    int fd = open(f.path.c_str(), O_WRONLY | O_APPEND);
    dup2(fd, 1);
    std::string line(1000, 'z');
    line += '\n';
    while (true) {
      if (write(1, line.data(), line.size()) < 0) _exit(1);
      usleep(200);  // about 5 MB/s
    }
  }
  const int64_t cap = 100000;
  const std::string marker = TruncationMarker(cap);
  int cuts = 0;
  for (int i = 0; i < 20; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    cuts += CapOutputFile(f.path, cap) ? 1 : 0;
    // Cut back to the cap and the marker, plus what the writer added since.
    CHECK(std::filesystem::file_size(f.path) < static_cast<uintmax_t>(cap) + marker.size() + 65536);
  }
  CHECK(waitpid(pid, nullptr, WNOHANG) == 0);  // still running
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  CHECK(cuts == 1);
  CapOutputFile(f.path, cap);
  std::string text = Read(f.path);
  CHECK(text.size() == cap + marker.size());
  CHECK(text.substr(cap) == marker);
  CHECK(text.substr(0, 1001) == std::string(1000, 'z') + "\n");
}
