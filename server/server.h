// `torc server run`: one process holding every workflow, serving the REST API.
#pragma once

#include <string>

#include "server/service.h"

namespace torc::server {

/// The settings of `torc server run` (its flags), for RunServer.
struct ServerOptions {
  std::string host = "127.0.0.1";
  /// The URL compute nodes and clients are told to use (server.url, batch scripts); "" chooses
  /// one from `host` (server/advertise.h). Without a port, the listening port is appended.
  std::string advertise_url;
  int port = -1;             // -1: reuse the port in server.url, else 8080; 0: any free port
  std::string data_dir;      // "" : TORC_DATA_DIR or ~/.torc
  size_t max_body_bytes = 64 << 20;
  size_t max_header_bytes = 64 << 10;   // request line plus headers (HttpServerOptions)
  int max_connections_per_client = 256;
  /// HTTPS (docs/security.md): kAuto serves TLS unless `host` is a loopback address; kOn
  /// (--tls) and kOff (--no-tls, loopback only) decide it.
  enum class Tls { kAuto, kOn, kOff };
  Tls tls = Tls::kAuto;
  /// A site's certificate (PEM, with its chain) and key; both empty: the data directory's
  /// self-signed pair (server.crt, server.key), made on the first start.
  std::string tls_cert, tls_key;
  /// Each user authenticates with their own token (<data-dir>/users) and sees
  /// only their own workflows; see docs/security.md.
  bool multi_user = false;
  StoreOptions store;
  ServiceOptions service;
};

/// Runs until SIGTERM or SIGINT; returns the process exit code. Prints one
/// line when ready ("torc server listening on URL"), then logs to stderr.
int RunServer(const ServerOptions& options);

}  // namespace torc::server
