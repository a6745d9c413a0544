// Bounded reads and atomic writes of small files (server/util/small_files.h): what every file
// torc reads or keeps goes through. Write failures are injected with a file size limit
// (RLIMIT_FSIZE, as `ulimit -f`), which fails write() with EFBIG like a full disk fails it
// with ENOSPC, and with RetryingFileWriter's write seam.
#include "server/util/small_files.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include "tests/server/temp_dir.h"
#include "tests/util/file_size_limit.h"

using namespace torc::util;
using torc::testing::FileSizeLimit;
using torc::testing::ScratchDir;
constexpr auto Contents = torc::testing::FileContents;

namespace {

size_t EntriesIn(const std::string& dir) {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++n;
  return n;
}

}  // namespace

TEST_CASE("ReadSmallFile: a regular file within the limit, its mode") {
  ScratchDir dir;
  std::string path = dir.path / "f";
  std::ofstream(path) << "hello\n";
  chmod(path.c_str(), 0640);
  std::string text, error;
  mode_t mode = 0;
  REQUIRE_MESSAGE(ReadSmallFile(path, 6, "test", &text, &error, &mode), error);
  CHECK(text == "hello\n");
  CHECK((mode & 0777) == 0640);
  CHECK(!ReadSmallFile(path, 5, "test", &text, &error));
  CHECK(error == "cannot read the test file " + path +
                     ": it holds more than 5 bytes, the limit for a test file");
  CHECK(!ReadSmallFile(dir.path / "missing", 100, "test", &text, &error));
  CHECK(error.find("No such file or directory") != std::string::npos);
}

TEST_CASE("ReadSmallFile: devices, FIFOs, directories and sockets are refused, at once") {
  ScratchDir dir;
  std::string text, error;
  CHECK(!ReadSmallFile("/dev/zero", 1 << 20, "workflow", &text, &error));
  CHECK(error ==
        "cannot read the workflow file /dev/zero: it is a character device, not a "
        "regular file");
  // A link to a device is the device.
  std::string link = dir.path / "server.url";
  REQUIRE(symlink("/dev/zero", link.c_str()) == 0);
  CHECK(!ReadSmallFile(link, 4096, "server URL", &text, &error));
  CHECK(error.find("character device") != std::string::npos);
  CHECK(!ReadSmallFile(dir.path, 4096, "token", &text, &error));
  CHECK(error.find("it is a directory, not a regular file") != std::string::npos);
  // A FIFO with no writer, and one with a writer that never writes: neither may block.
  std::string fifo = dir.path / "fifo";
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  auto read_fifo = [&] {
    std::string t, e;
    bool ok = ReadSmallFile(fifo, 4096, "token", &t, &e);
    return ok ? std::string("read") : e;
  };
  for (bool writer : {false, true}) {
    CAPTURE(writer);
    int w = writer ? open(fifo.c_str(), O_RDWR | O_NONBLOCK) : -1;
    auto result = std::async(std::launch::async, read_fifo);
    bool finished = result.wait_for(std::chrono::seconds(5)) == std::future_status::ready;
    CHECK_MESSAGE(finished, "reading a FIFO blocked");
    if (!finished) {  // let the stuck reader go
      int unblock = open(fifo.c_str(), O_WRONLY);
      (void)!write(unblock, "x\n", 2);
      close(unblock);
    }
    std::string got = result.get();
    CHECK_MESSAGE(got.find("it is a FIFO (named pipe), not a regular file") != std::string::npos,
                  got);
    if (w >= 0) close(w);
  }
}

TEST_CASE("WriteFileAtomically: a refused write leaves the old file whole and no temporary") {
  ScratchDir dir;
  std::string path = dir.path / "server.url";
  std::string error;
  REQUIRE_MESSAGE(WriteFileAtomically(path, "http://old:1\n", 0600, &error), error);
  CHECK(Contents(path) == "http://old:1\n");
  struct stat st {};
  REQUIRE(stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  {
    FileSizeLimit full(0);  // every write fails, as on a full disk
    CHECK(!WriteFileAtomically(path, "http://new:2\n", 0600, &error));
  }
  CHECK_MESSAGE(error.find("cannot write " + path + ": File too large") != std::string::npos,
                error);
  CHECK(Contents(path) == "http://old:1\n");
  CHECK(EntriesIn(dir.path) == 1);
  REQUIRE(WriteFileAtomically(path, "http://new:2\n", 0644, &error));
  CHECK(Contents(path) == "http://new:2\n");
  REQUIRE(stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0644);
}

TEST_CASE("CreateFileAtomically: only when absent; nothing left when it fails") {
  ScratchDir dir;
  std::string path = dir.path / "token";
  std::string error;
  bool exists = true;
  {
    FileSizeLimit full(0);
    CHECK(!CreateFileAtomically(path, "abc\n", 0600, &exists, &error));
    CHECK(!exists);
  }
  CHECK(EntriesIn(dir.path) == 0);
  REQUIRE_MESSAGE(CreateFileAtomically(path, "abc\n", 0600, &exists, &error), error);
  CHECK(Contents(path) == "abc\n");
  CHECK(!CreateFileAtomically(path, "other\n", 0600, &exists, &error));
  CHECK(exists);
  CHECK(Contents(path) == "abc\n");
  CHECK(EntriesIn(dir.path) == 1);
}

TEST_CASE("RetryingFileWriter: what the disk refuses is written when it no longer does") {
  ScratchDir dir;
  std::atomic<int> refusals{3};
  std::vector<std::string> log;
  std::mutex log_mutex;
  auto write = [&](const std::string& path, const std::string& text, std::string* error) {
    if (path.ends_with("server.url") && refusals.fetch_sub(1) > 0) {
      *error = "cannot write " + path + ": No space left on device";
      return false;
    }
    return WriteFileAtomically(path, text, 0600, error);
  };
  const std::string url = dir.path / "server.url", port = dir.path / "server.port";
  {
    RetryingFileWriter writer(
        {{port, "8080\n"}, {url, "http://h:8080\n"}}, std::chrono::milliseconds(20),
        [&](const std::string& m) {
          std::lock_guard lock(log_mutex);
          log.push_back(m);
        },
        write);
    CHECK(Contents(port) == "8080\n");  // written at once
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!writer.done() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    CHECK(writer.done());
  }
  CHECK(Contents(url) == "http://h:8080\n");
  REQUIRE(log.size() == 2);  // the first failure, and the success; not every retry
  CHECK(log[0].find("No space left on device") != std::string::npos);
  CHECK(log[0].find("trying again every 0.02 s") != std::string::npos);
  CHECK(log[1] == "wrote " + url + " after 3 failed attempt(s)");
}

TEST_CASE("RetryingFileWriter: destroyed while the disk still refuses, it stops at once") {
  ScratchDir dir;
  auto never = [](const std::string&, const std::string&, std::string* error) {
    *error = "cannot write: No space left on device";
    return false;
  };
  auto t0 = std::chrono::steady_clock::now();
  {
    RetryingFileWriter writer(
        {{dir.path / "server.url", "x\n"}}, std::chrono::seconds(30), [](const std::string&) {},
        never);
    CHECK(!writer.done());
  }
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
}
