// ConnectionGuard: accept, bound, hand over (see connection_guard.h).
//
// One thread waits on epoll (edge-triggered) for every socket. Each client connection gets one
// connection to the cpprestsdk listener, opened when its first request head is complete (an idle
// or half-sent connection never reaches cpprestsdk). Bytes are read into one scratch buffer and
// written on at once; only what a socket does not take right away is kept, per direction, and
// while it is kept nothing more is read from that side, so a connection holds at most one scratch
// read per direction plus its unfinished request head.
//
// The guard answers a request itself when the request never reaches cpprestsdk: too many
// connections (503), a head too large (431), malformed (400/501/505) or too slow (408); and the
// worker protocol's requests, by calling the handler in this thread (direct_requests.h), on a
// connection until it sends any other request. Such a connection reads at most 16 KiB at a time
// and nothing more while answers wait to be sent. If earlier
// requests of the same connection were forwarded, their answers are relayed first: the guard
// ends the backend connection's sending side and sends its own answer after cpprestsdk has
// answered and closed. Connections it closes after an answer are closed "lingering": its sending
// side first, then the client's remaining bytes are read and dropped for a short while, so that
// the answer is not lost to a TCP reset.
#include "server/http/connection_guard.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <unordered_map>
#include <vector>

#include "server/http/direct_requests.h"
#include "server/http/request_framer.h"
#include "server/http/tls_stream.h"

namespace torc::server::http_internal {
namespace {

using Clock = std::chrono::steady_clock;

/// One read from a socket; also the most a connection keeps per direction while a socket is busy.
constexpr size_t kScratchBytes = 256 << 10;
/// Most bytes read at once from a connection whose requests the guard answers itself: at most
/// ~500 of the smallest requests (a 31-byte `GET /api/v1/health`) per read.
constexpr size_t kDirectReadBytes = 16 << 10;
/// Largest body of a request the guard answers itself (a larger one goes to cpprestsdk).
constexpr size_t kMaxDirectBody = 8 << 20;
/// A kept-bytes buffer larger than this is released once it has been written.
constexpr size_t kKeepCapacity = 64 << 10;
/// How long a closed-after-an-answer connection's further bytes are read and dropped.
constexpr auto kLinger = std::chrono::seconds(2);
/// How long Stop() lets connections pass on what cpprestsdk still sends.
constexpr auto kStopGrace = std::chrono::seconds(2);
// The longest a request may be held unanswered (HttpResponse::wait).
constexpr auto kMaxWait = std::chrono::seconds(60);
/// How often deadlines (head timeout, lingering, stop) are checked.
constexpr auto kTick = std::chrono::milliseconds(100);
/// After the process ran out of descriptors, accepting pauses this long.
constexpr auto kAcceptPause = std::chrono::milliseconds(100);
/// Descriptors per client connection: its socket, its backend socket, cpprestsdk's end of that.
constexpr int kDescriptorsPerConnection = 3;
/// Descriptors left for everything else (the database, logs, cpprestsdk, child processes).
constexpr rlim_t kReservedDescriptors = 128;
/// Refused connections still being answered at once; beyond this, new ones are closed unanswered.
constexpr int kMaxRefusing = 1024;
/// Reads and writes one connection may do before others get their turn.
constexpr int kPumpRounds = 16;
/// Most pieces written with one sendmsg (more are copied and written from the kept buffer).
constexpr size_t kMaxIov = 64;
constexpr int kMaxEvents = 256;

class PlainStream final : public ClientStream {
 public:
  explicit PlainStream(int fd) : fd_(fd) {}
  ~PlainStream() override { close(fd_); }
  int fd() const override { return fd_; }
  ssize_t Read(char* data, size_t size) override { return recv(fd_, data, size, 0); }
  ssize_t Write(const iovec* pieces, int count) override {
    msghdr message{};
    message.msg_iov = const_cast<iovec*>(pieces);
    message.msg_iovlen = static_cast<size_t>(count);
    return sendmsg(fd_, &message, MSG_NOSIGNAL);
  }
  void ShutdownWrite() override { shutdown(fd_, SHUT_WR); }

