// The data directory's files (server/util/data_dir.h): the token and server.url are written
// whole or not at all (a full disk is a file size limit here: tests/util/file_size_limit.h),
// token files are refused with a message for each way they can be wrong, and a data directory
// others may write in is refused.
#include "server/util/data_dir.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>

#include "tests/server/temp_dir.h"
#include "tests/util/file_size_limit.h"

using namespace torc::util;
using torc::testing::FileSizeLimit;
using torc::testing::ScratchDir;
constexpr auto Contents = torc::testing::FileContents;

namespace {

void Write(const std::string& path, const std::string& text, mode_t mode) {
  std::ofstream(path, std::ios::trunc) << text;
  REQUIRE(chmod(path.c_str(), mode) == 0);
}

/// ReadTokenFile's error for the file at `path` (empty when it is accepted), given up on after
/// 5 s: a FIFO must not block it.
std::string TokenFileError(const std::string& path) {
  auto result = std::async(std::launch::async, [path] {
    std::string token, error;
    return ReadTokenFile(path, &token, &error) ? std::string() : error;
  });
  if (result.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
    int unblock = open(path.c_str(), O_WRONLY);  // let the stuck reader go
    (void)!write(unblock, "x\n", 2);
    close(unblock);
    result.wait();
    return "blocked on " + path;
  }
  return result.get();
}

}  // namespace

TEST_CASE("server.url: a write the disk refuses leaves the previous URL, not an empty file") {
  ScratchDir dir;
  std::string error;
  REQUIRE(WriteServerUrl(dir.path, "http://127.0.0.1:8080", &error));
  CHECK(Contents(dir.path / "server.url") == "http://127.0.0.1:8080\n");
  {
    FileSizeLimit full(0);
    CHECK(!WriteServerUrl(dir.path, "http://127.0.0.1:9090", &error));
  }
  CHECK(Contents(dir.path / "server.url") == "http://127.0.0.1:8080\n");
  CHECK(std::filesystem::exists(dir.path / "server.url.tmp") == false);
  struct stat st {};
  REQUIRE(stat((dir.path / "server.url").c_str(), &st) == 0);
  CHECK((st.st_mode & 077) == 0);  // not readable by others, whatever the umask
}

TEST_CASE("the token: a first start on a full disk leaves no token file to block the next") {
  ScratchDir dir;
  std::string token, error;
  {
    FileSizeLimit full(0);
    CHECK(!LoadOrCreateToken(dir.path, &token, &error));
  }
  CHECK_MESSAGE(error.find("cannot write " + (dir.path / "token").string()) != std::string::npos,
                error);
  CHECK(!std::filesystem::exists(dir.path / "token"));
  CHECK(std::filesystem::is_empty(dir.path));
  // Space is back: the next start makes the token.
  REQUIRE_MESSAGE(LoadOrCreateToken(dir.path, &token, &error), error);
  CHECK(token.size() == 64);
  CHECK(Contents(dir.path / "token") == token + "\n");
  std::string again;
  REQUIRE(LoadOrCreateToken(dir.path, &again, &error));
  CHECK(again == token);
}

TEST_CASE("the token: an empty token file (left by an older torc) is replaced") {
  ScratchDir dir;
  Write(dir.path / "token", "", 0600);
  std::string token, error;
  REQUIRE_MESSAGE(LoadOrCreateToken(dir.path, &token, &error), error);
  CHECK(token.size() == 64);
  CHECK(Contents(dir.path / "token") == token + "\n");
}

