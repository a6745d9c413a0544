// The server's data directory (default ~/.torc, or TORC_DATA_DIR): the
// database, the access token and server.url. On a cluster with a shared home
// the CLI and workers find the server and its token here with no setup.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace torc::util {

/// The largest token file read (the token is 64 hex digits and a newline).
inline constexpr int64_t kMaxTokenFileBytes = 4096;
/// The largest server.url or server.port read.
inline constexpr int64_t kMaxAddressFileBytes = 4096;
/// The shortest token accepted from a token file (torc makes 64 hex digits, 256 bits): a
/// short one could be guessed.
inline constexpr size_t kMinTokenLength = 32;

/// The data directory: `flag` if given, else $TORC_DATA_DIR, else $HOME/.torc.
std::string ResolveDataDir(const std::string& flag);

/// Creates the directory (mode 0700) if needed, then checks it (CheckDataDir). False with
/// *error on failure.
bool EnsureDataDir(const std::string& dir, std::string* error);

/// False with *error when `dir` is not a directory, or when its group or others may write in
/// it: they could replace server.url, and clients would send the token to their listener.
bool CheckDataDir(const std::string& dir, std::string* error);

/// `mkdir -p`: creates `path` and its missing parents with `mode`.
bool MakeDirectories(const std::string& path, unsigned mode, std::string* error);

/// Reads the token in dir/token, creating a random one (mode 0600) if absent, or if empty
/// (left by an older torc that could not write it; *note then says so). The file is written
/// whole or not at all: a start on a full disk leaves no token file behind.
bool LoadOrCreateToken(const std::string& dir, std::string* token, std::string* error,
                       std::string* note = nullptr);
/// Reads dir/token (for clients): checks the directory (CheckDataDir), then ReadTokenFile.
bool ReadToken(const std::string& dir, std::string* token, std::string* error);
/// Reads the token on the first line of the file at `path`. Refuses, each with its own
/// message, a file that is missing or unreadable, not a regular file, larger than
/// kMaxTokenFileBytes, open to group or others, empty, or shorter than kMinTokenLength.
bool ReadTokenFile(const std::string& path, std::string* token, std::string* error);
/// True with *error ("refusing the WHAT file PATH: its mode is 620, so its group can write
/// it; run: chmod 600 PATH") when `mode` gives group or others any access to a secret file
/// (the token, the users file).
bool RefuseShared(const std::string& path, mode_t mode, const char* what, std::string* error);
/// A new random token: 64 hex digits (256 bits) from std::random_device.
std::string NewToken();

/// Writes dir/server.url (mode 0600) atomically: readers see the old URL or the new one.
bool WriteServerUrl(const std::string& dir, const std::string& url, std::string* error);
/// Reads dir/server.url into *url: true with "" when there is none. False with *error when
/// the directory or the file could be replaced by others (then it is not trusted), it is not
/// a regular file, is larger than kMaxAddressFileBytes, or is empty.
bool ReadServerUrl(const std::string& dir, std::string* url, std::string* error);

/// Takes group and others' access away from the server's files in `dir` that have it
/// (torc.db and its journals, server.url, server.port, written by older versions or under
/// another umask); one line for each file changed, for the server to print.
std::vector<std::string> MakeDataFilesPrivate(const std::string& dir);

}  // namespace torc::util