 private:
  const int fd_;
};

const char* ReasonPhrase(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 408: return "Request Timeout";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
  }
}

/// A complete response with a JSON error body, after which the guard closes the connection.
std::string ErrorResponse(int status, const std::string& message) {
  const std::string body = nlohmann::json{{"error", message}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
  return "HTTP/1.1 " + std::to_string(status) + " " + ReasonPhrase(status) +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + body;
}

std::string DurationText(std::chrono::milliseconds d) {
  return d.count() % 1000 == 0 ? std::to_string(d.count() / 1000) + " s"
                               : std::to_string(d.count()) + " ms";
}

/// The client's address as text; IPv4-mapped IPv6 addresses as plain IPv4.
std::string PeerText(const sockaddr_storage& address) {
  char text[INET6_ADDRSTRLEN] = "";
  if (address.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&address)->sin_addr, text,
              sizeof(text));
  } else if (address.ss_family == AF_INET6) {
    const in6_addr& a = reinterpret_cast<const sockaddr_in6*>(&address)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(&a)) {
      inet_ntop(AF_INET, &a.s6_addr[12], text, sizeof(text));
    } else {
      inet_ntop(AF_INET6, &a, text, sizeof(text));
    }
  }
  return text;
}

void SetNoDelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/// Bytes for one direction that the receiving socket has not taken yet.
struct Kept {
  std::string bytes;
  size_t at = 0;  // bytes[0, at) are written

  bool empty() const { return at == bytes.size(); }
  void Clear() {
    if (bytes.capacity() > kKeepCapacity) {
      std::string().swap(bytes);
    } else {
      bytes.clear();
    }
    at = 0;
  }
};

struct Connection;

/// What an epoll event points at: one side of a connection.
struct Endpoint {
  Connection* connection;
  bool backend;
};

/// One client connection and its connection to the cpprestsdk listener.
struct Connection {
  Connection(std::unique_ptr<ClientStream> stream, std::string address, size_t max_head_bytes,
             std::string injected_headers)
      : client(std::move(stream)),
        peer(std::move(address)),
        framer(max_head_bytes, std::move(injected_headers)) {}

  std::unique_ptr<ClientStream> client;
  const std::string peer;
  RequestFramer framer;
  Endpoint client_end{this, false};
  Endpoint backend_end{this, true};
  size_t slot = 0;        // index in GuardLoop::connections_
  bool counted = false;   // counts against the caps (refused connections do not)
  int backend = -1;       // -1: not opened yet
  bool backend_connected = false;
  bool client_readable = false, client_writable = false;
  bool backend_readable = false, backend_writable = false;
  Kept to_backend, to_client;
  bool client_done = false;   // no more client bytes are forwarded (end of stream or refusal)
  bool client_eof = false;    // the client's stream has ended: nothing unread is left
  bool backend_shut = false;  // the backend's sending side is closed (or writing to it failed)
  bool backend_done = false;  // the backend has closed (or failed)
  std::string refusal;        // the guard's own answer, sent when the backend has finished
  bool lingering = false;
  Clock::time_point linger_deadline;
  Clock::time_point accepted;
  Clock::time_point head_deadline;  // zero: no head in progress
  uint64_t head_requests = 0;       // framer.requests() when head_deadline was set
  bool closed = false;
  bool queued = false;  // in GuardLoop::again_
  // Worker requests are answered by the guard itself until a request goes to cpprestsdk; from
  // then on every request does, so that answers keep their order.
  bool direct = true;
  bool in_direct = false;  // a request the guard answers is receiving its body
  DirectHead direct_head;
  std::string direct_body;
  // A request the handler holds (HttpResponse::wait): asked again on WakeWaiting and at
  // wait_deadline. Nothing more is read from the client until it is answered.
  std::unique_ptr<HttpRequest> waiting;
  bool waiting_close = false;  // its head asked to close the connection after the answer
  Clock::time_point wait_deadline;
};

class GuardLoop final : public ConnectionGuard {
 public:
  GuardLoop(const GuardOptions& options, int listen_fd, int port, int max_connections,
            int epoll_fd, int wake_fd)
      : options_(options),
        listen_fd_(listen_fd),
        port_(port),
        max_connections_(max_connections),
        epoll_fd_(epoll_fd),
        wake_fd_(wake_fd),
        scratch_(new char[kScratchBytes]) {}