TEST_CASE("token files: a message for each way one can be wrong") {
  ScratchDir dir;
  const std::string path = dir.path / "token";
  const std::string good(64, 'a');

  Write(path, good + "\n", 0600);
  CHECK(TokenFileError(path) == "");

  Write(path, "x\n", 0600);
  std::string e = TokenFileError(path);
  CHECK_MESSAGE(
      e.find("holds a token of 1 characters; a token must have at least 32") != std::string::npos,
      e);
  Write(path, std::string(31, 'a') + "\n", 0600);
  CHECK(TokenFileError(path).find("at least 32") != std::string::npos);
  Write(path, std::string(32, 'a') + "\n", 0600);
  CHECK(TokenFileError(path) == "");

  Write(path, "\n", 0600);
  CHECK(TokenFileError(path) == "the token file " + path + " is empty");

  // Group-writable is not "others can read it".
  Write(path, good + "\n", 0620);
  e = TokenFileError(path);
  CHECK_MESSAGE(e.find("its mode is 620, so its group can write it; run: chmod 600 " + path) !=
                    std::string::npos,
                e);
  Write(path, good + "\n", 0644);
  e = TokenFileError(path);
  CHECK_MESSAGE(e.find("its mode is 644, so its group and others can read it") != std::string::npos,
                e);
  Write(path, good + "\n", 0604);
  CHECK(TokenFileError(path).find("so others can read it") != std::string::npos);
  Write(path, good + "\n", 0666);
  CHECK(TokenFileError(path).find("so its group and others can read it and write it") !=
        std::string::npos);

  // Larger than a token file can be.
  Write(path, std::string(5000, 'a'), 0600);
  CHECK(TokenFileError(path).find("it holds more than 4 KiB, the limit for a token file") !=
        std::string::npos);

  // A directory is a directory, whatever its mode.
  std::filesystem::remove(path);
  REQUIRE(mkdir(path.c_str(), 0755) == 0);
  e = TokenFileError(path);
  CHECK_MESSAGE(e.find("it is a directory, not a regular file") != std::string::npos, e);
  CHECK(e.find("mode") == std::string::npos);

  // A FIFO does not hang the reader.
  std::filesystem::remove(path);
  REQUIRE(mkfifo(path.c_str(), 0600) == 0);
  e = TokenFileError(path);
  CHECK_MESSAGE(e.find("it is a FIFO (named pipe), not a regular file") != std::string::npos, e);

  std::filesystem::remove(path);
  e = TokenFileError(path);
  CHECK_MESSAGE(e.find("No such file or directory") != std::string::npos, e);
}

TEST_CASE("token files: one its reader may not open is 'Permission denied', not 'empty'") {
  struct passwd* nobody = getpwnam("nobody");
  if (geteuid() != 0 || !nobody) {
    MESSAGE("needs root and a user 'nobody' (to read as another user)");
    return;
  }
  ScratchDir dir;
  REQUIRE(chmod(dir.path.c_str(), 0711) == 0);
  const std::string path = dir.path / "token";
  Write(path, std::string(64, 'a') + "\n", 0600);  // root's
  int pipe_fds[2];
  REQUIRE(pipe(pipe_fds) == 0);
  pid_t child = fork();
  if (child == 0) {
    close(pipe_fds[0]);
    std::string token, error = "accepted";
    if (setgid(nobody->pw_gid) == 0 && setuid(nobody->pw_uid) == 0)
      ReadTokenFile(path, &token, &error);
    (void)!write(pipe_fds[1], error.data(), error.size());
    _exit(0);
  }
  close(pipe_fds[1]);
  std::string error;
  char buf[4096];
  for (ssize_t n; (n = read(pipe_fds[0], buf, sizeof buf)) > 0;) error.append(buf, size_t(n));
  close(pipe_fds[0]);
  waitpid(child, nullptr, 0);
  CHECK_MESSAGE(error == "cannot read the token file " + path + ": Permission denied", error);
}

TEST_CASE("the data directory: refused when its group or others may write in it") {
  ScratchDir parent;
  const std::string dir = parent.path / "data";
  std::string error;
  REQUIRE_MESSAGE(EnsureDataDir(dir, &error), error);  // created private
  struct stat st {};
  REQUIRE(stat(dir.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
  REQUIRE(chmod(dir.c_str(), 0755) == 0);
  CHECK(EnsureDataDir(dir, &error));  // readable is fine: the files in it are private
  Write(dir + "/token", std::string(64, 'a') + "\n", 0600);
  for (mode_t mode : {0777, 0775, 0757, 01777}) {
    CAPTURE(mode);
    REQUIRE(chmod(dir.c_str(), mode) == 0);
    error.clear();
    CHECK(!EnsureDataDir(dir, &error));
    CHECK_MESSAGE(error.find("refusing the data directory " + dir) != std::string::npos, error);
    CHECK(error.find("run: chmod 700 " + dir) != std::string::npos);
    std::string token;
    CHECK(!ReadToken(dir, &token, &error));  // nor does a client take the token from it
  }
  REQUIRE(chmod(dir.c_str(), 0777) == 0);
  error.clear();
  EnsureDataDir(dir, &error);
  CHECK(error.find("its mode is 777, so its group and others can write in it") !=
        std::string::npos);
  std::string file = parent.path / "plain";
  Write(file, "", 0600);
  CHECK(!EnsureDataDir(file, &error));
}
