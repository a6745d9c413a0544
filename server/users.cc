#include "server/users.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sstream>

#include "server/api/api.h"
#include "server/util/data_dir.h"
#include "server/util/small_files.h"

namespace torc::server {
namespace {

bool IsHexDigest(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

/// Writes `text` to `path` with mode 0600 (also when it existed with another
/// mode), fsync'ed. Does not follow a symbolic link at `path`.
bool WritePrivate(const std::string& path, const std::string& text, std::string* error) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    *error = "cannot write " + path + ": " + std::strerror(errno);
    return false;
  }
  bool ok = fchmod(fd, 0600) == 0;
  ok = ok && write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = ok && fsync(fd) == 0;
  if (!ok) *error = "cannot write " + path + ": " + std::strerror(errno);
  close(fd);
  return ok;
}

}  // namespace

bool ValidUserName(const std::string& name) {
  if (name.empty() || name.size() > 64 || name[0] == '-' || name[0] == '.') return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '_' || c == '-'))
      return false;
  return true;
}

std::string TokenDigest(const std::string& token) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(token.data(), token.size(), md, &len, EVP_sha256(), nullptr);
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 15]);
  }
  return out;
}

bool UserDirectory::Load(std::string* error) {
  std::lock_guard lock(mutex_);
  users_.clear();
  struct stat st {};
  if (stat(path_.c_str(), &st) != 0) {
    size_ = -1;  // known to be missing: Find does not try again until it exists
    *error = "cannot read the users file " + path_ + ": " + std::strerror(errno) +
             " (create users with 'torc server add-user NAME')";
    return false;
  }
  ctime_ = st.st_ctim;
  size_ = st.st_size;
  inode_ = st.st_ino;
  std::string text;
  mode_t mode = 0;
  if (!util::ReadSmallFile(path_, kMaxUsersFileBytes, "users", &text, error, &mode) ||
      util::RefuseShared(path_, mode, "users", error))
    return false;
  std::istringstream in(text);
  std::string line;
  std::vector<std::pair<std::string, std::string>> users;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string name, digest, extra;
    fields >> name >> digest >> extra;
    if (!ValidUserName(name) || !IsHexDigest(digest) || !extra.empty()) {
      *error = path_ + ":" + std::to_string(number) +
               ": expected 'NAME SHA256-HEX' (lines are written by torc server add-user)";
      return false;
    }
    users.emplace_back(name, digest);
  }
  users_ = std::move(users);
  return true;
}

std::string UserDirectory::Find(const std::string& token) {
  if (token.empty()) return "";
  struct stat st {};
  bool missing = stat(path_.c_str(), &st) != 0;
  bool changed;
  {
    std::lock_guard lock(mutex_);
    changed = missing
                  ? size_ != -1
                  : st.st_ctim.tv_sec != ctime_.tv_sec || st.st_ctim.tv_nsec != ctime_.tv_nsec ||
                        st.st_size != size_ || st.st_ino != inode_;
  }
  if (changed) {
    // A file that became unreadable or malformed lets no user in (fail closed).
    std::string error;
    if (!Load(&error)) std::fprintf(stderr, "torc server: %s\n", error.c_str());
  }
  std::string digest = TokenDigest(token);
  std::lock_guard lock(mutex_);
  std::string found;
  for (const auto& [name, user_digest] : users_)
    if (ConstantTimeEquals(digest, user_digest) && found.empty()) found = name;
  return found;
}

bool AddUser(const std::string& dir, const std::string& name, const std::string& token_file,
             std::string* error) {
  if (!ValidUserName(name)) {
    *error = "invalid user name '" + name +
             "': use 1 to 64 of A-Z a-z 0-9 . _ - (not starting with - or .)";
    return false;
  }
  if (!util::EnsureDataDir(dir, error)) return false;
  const std::string users_path = dir + "/users";
  std::string text = "# torc users: NAME SHA256(token), written by 'torc server add-user'\n";
  struct stat st {};
  if (stat(users_path.c_str(), &st) == 0) {
    UserDirectory existing(users_path);
    std::string existing_text;
    if (!existing.Load(error) ||
        !util::ReadSmallFile(users_path, kMaxUsersFileBytes, "users", &existing_text, error))
      return false;
    std::istringstream in(existing_text);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      std::istringstream fields(line);
      std::string other;
      fields >> other;
      if (other != name) text += line + "\n";
    }
  }
  // The token file first: a user line never exists without its token.
  std::string token = util::NewToken();
  size_t slash = token_file.rfind('/');
  if (slash != std::string::npos && slash > 0 &&
      !util::MakeDirectories(token_file.substr(0, slash), 0700, error))
    return false;
  if (!WritePrivate(token_file, token + "\n", error)) return false;
  if (geteuid() == 0) {
    // Run by root for a user of this machine: the file becomes theirs.
    if (struct passwd* pw = getpwnam(name.c_str()))
      if (chown(token_file.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
        *error = "cannot give " + token_file + " to " + name + ": " + std::strerror(errno);
        return false;
      }
  }
  text += name + " " + TokenDigest(token) + "\n";
  std::string tmp = users_path + ".tmp";
  if (!WritePrivate(tmp, text, error)) return false;
  if (rename(tmp.c_str(), users_path.c_str()) != 0) {
    *error = "cannot write " + users_path + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

}  // namespace torc::server