  ~GuardLoop() override {
    Stop();
    if (listen_fd_ >= 0) close(listen_fd_);
    close(epoll_fd_);
    close(wake_fd_);
  }

  int port() const override { return port_; }
  int max_connections() const override { return max_connections_; }

  void Start(int backend_port) override {
    backend_port_ = backend_port;
    thread_ = std::thread([this] { Run(); });
  }

  void Stop() override {
    std::lock_guard lock(stop_mu_);
    if (!thread_.joinable()) return;
    stopping_ = true;
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof(one));
    thread_.join();
  }

  void WakeWaiting() override {
    // The flag first: a request being held right now sees it (Answer); one held before is
    // counted in held_ and gets the eventfd. (Sequentially consistent on both sides.)
    wake_waiting_.store(true);
    if (held_.load() == 0) return;
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof(one));
  }

 private:
  void Run();
  void Accept();
  void BeginStop();
  void Tick(Clock::time_point now);
  void Pump(Connection* c);
  bool Upstream(Connection* c);
  bool Downstream(Connection* c);
  bool Linger(Connection* c);
  void Forward(Connection* c, size_t size);
  /// Answers the worker requests at the front of pieces_ itself; leaves in pieces_ what goes
  /// to cpprestsdk.
  void AnswerDirect(Connection* c);
  bool Answer(Connection* c, bool may_wait);
  bool Send(Connection* c, const HttpResponse& response, bool close);
  /// Asks again about the held requests: all of them (woken), those past their deadline, or
  /// all for the last time (stopping).
  enum class Ask { kWoken, kExpired, kLast };
  void AskWaiting(Ask which);
  bool OpenBackend(Connection* c);
  void StopWritingBackend(Connection* c);
  void Finish(Connection* c);
  void Close(Connection* c);

  const GuardOptions options_;
  int listen_fd_;
  const int port_;
  const int max_connections_;
  const int epoll_fd_;
  const int wake_fd_;
  int backend_port_ = 0;
  std::unique_ptr<char[]> scratch_;
  std::vector<RequestFramer::Piece> pieces_;
  std::vector<std::unique_ptr<Connection>> connections_;
  std::vector<Connection*> again_;  // connections with more to do, after the others' turn
  std::vector<Connection*> waiting_;  // connections whose request is held
  std::atomic<size_t> held_{0};       // waiting_.size(), for WakeWaiting's threads
  std::atomic<bool> wake_waiting_{false};
  std::vector<std::unique_ptr<Connection>> dead_;
  std::unordered_map<std::string, int> per_client_;
  int counted_ = 0;   // connections counted against the caps
  int refusing_ = 0;  // refused connections still being answered
  Clock::time_point accept_paused_until_;
  bool accept_paused_ = false;
  bool stop_begun_ = false;
  Clock::time_point stop_deadline_;
  std::atomic<bool> stopping_{false};
  std::mutex stop_mu_;
  std::thread thread_;
  // Tags for the two descriptors that are not connections.
  char listen_tag_ = 0, wake_tag_ = 0;
};

void GuardLoop::Run() {
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.ptr = &listen_tag_;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &event);
  event.data.ptr = &wake_tag_;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &event);

  epoll_event events[kMaxEvents];
  Clock::time_point last_tick = Clock::now();
  while (true) {
    const int timeout = again_.empty() ? static_cast<int>(kTick.count()) : 0;
    const int n = epoll_wait(epoll_fd_, events, kMaxEvents, timeout);
    for (int i = 0; i < n; ++i) {
      void* tag = events[i].data.ptr;
      if (tag == &listen_tag_) {
        Accept();
        continue;
      }
      if (tag == &wake_tag_) {
        uint64_t count;
        [[maybe_unused]] ssize_t r = read(wake_fd_, &count, sizeof(count));
        if (stopping_) BeginStop();
        if (wake_waiting_.exchange(false)) AskWaiting(Ask::kWoken);
        continue;
      }
      auto* end = static_cast<Endpoint*>(tag);
      Connection* c = end->connection;
      if (c->closed) continue;
      const uint32_t ev = events[i].events;
      const bool in = ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR);
      const bool out = ev & (EPOLLOUT | EPOLLHUP | EPOLLERR);
      if (end->backend) {
        c->backend_readable |= in;
        c->backend_writable |= out;
      } else if (c->client->crosses_directions()) {
        c->client_readable |= in || out;
        c->client_writable |= in || out;
      } else {
        c->client_readable |= in;
        c->client_writable |= out;
      }
      Pump(c);
    }
    std::vector<Connection*> again;
    again.swap(again_);
    for (Connection* c : again) {
      c->queued = false;
      if (!c->closed) Pump(c);
    }
    const Clock::time_point now = Clock::now();
    if (now - last_tick >= kTick) {
      last_tick = now;
      Tick(now);
    }
    dead_.clear();
    if (stop_begun_ && (connections_.empty() || now >= stop_deadline_)) break;
  }
  while (!connections_.empty()) Close(connections_.back().get());
  dead_.clear();
}

