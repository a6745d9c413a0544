// The server's data directory (default ~/.torc, or TORC_DATA_DIR): the
// database, the access token and server.url. On a cluster with a shared home
// the CLI and workers find the server and its token here with no setup.
#pragma once

#include <string>

namespace torc::util {

/// The data directory: `flag` if given, else $TORC_DATA_DIR, else $HOME/.torc.
std::string ResolveDataDir(const std::string& flag);

/// Creates the directory (mode 0700) if needed. False with *error on failure.
bool EnsureDataDir(const std::string& dir, std::string* error);

/// `mkdir -p`: creates `path` and its missing parents with `mode`.
bool MakeDirectories(const std::string& path, unsigned mode, std::string* error);

/// Reads the token in dir/token, creating a random one (mode 0600) if absent.
/// Refuses a token file that group or others can read.
bool LoadOrCreateToken(const std::string& dir, std::string* token, std::string* error);
/// Reads dir/token (for clients); refuses a group/world-readable file.
bool ReadToken(const std::string& dir, std::string* token, std::string* error);
/// Reads the token in the file at `path` (first line); refuses a file that
/// group or others can read, and an empty one.
bool ReadTokenFile(const std::string& path, std::string* token, std::string* error);
/// False with *error ("refusing the WHAT file PATH: its mode is 644 …; run: chmod 600 PATH")
/// when `mode` lets group or others read a secret file (the token, the users file).
bool RefuseShared(const std::string& path, unsigned mode, const char* what, std::string* error);
/// A new random token: 64 hex digits (256 bits) from std::random_device.
std::string NewToken();

/// Writes dir/server.url atomically (temp file + rename).
bool WriteServerUrl(const std::string& dir, const std::string& url, std::string* error);
/// Reads dir/server.url; "" when absent.
std::string ReadServerUrl(const std::string& dir);

}  // namespace torc::util
