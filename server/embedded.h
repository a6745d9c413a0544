// A server inside another process (`torc run`): the same service and API as
// `torc server run`, on loopback, with its data in a directory of the caller's.
#pragma once

#include <memory>
#include <string>

namespace torc::server {

class Service;
class HttpServer;

/// A running in-process server; stops when destroyed.
class EmbeddedServer {
 public:
  /// Starts on 127.0.0.1 with a free port; data (database, token, server.url)
  /// in `data_dir`. Returns null with *error on failure.
  static std::unique_ptr<EmbeddedServer> Start(const std::string& data_dir, std::string* error);
  ~EmbeddedServer();
  const std::string& url() const { return url_; }
  const std::string& token() const { return token_; }
  /// Runs lease expiry (the standalone server does it on a timer).
  void Tick();

 private:
  EmbeddedServer() = default;
  std::unique_ptr<Service> service_;
  std::unique_ptr<HttpServer> http_;
  std::string url_, token_;
};

}  // namespace torc::server