void GuardLoop::Accept() {
  for (int i = 0; i < 64; ++i) {
    sockaddr_storage address{};
    socklen_t length = sizeof(address);
    const int fd = accept4(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length,
                           SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // The connection stays in the backlog; try again shortly instead of spinning.
        epoll_event event{};
        event.data.ptr = &listen_tag_;
        epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, listen_fd_, &event);
        accept_paused_ = true;
        accept_paused_until_ = Clock::now() + kAcceptPause;
      }
      return;  // EAGAIN: all accepted
    }
    SetNoDelay(fd);
    std::unique_ptr<ClientStream> stream;
    if (options_.tls) {
      stream = options_.tls->Wrap(fd);  // closes fd when it fails
      if (!stream) continue;
    } else {
      stream = std::make_unique<PlainStream>(fd);
    }
    std::string peer = PeerText(address);
    std::string refusal;
    auto it = per_client_.find(peer);
    const int from_peer = it == per_client_.end() ? 0 : it->second;
    if (counted_ >= max_connections_) {
      refusal = ErrorResponse(
          503, "too many connections (limit " + std::to_string(max_connections_) + ")");
    } else if (from_peer >= options_.max_connections_per_client) {
      refusal = ErrorResponse(503, "too many connections from " + peer + " (limit " +
                                       std::to_string(options_.max_connections_per_client) + ")");
    }
    if (!refusal.empty() && refusing_ >= kMaxRefusing) continue;  // closed unanswered
    // The client's address and the secret go into every head it sends.
    std::string injected = refusal.empty() ? std::string(kGuardSecretHeader) + ": " +
                                                 options_.secret + "\r\n" + kPeerHeader + ": " +
                                                 peer + "\r\n"
                                           : std::string();
    auto owned = std::make_unique<Connection>(std::move(stream), std::move(peer),
                                              options_.max_header_bytes, std::move(injected));
    Connection* c = owned.get();
    c->accepted = Clock::now();
    epoll_event event{};
    event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    event.data.ptr = &c->client_end;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) != 0) continue;  // `owned` closes it
    if (refusal.empty()) {
      c->counted = true;
      ++counted_;
      ++per_client_[c->peer];
    } else {
      ++refusing_;
      c->client_done = true;
      c->refusal = std::move(refusal);
    }
    c->slot = connections_.size();
    connections_.push_back(std::move(owned));
    Pump(c);
  }
}

void GuardLoop::BeginStop() {
  if (stop_begun_) return;
  stop_begun_ = true;
  stop_deadline_ = Clock::now() + kStopGrace;
  AskWaiting(Ask::kLast);
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listen_fd_, nullptr);
  close(listen_fd_);
  listen_fd_ = -1;
  // Connections that never reached cpprestsdk have nothing to wait for but the guard's own
  // answers; the others end when
  // cpprestsdk (closed before the guard) has closed their backend and its bytes are passed on.
  for (size_t i = connections_.size(); i-- > 0;) {
    Connection* c = connections_[i].get();
    if ((c->backend < 0 && c->to_client.empty()) || c->lingering) {
      Close(c);
    } else {
      Pump(c);
    }
  }
}

