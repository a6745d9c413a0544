// Internal to server/http: the connection guard in front of cpprestsdk's listener.
//
// cpprestsdk reads a request's line and headers into an unbounded buffer and offers no hook
// before them, so the public socket belongs to this guard instead: it accepts client
// connections, bounds what they may send and how many there are (RequestFramer), and hands
// every well-framed request over to the cpprestsdk listener on 127.0.0.1 through a connection
// of its own, relaying the responses back unchanged. Each forwarded head carries the
// per-process secret (kGuardSecretHeader) and the client's address (kPeerHeader); cpprestsdk's
// side refuses requests without the secret, so its internal port cannot be used to skip the
// limits.
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "server/http/http.h"

namespace torc::server::http_internal {

inline constexpr const char* kGuardSecretHeader = "X-Torc-Guard";
inline constexpr const char* kPeerHeader = "X-Torc-Peer";

/// The bytes of one client connection as the guard reads and writes them: plain TCP, or TLS
/// (tls_stream.h: handshake on the first reads, close_notify in ShutdownWrite). The rest of the
/// guard only sees these calls and the descriptor's readiness.
class ClientStream {
 public:
  virtual ~ClientStream() = default;
  /// The descriptor whose readiness the guard waits for.
  virtual int fd() const = 0;
  /// Bytes read (>0), 0 at the end of the stream, or -1 with errno (EAGAIN: not ready).
  virtual ssize_t Read(char* data, size_t size) = 0;
  /// Bytes written, or -1 with errno (EAGAIN: not ready).
  virtual ssize_t Write(const iovec* pieces, int count) = 0;
  /// No more bytes will be written (the peer reads the end of the stream).
  virtual void ShutdownWrite() = 0;
  /// True when a Read may wait for the socket to be writable, or a Write for it to be readable
  /// (TLS): any readiness then retries both.
  virtual bool crosses_directions() const { return false; }
  /// False while a handshake is still under way (it must end within the head timeout).
  virtual bool established() const { return true; }
};

class TlsServerContext;

/// What the guard enforces, and where it listens and forwards to.
struct GuardOptions {
  std::string host;  // public address to listen on
  int port = 0;      // 0: the kernel picks one
  std::string secret;
  size_t max_header_bytes = 0;
  int max_connections_per_client = 0;
  int max_connections = 0;
  std::chrono::milliseconds header_timeout{0};
  /// Set: every connection speaks TLS with this certificate; null: plain HTTP.
  std::shared_ptr<TlsServerContext> tls;
  /// Set: the worker protocol's requests (direct_requests.h) are answered by calling it in the
  /// guard's thread, on connections that have sent nothing to cpprestsdk yet; bodies up to
  /// max_body_bytes. Null: every request goes to cpprestsdk. The last request of a read may
  /// wait (HttpRequest::may_wait): the connection reads nothing more until it is answered.
  std::function<HttpResponse(const HttpRequest&)> answer;
  size_t max_body_bytes = 0;
};

/// Owns the public listening socket and one thread that relays every connection (epoll).
class ConnectionGuard {
 public:
  /// Binds and listens on host:port; connections wait in the backlog until Start.
  static std::unique_ptr<ConnectionGuard> Listen(const GuardOptions& options, std::string* error);
  virtual ~ConnectionGuard() = default;
  /// The port bound (exact also with port 0).
  virtual int port() const = 0;
  /// The total connection cap in effect (max_connections, lowered to what the open-files limit
  /// allows).
  virtual int max_connections() const = 0;
  /// Starts relaying to the cpprestsdk listener on 127.0.0.1:backend_port.
  virtual void Start(int backend_port) = 0;
  /// Stops accepting, passes on what the backend still sends (for at most a short grace
  /// period), then closes every connection and joins the thread. Idempotent. Requests held for
  /// `answer` are asked a last time (with may_wait false) first.
  virtual void Stop() = 0;
  /// `answer` is called again for every request it held (HttpResponse::wait), in the guard's
  /// thread soon after. Any thread; nothing happens while none is held.
  virtual void WakeWaiting() = 0;
};

}  // namespace torc::server::http_internal
