// Internal to server/http: the connection guard's TLS side (HTTPS, docs/security.md). A
// TlsServerContext holds the certificate and key; each accepted socket is wrapped in a
// ClientStream that does the handshake on its first reads and encrypts what the guard writes.
#pragma once

#include <memory>
#include <string>

#include "server/http/connection_guard.h"

namespace torc::server::http_internal {

/// The server's certificate (with its chain) and key, loaded once and shared by every connection.
class TlsServerContext {
 public:
  /// Loads PEM files; null with *error when they cannot be read or do not belong together.
  static std::shared_ptr<TlsServerContext> Load(const std::string& cert_file,
                                                const std::string& key_file, std::string* error);
  virtual ~TlsServerContext() = default;
  /// A TLS stream over the accepted, non-blocking socket `fd`, which it then owns.
  virtual std::unique_ptr<ClientStream> Wrap(int fd) = 0;
};

}  // namespace torc::server::http_internal
