#include "server/util/data_dir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <sstream>

#include "server/util/small_files.h"

namespace torc::util {
namespace {

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string FirstLine(const std::string& text) { return Trim(text.substr(0, text.find('\n'))); }

/// "its group can write it, and others can read it": who may do what that `mask` (of 077)
/// forbids, for a message. `object` is "it" for a file, "in it" for a directory's writes.
std::string WhoCan(mode_t mode, mode_t mask, bool directory) {
  auto verbs = [&](mode_t r, mode_t w, mode_t x) {
    std::vector<std::string> v;
    if (mode & mask & r) v.push_back(directory ? "list it" : "read it");
    if (mode & mask & w) v.push_back(directory ? "write in it" : "write it");
    if (mode & mask & x) v.push_back(directory ? "enter it" : "execute it");
    std::string out;
    for (size_t i = 0; i < v.size(); ++i)
      out += (i == 0 ? "" : i + 1 == v.size() ? " and " : ", ") + v[i];
    return out;
  };
  std::string group = verbs(S_IRGRP, S_IWGRP, S_IXGRP), others = verbs(S_IROTH, S_IWOTH, S_IXOTH);
  if (group == others) return "its group and others can " + group;
  if (others.empty()) return "its group can " + group;
  if (group.empty()) return "others can " + others;
  return "its group can " + group + ", and others can " + others;
}

std::string ModeText(mode_t mode) {
  char text[16];
  std::snprintf(text, sizeof text, "%03o", static_cast<unsigned>(mode & 07777));
  return text;
}

/// False with *error when group or others may write the file or directory `path` (mode
/// `mode`), which clients then must not trust.
bool RefuseWritable(const std::string& path, mode_t mode, const std::string& what,
                    const std::string& fix, std::string* error) {
  if (!(mode & (S_IWGRP | S_IWOTH))) return false;
  bool directory = S_ISDIR(mode);
  *error = "refusing the " + what + " " + path + ": its mode is " + ModeText(mode) + ", so " +
           WhoCan(mode, S_IWGRP | S_IWOTH, directory) +
           " (they could replace server.url, and clients would send the token to their own "
           "listener); run: " +
           fix + " " + path;
  return true;
}

}  // namespace

bool RefuseShared(const std::string& path, mode_t mode, const char* what, std::string* error) {
  if (!(mode & (S_IRWXG | S_IRWXO))) return false;
  *error = std::string("refusing the ") + what + " file " + path + ": its mode is " +
           ModeText(mode) + ", so " + WhoCan(mode, S_IRWXG | S_IRWXO, false) + "; run: chmod 600 " +
           path;
  return true;
}

std::string ResolveDataDir(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("TORC_DATA_DIR"); env && *env) return env;
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : ".") + "/.torc";
}

bool EnsureDataDir(const std::string& dir, std::string* error) {
  return MakeDirectories(dir, 0700, error) && CheckDataDir(dir, error);
}

bool CheckDataDir(const std::string& dir, std::string* error) {
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0) {
    *error = "cannot use the data directory " + dir + ": " + std::strerror(errno);
    return false;
  }
  if (!S_ISDIR(st.st_mode)) {
    *error = "cannot use the data directory " + dir + ": it is not a directory";
    return false;
  }
  return !RefuseWritable(dir, st.st_mode, "data directory", "chmod 700", error);
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
  return CheckDataDir(dir, error) && ReadTokenFile(dir + "/token", token, error);
}

std::string NewToken() {
  std::random_device rd;
  static const char kHex[] = "0123456789abcdef";
  std::string t;
  for (int i = 0; i < 64; ++i) t += kHex[rd() % 16];
  return t;
}

bool ReadTokenFile(const std::string& path, std::string* token, std::string* error) {
  std::string text;
  mode_t mode = 0;
  if (!ReadSmallFile(path, kMaxTokenFileBytes, "token", &text, error, &mode)) return false;
  if (RefuseShared(path, mode, "token", error)) return false;
  *token = FirstLine(text);
  if (token->empty()) {
    *error = "the token file " + path + " is empty";
    return false;
  }
  if (token->size() < kMinTokenLength) {
    *error = "the token file " + path + " holds a token of " + std::to_string(token->size()) +
             " characters; a token must have at least " + std::to_string(kMinTokenLength) +
             " (torc makes 64 random hex digits: delete the server's token file and restart it "
             "for a new one, or run 'torc server add-user' again for a user's)";
    token->clear();
    return false;
  }
  return true;
}

bool LoadOrCreateToken(const std::string& dir, std::string* token, std::string* error,
                       std::string* note) {
  const std::string path = dir + "/token";
  struct stat st {};
  bool present = lstat(path.c_str(), &st) == 0;
  // An empty regular file is what an older torc left when the disk was full: no client can
  // hold its token, so it is replaced rather than refused at every start.
  if (present && !(S_ISREG(st.st_mode) && st.st_size == 0))
    return ReadTokenFile(path, token, error);
  std::string fresh = NewToken();
  if (present) {
    if (!WriteFileAtomically(path, fresh + "\n", 0600, error)) return false;
    if (note)
      *note = "the token file " + path +
              " was empty (an earlier start could not write it); "
              "wrote a new token";
  } else {
    bool exists = false;
    if (!CreateFileAtomically(path, fresh + "\n", 0600, &exists, error))
      return exists && ReadTokenFile(path, token, error);  // another server won the race
  }
  *token = fresh;
  return true;
}

bool WriteServerUrl(const std::string& dir, const std::string& url, std::string* error) {
  return WriteFileAtomically(dir + "/server.url", url + "\n", 0600, error);
}

bool ReadServerUrl(const std::string& dir, std::string* url, std::string* error) {
  url->clear();
  const std::string path = dir + "/server.url";
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0 && errno == ENOENT) return true;
  if (!CheckDataDir(dir, error)) return false;
  std::string text;
  mode_t mode = 0;
  if (!ReadSmallFile(path, kMaxAddressFileBytes, "server URL", &text, error, &mode)) return false;
  if (RefuseWritable(path, mode, "server URL file", "chmod 600", error)) return false;
  *url = FirstLine(text);
  if (url->empty()) {
    *error = "the server URL file " + path +
             " is empty (a server could not write it: a full disk?); restart the server, or "
             "set TORC_API_URL";
    return false;
  }
  return true;
}

std::vector<std::string> MakeDataFilesPrivate(const std::string& dir) {
  std::vector<std::string> changed;
  for (const char* name :
       {"torc.db", "torc.db-wal", "torc.db-shm", "torc.db-journal", "server.url", "server.port"}) {
    std::string path = dir + "/" + name;
    struct stat st {};
    if (lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || !(st.st_mode & 077)) continue;
    if (chmod(path.c_str(), st.st_mode & 0700) == 0)
      changed.push_back("made " + path + " private (mode " + ModeText(st.st_mode) + " -> " +
                        ModeText(st.st_mode & 0700) + "): it was open to group or others");
  }
  return changed;
}

}  // namespace torc::util
