// A blocking HTTP client built on cpprestsdk (http_client.cc is, with
// server/http/http_server.cc, the only file that includes its headers).
#pragma once

#include <chrono>
#include <memory>
#include <string>

namespace torc::server {

/// Result of a client call: a response, or a transport error (connection
/// refused, timeout, ...) in `error` with status 0.
struct HttpResult {
  int status = 0;
  std::string body;
  std::string error;
  /// The transport failed because the server's certificate was not trusted (or TLS failed).
  bool untrusted = false;
  bool transport_ok() const { return status != 0; }
};

/// Whom an https:// client trusts (docs/security.md, "HTTPS"). Ignored for http:// URLs.
struct TlsTrust {
  /// "SHA256:<hex>" of the server's public key (tls::PublicKeyFingerprint): the server must
  /// present exactly that key, whatever its certificate's names or issuer.
  std::string pinned_key;
  /// Where the pin came from ("/home/u/.torc/server.crt"), for messages.
  std::string pinned_from;
  /// Without a pin: a PEM file of CA certificates the server's certificate must chain to (the
  /// system's CAs count too; a certificate in the file is trusted as it is, so a copy of the
  /// server's own server.crt works), and the certificate must name the URL's host.
  std::string ca_file;
};

/// A blocking HTTP client for one base URL ("http://host:port" or "https://..."). Thread-safe.
class HttpClient {
 public:
  virtual ~HttpClient() = default;
  /// Sends `body` (JSON) to base_url + path; adds "Authorization: Bearer <token>"
  /// when a token was given.
  virtual HttpResult Request(const std::string& method, const std::string& path,
                             const std::string& body = "") = 0;
  /// The same, but gives up after `within` if that is shorter than the client's timeout, on
  /// the client's own connection (a short probe needs no connection, and TLS handshake, of its
  /// own). By default as Request.
  virtual HttpResult RequestWithin(const std::string& method, const std::string& path,
                                   std::chrono::milliseconds within) {
    (void)within;
    return Request(method, path);
  }
};

std::unique_ptr<HttpClient> MakeHttpClient(const std::string& base_url, const std::string& token,
                                           std::chrono::milliseconds timeout,
                                           const TlsTrust& trust = {});

}  // namespace torc::server