void GuardLoop::Tick(Clock::time_point now) {
  if (!waiting_.empty()) AskWaiting(Ask::kExpired);
  if (accept_paused_ && now >= accept_paused_until_ && listen_fd_ >= 0) {
    accept_paused_ = false;
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.ptr = &listen_tag_;
    epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, listen_fd_, &event);
  }
  for (size_t i = connections_.size(); i-- > 0;) {
    Connection* c = connections_[i].get();
    if (c->closed) continue;
    if (c->lingering) {
      if (now >= c->linger_deadline) Close(c);
    } else if (!c->client->established()) {
      // A TLS handshake not done within the head timeout: nothing can be answered.
      if (now - c->accepted >= options_.header_timeout) Close(c);
    } else if (c->head_deadline != Clock::time_point() && now >= c->head_deadline &&
               !c->client_done && c->framer.InHead() && !c->waiting) {
      c->client_done = true;
      c->refusal = ErrorResponse(408, "request line and headers not received within " +
                                          DurationText(options_.header_timeout));
      Pump(c);
    }
  }
}

void GuardLoop::Pump(Connection* c) {
  for (int round = 0; round < kPumpRounds; ++round) {
    bool progress;
    if (c->lingering) {
      progress = Linger(c);
    } else {
      progress = Upstream(c);
      if (!c->closed) progress |= Downstream(c);
    }
    if (c->closed || !progress) return;
  }
  if (!c->queued) {
    c->queued = true;
    again_.push_back(c);
  }
}

/// Client to backend: writes kept bytes, reads and frames new ones. True if anything happened.
bool GuardLoop::Upstream(Connection* c) {
  bool progress = false;
  if (c->backend >= 0 && !c->backend_connected && c->backend_writable) {
    int error = 0;
    socklen_t length = sizeof(error);
    getsockopt(c->backend, SOL_SOCKET, SO_ERROR, &error, &length);
    if (error != 0) {
      c->backend_done = c->backend_shut = c->client_done = true;
      c->to_backend.Clear();
      c->refusal = ErrorResponse(502, std::string("cannot reach the API listener: ") +
                                          std::strerror(error));
      return true;
    }
    c->backend_connected = true;
    progress = true;
  }
  if (!c->to_backend.empty() && c->backend_connected && c->backend_writable && !c->backend_shut) {
    Kept& kept = c->to_backend;
    const ssize_t n = send(c->backend, kept.bytes.data() + kept.at, kept.bytes.size() - kept.at,
                           MSG_NOSIGNAL);
    if (n > 0) {
      kept.at += static_cast<size_t>(n);
      if (kept.empty()) kept.Clear();
      progress = true;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      c->backend_writable = false;
    } else if (errno != EINTR) {
      StopWritingBackend(c);
      progress = true;
    }
  }
  if (c->to_backend.empty() && !c->client_done && c->client_readable && !c->waiting &&
      (!c->direct || c->to_client.empty())) {
    // A connection the guard answers reads less at a time: the requests in one read are all
    // answered before the next, so this bounds the answers it holds and the time it takes.
    const ssize_t n = c->client->Read(scratch_.get(), c->direct ? kDirectReadBytes : kScratchBytes);
    if (n > 0) {
      Forward(c, static_cast<size_t>(n));
      progress = true;
    } else if (n == 0) {
      c->client_done = c->client_eof = true;
      progress = true;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      c->client_readable = false;
    } else if (errno != EINTR) {
      Close(c);  // reset by the client: nobody is left to answer
      return true;
    }
  }
  // Once the client has sent all it will, the backend reads the end of the stream too (a
  // request cut short gets cpprestsdk's own 400), after everything forwarded.
  if (c->client_done && c->backend >= 0 && c->backend_connected && !c->backend_shut &&
      c->to_backend.empty()) {
    shutdown(c->backend, SHUT_WR);
    c->backend_shut = true;
    progress = true;
  }
  return progress;
}

