#include "server/util/data_dir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

namespace torc::util {
namespace {

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

bool CheckPrivate(const std::string& path, std::string* error) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    *error = "cannot read " + path + ": " + std::strerror(errno);
    return false;
  }
  return !RefuseShared(path, st.st_mode, "token", error);
}

}  // namespace

bool RefuseShared(const std::string& path, unsigned mode, const char* what, std::string* error) {
  if (!(mode & (S_IRWXG | S_IRWXO))) return false;
  char text[4096];
  std::snprintf(text, sizeof text,
                "refusing the %s file %s: its mode is %03o, so other users can read it; "
                "run: chmod 600 %s",
                what, path.c_str(), mode & 0777u, path.c_str());
  *error = text;
  return true;
}

std::string ResolveDataDir(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("TORC_DATA_DIR"); env && *env) return env;
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : ".") + "/.torc";
}

bool EnsureDataDir(const std::string& dir, std::string* error) {
  return MakeDirectories(dir, 0700, error);
}

bool MakeDirectories(const std::string& dir, unsigned mode, std::string* error) {
  std::string partial;
  std::stringstream ss(dir);
  std::string part;
  if (!dir.empty() && dir[0] == '/') partial.push_back('/');
  while (std::getline(ss, part, '/')) {
    if (part.empty()) continue;
    partial.append(part).append("/");
    if (mkdir(partial.c_str(), static_cast<mode_t>(mode)) != 0 && errno != EEXIST) {
      *error = "cannot create the directory " + partial + ": " + std::strerror(errno);
      return false;
    }
  }
  return true;
}

bool ReadToken(const std::string& dir, std::string* token, std::string* error) {
  return ReadTokenFile(dir + "/token", token, error);
}

std::string NewToken() {
  std::random_device rd;
  static const char kHex[] = "0123456789abcdef";
  std::string t;
  for (int i = 0; i < 64; ++i) t += kHex[rd() % 16];
  return t;
}

bool ReadTokenFile(const std::string& path, std::string* token, std::string* error) {
  if (!CheckPrivate(path, error)) return false;
  std::ifstream in(path);
  std::getline(in, *token);
  *token = Trim(*token);
  if (token->empty()) {
    *error = "the token file " + path + " is empty";
    return false;
  }
  return true;
}

bool LoadOrCreateToken(const std::string& dir, std::string* token, std::string* error) {
  std::string path = dir + "/token";
  struct stat st {};
  if (stat(path.c_str(), &st) == 0) return ReadToken(dir, token, error);
  std::string t = NewToken();
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return ReadToken(dir, token, error);  // another server won the race
    *error = "cannot create " + path + ": " + std::strerror(errno);
    return false;
  }
  std::string line = t + "\n";
  bool ok = write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  ok = fsync(fd) == 0 && ok;
  close(fd);
  if (!ok) {
    *error = "cannot write " + path + ": " + std::strerror(errno);
    return false;
  }
  *token = t;
  return true;
}

bool WriteServerUrl(const std::string& dir, const std::string& url, std::string* error) {
  std::string path = dir + "/server.url", tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << url << "\n";
    if (!out) {
      *error = "cannot write " + tmp;
      return false;
    }
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    *error = "cannot write " + path + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

std::string ReadServerUrl(const std::string& dir) {
  std::ifstream in(dir + "/server.url");
  std::string url;
  std::getline(in, url);
  return Trim(url);
}

}  // namespace torc::util