/// Frames the `size` bytes just read into scratch_ and writes (or keeps) what goes on.
void GuardLoop::Forward(Connection* c, size_t size) {
  pieces_.clear();
  const bool ok = c->framer.Feed(scratch_.get(), size, &pieces_);
  if (c->framer.InHead()) {
    if (c->head_deadline == Clock::time_point() || c->head_requests != c->framer.requests()) {
      c->head_deadline = Clock::now() + options_.header_timeout;
      c->head_requests = c->framer.requests();
    }
  } else {
    c->head_deadline = Clock::time_point();
  }
  if (!ok) {
    c->client_done = true;
    if (c->framer.error().in_head) {
      c->refusal = ErrorResponse(c->framer.error().status, c->framer.error().message);
    }
  }
  if (c->direct && options_.answer) AnswerDirect(c);
  if (pieces_.empty() || c->backend_shut) return;
  if (c->backend < 0 && !OpenBackend(c)) return;
  const std::string& heads = c->framer.heads();
  auto start = [&](const RequestFramer::Piece& p) {
    return (p.from_heads ? heads.data() : scratch_.get()) + p.offset;
  };
  size_t written = 0;
  if (c->backend_connected && c->backend_writable && pieces_.size() <= kMaxIov) {
    iovec iov[kMaxIov];
    for (size_t i = 0; i < pieces_.size(); ++i) {
      iov[i] = iovec{const_cast<char*>(start(pieces_[i])), pieces_[i].size};
    }
    msghdr message{};
    message.msg_iov = iov;
    message.msg_iovlen = pieces_.size();
    const ssize_t n = sendmsg(c->backend, &message, MSG_NOSIGNAL);
    if (n >= 0) {
      written = static_cast<size_t>(n);
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      c->backend_writable = false;
    } else if (errno != EINTR) {
      StopWritingBackend(c);
      return;
    }
  }
  for (const auto& piece : pieces_) {
    if (written >= piece.size) {
      written -= piece.size;
      continue;
    }
    c->to_backend.bytes.append(start(piece) + written, piece.size - written);
    written = 0;
  }
}

void GuardLoop::AnswerDirect(Connection* c) {
  const std::string& heads = c->framer.heads();
  size_t used = 0;
  for (; used < pieces_.size(); ++used) {
    const RequestFramer::Piece& p = pieces_[used];
    const char* bytes = (p.from_heads ? heads.data() : scratch_.get()) + p.offset;
    bool complete = false;
    if (c->in_direct) {
      c->direct_body.append(bytes, p.size);
      complete = c->direct_body.size() >= c->direct_head.content_length;
    } else if (p.from_heads &&
               ParseDirectHead(std::string_view(bytes, p.size),
                               std::min(options_.max_body_bytes, kMaxDirectBody),
                               &c->direct_head)) {
      c->in_direct = true;
      c->direct_body.clear();
      complete = c->direct_head.content_length == 0;
    } else {
      c->direct = false;
      break;
    }
    // Only the last request of a read may be held: the ones after it would be answered first.
    if (complete && Answer(c, used + 1 == pieces_.size())) {
      pieces_.clear();  // "Connection: close": nothing after it is read
      return;
    }
  }
  pieces_.erase(pieces_.begin(), pieces_.begin() + static_cast<std::ptrdiff_t>(used));
}

/// The request in c->direct_head and c->direct_body is complete: its answer goes after what
/// the client has not been sent yet, or it is held when the handler says so (and may_wait).
/// True when the request asked to close the connection.
bool GuardLoop::Answer(Connection* c, bool may_wait) {
  c->in_direct = false;
  HttpRequest request;
  request.method = std::move(c->direct_head.method);
  request.path = std::move(c->direct_head.path);
  request.authorization = std::move(c->direct_head.authorization);
  request.body.swap(c->direct_body);
  request.remote_address = c->peer;
  request.may_wait = may_wait;
  const HttpResponse response = options_.answer(request);
  if (may_wait && response.wait.count() > 0) {
    c->waiting = std::make_unique<HttpRequest>(std::move(request));  // on the heap only if held
    c->waiting_close = c->direct_head.close;
    c->wait_deadline = Clock::now() + std::min<Clock::duration>(response.wait, kMaxWait);
    waiting_.push_back(c);
    held_.store(waiting_.size());
    // What it waits for may have happened in another thread since the handler looked (a
    // restart, an expired lease): asked again at once then.
    if (wake_waiting_.exchange(false)) AskWaiting(Ask::kWoken);
    return false;
  }
  if (request.body.capacity() <= kKeepCapacity) c->direct_body.swap(request.body);
  c->direct_body.clear();
  return Send(c, response, c->direct_head.close);
}

/// Queues the answer to a guard-answered request. True when the connection closes after it.
bool GuardLoop::Send(Connection* c, const HttpResponse& response, bool close) {
  // A server shutting down (503) closes the connection, as cpprestsdk's side does.
  close = close || response.status == 503;
  c->to_client.bytes.append(SerializeResponse(response, close));
  if (!close) return false;
  c->client_done = true;
  c->refusal.clear();  // nothing after an answer that closes the connection
  return true;
}

void GuardLoop::AskWaiting(Ask which) {
  const Clock::time_point now = Clock::now();
  for (size_t i = waiting_.size(); i-- > 0;) {
    Connection* c = waiting_[i];
    const bool last = which == Ask::kLast || now >= c->wait_deadline;
    if (which == Ask::kExpired && !last) continue;
    c->waiting->may_wait = !last;
    HttpResponse response = options_.answer(*c->waiting);
    if (!last && response.wait.count() > 0) continue;
    if (response.wait.count() > 0) {  // the handler broke its contract: may_wait was false
      response = HttpResponse{500, R"({"error": "internal error: no answer to a held request"})"};
    }
    waiting_[i] = waiting_.back();
    waiting_.pop_back();
    c->waiting.reset();
    Send(c, response, c->waiting_close);
    if (!c->queued) {  // written (and what the client sent meanwhile read) after this round
      c->queued = true;
      again_.push_back(c);
    }
  }
  held_.store(waiting_.size());
}

bool GuardLoop::OpenBackend(Connection* c) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(backend_port_));
  int rc = -1;
  if (fd >= 0) {
    SetNoDelay(fd);
    rc = connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  }
  epoll_event event{};
  event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  event.data.ptr = &c->backend_end;
  if (fd < 0 || (rc != 0 && errno != EINPROGRESS) ||
      epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) != 0) {
    const std::string reason = std::strerror(errno);
    if (fd >= 0) close(fd);
    c->client_done = c->backend_done = c->backend_shut = true;
    c->refusal = ErrorResponse(502, "cannot reach the API listener: " + reason);
    return false;
  }
  c->backend = fd;
  c->backend_connected = c->backend_writable = rc == 0;
  return true;
}

/// Writing to the backend failed (cpprestsdk closed the connection, e.g. after a response with
/// "Connection: close"): nothing more goes to it; what it sent is still passed on.
void GuardLoop::StopWritingBackend(Connection* c) {
  c->backend_shut = true;
  c->client_done = true;
  c->to_backend.Clear();
}

/// Backend to client: writes kept bytes, reads new ones, and ends the connection when both
/// sides are done. True if anything happened.
bool GuardLoop::Downstream(Connection* c) {
  bool progress = false;
  Kept& kept = c->to_client;
  if (!kept.empty() && c->client_writable) {
    iovec piece{kept.bytes.data() + kept.at, kept.bytes.size() - kept.at};
    const ssize_t n = c->client->Write(&piece, 1);
    if (n > 0) {
      kept.at += static_cast<size_t>(n);
      if (kept.empty()) kept.Clear();
      progress = true;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      c->client_writable = false;
    } else if (errno != EINTR) {
      Close(c);
      return true;
    }
  }
  if (kept.empty() && c->backend >= 0 && c->backend_connected && !c->backend_done &&
      c->backend_readable) {
    const ssize_t n = recv(c->backend, scratch_.get(), kScratchBytes, 0);
    if (n > 0) {
      size_t written = 0;
      if (c->client_writable) {
        iovec piece{scratch_.get(), static_cast<size_t>(n)};
        const ssize_t w = c->client->Write(&piece, 1);
        if (w >= 0) {
          written = static_cast<size_t>(w);
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
          c->client_writable = false;
        } else if (errno != EINTR) {
          Close(c);
          return true;
        }
      }
      kept.bytes.append(scratch_.get() + written, static_cast<size_t>(n) - written);
      progress = true;
    } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
      c->backend_done = true;
      progress = true;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      c->backend_readable = false;
    }
  }
  const bool backend_finished = c->backend < 0 || c->backend_done;
  const bool nothing_more = c->backend_done || (c->backend < 0 && (c->client_done || stop_begun_));
  if (kept.empty() && backend_finished && nothing_more) {
    if (!c->refusal.empty()) {
      kept.bytes.swap(c->refusal);
      c->refusal.clear();
      return true;
    }
    Finish(c);
    return true;
  }
  return progress;
}

/// Everything has been answered: closes the client connection, lingering unless stopping.
void GuardLoop::Finish(Connection* c) {
  if (stop_begun_ || c->client_eof) {
    // Stopping, or nothing unread is left (no reset to fear).
    Close(c);
    return;
  }
  c->client->ShutdownWrite();
  c->lingering = true;
  c->linger_deadline = Clock::now() + kLinger;
  c->client_readable = true;  // read until the end of the stream (or a would-block)
}

/// Reads and drops what the client still sends after its answer; closes at its end.
bool GuardLoop::Linger(Connection* c) {
  if (!c->client_readable) return false;
  const ssize_t n = c->client->Read(scratch_.get(), kScratchBytes);
  if (n > 0) return true;
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    c->client_readable = false;
    return false;
  }
  if (n < 0 && errno == EINTR) return true;
  Close(c);
  return true;
}

void GuardLoop::Close(Connection* c) {
  if (c->closed) return;
  c->closed = true;
  if (c->queued) again_.erase(std::remove(again_.begin(), again_.end(), c), again_.end());
  if (c->waiting) {
    waiting_.erase(std::remove(waiting_.begin(), waiting_.end(), c), waiting_.end());
    held_.store(waiting_.size());
  }
  if (c->backend >= 0) close(c->backend);  // also leaves the epoll set
  c->backend = -1;
  c->client.reset();
  if (c->counted) {
    --counted_;
    auto it = per_client_.find(c->peer);
    if (it != per_client_.end() && --it->second == 0) per_client_.erase(it);
  } else {
    --refusing_;
  }
  // Swap it out of the table; deleted once no event of this round can refer to it.
  const size_t slot = c->slot;
  std::swap(connections_[slot], connections_.back());
  connections_[slot]->slot = slot;
  dead_.push_back(std::move(connections_.back()));
  connections_.pop_back();
}

}  // namespace

std::unique_ptr<ConnectionGuard> ConnectionGuard::Listen(const GuardOptions& options,
                                                         std::string* error) {
  // OpenSSL's socket BIO writes with write(), not send(MSG_NOSIGNAL): a TLS client that
  // resets its connection while its answer is written would kill the whole process with
  // SIGPIPE (measured: exit status 141 after a few hundred such clients). EPIPE is an ordinary
  // error here. Whatever the process starts restores the default (util::Spawn, the worker's
  // SpawnChild).
  signal(SIGPIPE, SIG_IGN);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(options.port);
  if (int rc = getaddrinfo(options.host.c_str(), service.c_str(), &hints, &found); rc != 0) {
    *error = "cannot resolve host '" + options.host + "': " + gai_strerror(rc);
    return nullptr;
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> owner(found, freeaddrinfo);
  int fd = -1;
  for (addrinfo* a = found; a != nullptr && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      *error = std::string("socket: ") + std::strerror(errno);
      continue;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
      *error = std::strerror(errno);
      close(fd);
      fd = -1;
    }
  }
  if (fd < 0) return nullptr;
  sockaddr_storage bound{};
  socklen_t length = sizeof(bound);
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length);
  const int port = bound.ss_family == AF_INET6
                       ? ntohs(reinterpret_cast<const sockaddr_in6*>(&bound)->sin6_port)
                       : ntohs(reinterpret_cast<const sockaddr_in*>(&bound)->sin_port);

  int max_connections = options.max_connections;
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY) {
    const rlim_t usable = files.rlim_cur > kReservedDescriptors * 2
                              ? (files.rlim_cur - kReservedDescriptors) / kDescriptorsPerConnection
                              : 1;
    max_connections = static_cast<int>(std::min<rlim_t>(max_connections, usable));
  }
  const int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  const int wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_fd < 0 || wake_fd < 0) {
    *error = std::string("epoll: ") + std::strerror(errno);
    close(fd);
    if (epoll_fd >= 0) close(epoll_fd);
    if (wake_fd >= 0) close(wake_fd);
    return nullptr;
  }
  return std::make_unique<GuardLoop>(options, fd, port, max_connections, epoll_fd, wake_fd);
}

}  // namespace torc::server::http_internal
