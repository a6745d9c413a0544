// HttpServer on cpprestsdk's http_listener.
//
// cpprestsdk calls the listener on one of its pool threads as soon as the request headers are
// parsed, while the body is still arriving on the same pool. So the body is read asynchronously
// (a pool thread blocked on the body could starve the threads that read bodies), the handler runs
// in the continuation, and every request is counted from admission until its reply has been
// written, which is what Stop() waits for.
//
// cpprestsdk listens on 127.0.0.1 on a port of its own; the public socket belongs to the
// connection guard (connection_guard.h), which bounds request heads and connections and hands
// every request over with a per-process secret header. A request without it did not come
// through the guard and is refused.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string_view>
#include <vector>

// Kept apart and last: cpprestsdk's headers are heavy, and define U() unless
// _TURN_OFF_PLATFORM_STRING is set (see CMakeLists.txt).
#include <cpprest/http_listener.h>

#include "server/http/connection_guard.h"
#include "server/http/tls_stream.h"
#include "server/http/http.h"

namespace torc::server {
namespace http_internal {
/// Sizes cpprestsdk's process-wide thread pool before its first use (http_client.cc).
void SizeThreadPool();
}  // namespace http_internal

namespace {

using web::http::http_request;
using web::http::http_response;
using web::http::experimental::listener::http_listener;
using web::http::experimental::listener::http_listener_config;

/// Largest piece of a body copied out of cpprestsdk's stream per read.
constexpr size_t kReadChunk = 1 << 20;
/// Scratch size used while draining a body that is over the limit.
constexpr size_t kDiscardChunk = 256 << 10;
/// How long Stop() waits for replies still being written once no handler is running.
constexpr auto kReplyGrace = std::chrono::seconds(10);
/// Attempts to bind a kernel-chosen internal port (another process may take it between probe
/// and bind).
constexpr int kPortZeroAttempts = 5;
/// Smallest accepted max_header_bytes: every client's ordinary requests must fit.
constexpr size_t kMinHeaderBytes = 1024;

HttpResponse ErrorResponse(int status, const std::string& message) {
  HttpResponse response;
  response.status = status;
  // replace: an exception text with invalid UTF-8 must not make the error path throw.
  response.body = nlohmann::json{{"error", message}}.dump(-1, ' ', false,
                                                          nlohmann::json::error_handler_t::replace);
  return response;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// Decodes %XX escapes (and '+' as a space in query strings); false on a malformed escape.
bool PercentDecode(std::string_view in, bool plus_is_space, std::string* out) {
  out->clear();
  out->reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      int hi = HexValue(in[i + 1]);
      int lo = HexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out->push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out->push_back(' ');
    } else {
      out->push_back(c);
    }
  }
  return true;
}

/// Splits "a=1&b=x%20y&flag" into decoded pairs; a key without '=' maps to "", the last
/// occurrence of a repeated key wins.
bool ParseQuery(std::string_view query, std::map<std::string, std::string>* out,
                std::string* error) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string key, value;
    if (!PercentDecode(pair.substr(0, eq), true, &key) ||
        (eq != std::string_view::npos && !PercentDecode(pair.substr(eq + 1), true, &value))) {
      *error = "malformed percent-encoding in query parameter '" + std::string(pair) + "'";
      return false;
    }
    (*out)[std::move(key)] = std::move(value);
  }
  return true;
}

bool BuildRequest(const http_request& request, std::string body, HttpRequest* out,
                  std::string* error) {
  out->method = request.method();
  const web::uri& uri = request.request_uri();
  if (!PercentDecode(uri.path(), false, &out->path)) {
    *error = "malformed percent-encoding in path '" + uri.path() + "'";
    return false;
  }
  if (!ParseQuery(uri.query(), &out->query, error)) return false;
  out->body = std::move(body);
  const auto& headers = request.headers();
  if (auto it = headers.find(web::http::header_names::authorization); it != headers.end()) {
    out->authorization = it->second;
  }
  // The guard's header, not cpprestsdk's peer (which is always the guard on 127.0.0.1).
  if (auto it = headers.find(http_internal::kPeerHeader); it != headers.end()) {
    out->remote_address = it->second;
  }
  return true;
}

bool IsChunked(const web::http::http_headers& headers) {
  std::string encoding;
  if (!headers.match(web::http::header_names::transfer_encoding, encoding)) return false;
  std::transform(encoding.begin(), encoding.end(), encoding.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return encoding.find("chunked") != std::string::npos;
}

/// State shared by the server object and every request still being processed. Continuations
/// hold it by shared_ptr, so it outlives the server if cpprestsdk finishes a request late.
struct ServerState {
  ServerState(HttpHandler h, size_t limit, std::string guard_secret)
      : handler(std::move(h)), max_body_bytes(limit), secret(std::move(guard_secret)) {}

  /// Counts a new request in flight, or refuses it once Stop() has begun.
  bool Admit() {
    std::lock_guard lock(mu);
    if (stopping) return false;
    ++in_flight;
    return true;
  }
  /// The reply to an admitted request has been written (or could not be).
  void Finish() {
    std::lock_guard lock(mu);
    if (--in_flight == 0) idle.notify_all();
  }
  /// Marks a handler call as running, unless Stop() has begun.
  bool EnterHandler() {
    std::lock_guard lock(mu);
    if (stopping) return false;
    ++in_handler;
    return true;
  }
  void LeaveHandler() {
    std::lock_guard lock(mu);
    if (--in_handler == 0) idle.notify_all();
  }

  HttpHandler handler;  // reset by Stop() once no call can be running or start
  const size_t max_body_bytes;
  const std::string secret;  // what the guard puts in http_internal::kGuardSecretHeader
  std::mutex mu;
  std::condition_variable idle;
  bool stopping = false;
  int in_handler = 0;  // requests inside `handler`
  int in_flight = 0;   // admitted requests whose reply has not been written yet
};

/// Sends `response` and counts the request finished once cpprestsdk has written it. With
/// `close_connection` the connection is closed after the response.
void Reply(const std::shared_ptr<ServerState>& state, const http_request& request,
           HttpResponse response, bool close_connection = false) noexcept {
  try {
    if (response.status < 100 || response.status > 999) {
      response = ErrorResponse(
          500, "handler returned invalid HTTP status " + std::to_string(response.status));
    }
    http_response reply(static_cast<web::http::status_code>(response.status));
    const bool has_type = !response.content_type.empty();
    reply.set_body(std::move(response.body),
                   has_type ? response.content_type : std::string("application/octet-stream"));
    if (!has_type) reply.headers().remove(web::http::header_names::content_type);
    if (close_connection) reply.headers().add(web::http::header_names::connection, "close");
    request.reply(reply).then([state](pplx::task<void> sent) {
      try {
        sent.get();
      } catch (...) {
        // The client went away or the connection was closed; nobody is left to tell.
      }
      state->Finish();
    });
  } catch (...) {
    // reply() throws when cpprestsdk already answered (e.g. it closed the connection).
    state->Finish();
  }
}

/// Calls the handler for a complete request: 503 once Stop() has begun, 500 for an exception
/// or an invalid status. Used by cpprestsdk's side and by the guard for the requests it
/// answers itself.
HttpResponse RunHandler(ServerState* state, const HttpRequest& request) noexcept {
  HttpResponse response;
  try {
    if (!state->EnterHandler()) return ErrorResponse(503, "server is shutting down");
    // Leaves on every path out of this block, so Stop() can never wait for a handler forever.
    struct Leave {
      ServerState* state;
      ~Leave() { state->LeaveHandler(); }
    } leave{state};
    try {
      response = state->handler(request);
    } catch (const std::exception& e) {
      response = ErrorResponse(500, std::string("internal error: ") + e.what());
    } catch (...) {
      response = ErrorResponse(500, "internal error: unknown exception");
    }
    if (response.status < 100 || response.status > 999) {
      response = ErrorResponse(
          500, "handler returned invalid HTTP status " + std::to_string(response.status));
    }
  } catch (const std::exception& e) {
    response = ErrorResponse(500, std::string("internal error: ") + e.what());
  }
  return response;
}

/// Runs the handler for a request whose body has been read, and replies.
void Dispatch(const std::shared_ptr<ServerState>& state, const http_request& request,
              std::string body) noexcept {
  HttpResponse response;
  try {
    HttpRequest converted;
    std::string error;
    if (!BuildRequest(request, std::move(body), &converted, &error)) {
      response = ErrorResponse(400, error);
    } else {
      response = RunHandler(state.get(), converted);
    }
  } catch (const std::exception& e) {
    response = ErrorResponse(500, std::string("internal error: ") + e.what());
  }
  Reply(state, request, std::move(response));
}

/// Outcome of reading a request body.
struct BodyResult {
  std::string body;        // empty when too_large or failed
  uint64_t size = 0;       // bytes received (the declared length when it was over the limit)
  bool too_large = false;  // over the limit: the bytes were drained and discarded
  std::string error;       // non-empty when the body could not be read
};

/// Reads a request body from cpprestsdk's stream without blocking a pool thread, in pieces of at
/// most kReadChunk, then calls `done` once (on a pool thread; it must not throw). Over the limit
/// (declared by Content-Length, or reached while reading a chunked body) it stops keeping data but
/// keeps draining, in kDiscardChunk pieces, so memory stays bounded and cpprestsdk (which replies
/// only after the whole body has arrived) can send the 413 on a connection that stays usable.
class BodyReader : public std::enable_shared_from_this<BodyReader> {
 public:
  using Done = std::function<void(BodyResult)>;

  BodyReader(concurrency::streams::streambuf<uint8_t> buffer, std::optional<uint64_t> expected,
             size_t limit, Done done)
      : buffer_(std::move(buffer)), expected_(expected), limit_(limit), done_(std::move(done)) {
    discarding_ = expected_ && *expected_ > limit_;
    if (expected_ && !discarding_) body_.resize(*expected_);
  }

  /// Issues the first read; throws only if it cannot (and then `done` is never called).
  void Start() { Step(); }

 private:
  void Step() {
    size_t want;
    uint8_t* dest;
    if (discarding_) {
      scratch_.resize(kDiscardChunk);
      want = kDiscardChunk;
      dest = scratch_.data();
    } else {
      want = kReadChunk;
      if (!expected_ && body_.size() < total_ + want) body_.resize(total_ + want);
      dest = reinterpret_cast<uint8_t*>(body_.data()) + total_;
    }
    if (expected_) want = static_cast<size_t>(std::min<uint64_t>(want, *expected_ - total_));
    auto self = shared_from_this();
    buffer_.getn(dest, want).then([self](pplx::task<size_t> read) { self->OnRead(read); });
  }

  void OnRead(pplx::task<size_t> read) noexcept {
    BodyResult result;
    try {
      size_t n = 0;
      try {
        n = read.get();
      } catch (const std::exception&) {
        // cpprestsdk reports a client that went away as a bare errno ("No such file or
        // directory"); say what happened instead.
        throw std::runtime_error(ClosedEarly());
      }
      total_ += n;
      if (!discarding_ && total_ > limit_) {
        discarding_ = true;
        std::string().swap(body_);
      }
      const bool finished = n == 0 || (expected_ && total_ >= *expected_);
      if (!finished) {
        Step();
        return;
      }
      if (expected_ && total_ < *expected_) throw std::runtime_error(ClosedEarly());
      result.too_large = discarding_;
      result.size = expected_ ? *expected_ : total_;
      if (!discarding_) {
        body_.resize(total_);
        result.body = std::move(body_);
      }
    } catch (const std::exception& e) {
      result = BodyResult();
      result.error = e.what();
    }
    done_(std::move(result));
  }

  std::string ClosedEarly() const {
    return expected_ ? "connection closed before all " + std::to_string(*expected_) +
                           " body bytes arrived"
                     : std::string("connection closed in the middle of a chunked body");
  }

  concurrency::streams::streambuf<uint8_t> buffer_;
  const std::optional<uint64_t> expected_;  // Content-Length, absent for chunked bodies
  const size_t limit_;
  const Done done_;
  bool discarding_ = false;
  uint64_t total_ = 0;
  std::string body_;
  std::vector<uint8_t> scratch_;
};

/// Answers a request whose body has been read (or could not be).
void OnBody(const std::shared_ptr<ServerState>& state, const http_request& request,
            BodyResult result) noexcept {
  if (!result.error.empty()) {
    // The connection is in an unknown state: close it rather than read the next request from
    // it (cpprestsdk would otherwise leave a half-closed connection open).
    Reply(state, request, ErrorResponse(400, "cannot read request body: " + result.error),
          /*close_connection=*/true);
  } else if (result.too_large) {
    Reply(state, request,
          ErrorResponse(413, "request body too large: " + std::to_string(result.size) +
                                 " bytes, limit " + std::to_string(state->max_body_bytes)));
  } else {
    Dispatch(state, request, std::move(result.body));
  }
}

/// True if the request carries the guard's secret, compared in constant time.
bool CameThroughGuard(const ServerState& state, const http_request& request) {
  const auto& headers = request.headers();
  auto it = headers.find(http_internal::kGuardSecretHeader);
  if (it == headers.end() || it->second.size() != state.secret.size()) return false;
  unsigned char difference = 0;
  for (size_t i = 0; i < state.secret.size(); ++i) difference |= it->second[i] ^ state.secret[i];
  return difference == 0;
}

/// Answers a request that is not admitted, without reading its body; closes the connection.
void Refuse(const http_request& request, int status, const std::string& message) noexcept {
  try {
    HttpResponse refusal = ErrorResponse(status, message);
    http_response reply(static_cast<web::http::status_code>(status));
    reply.set_body(std::move(refusal.body), refusal.content_type);
    reply.headers().add(web::http::header_names::connection, "close");
    request.reply(reply).then([](pplx::task<void> sent) {
      try {
        sent.get();
      } catch (...) {
      }
    });
  } catch (...) {
  }
}

/// Entry point for every request cpprestsdk parses (on one of its pool threads).
void OnRequest(const std::shared_ptr<ServerState>& state, const http_request& request) noexcept {
  if (!CameThroughGuard(*state, request)) {
    Refuse(request, 403,
           "this is torc's internal port: connect to the server's public port instead");
    return;
  }
  if (!state->Admit()) {
    Refuse(request, 503, "server is shutting down");
    return;
  }
  try {
    const auto& headers = request.headers();
    const bool chunked = IsChunked(headers);
    const uint64_t length = headers.content_length();
    if (!chunked && length == 0) {
      Dispatch(state, request, std::string());
      return;
    }
    auto reader = std::make_shared<BodyReader>(
        request.body().streambuf(), chunked ? std::nullopt : std::optional<uint64_t>(length),
        state->max_body_bytes,
        [state, request](BodyResult result) { OnBody(state, request, std::move(result)); });
    reader->Start();
  } catch (const std::exception& e) {
    Reply(state, request, ErrorResponse(500, std::string("internal error: ") + e.what()));
  }
}

/// The guard's secret: 128 random bits as hex.
bool RandomSecret(std::string* secret, std::string* error) {
  unsigned char bytes[16];
  if (getrandom(bytes, sizeof(bytes), 0) != static_cast<ssize_t>(sizeof(bytes))) {
    if (error) *error = std::string("cannot make the connection guard's secret: ") + strerror(errno);
    return false;
  }
  static const char kHex[] = "0123456789abcdef";
  secret->clear();
  for (unsigned char b : bytes) {
    secret->push_back(kHex[b >> 4]);
    secret->push_back(kHex[b & 15]);
  }
  return true;
}

/// cpprestsdk cannot listen on port 0 and report the port it got, so ask the kernel for a free
/// one with a throwaway socket. Another process may take it before the listener binds it; the
/// caller retries.
bool FindFreePort(const std::string& host, int* port, std::string* error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(host.c_str(), "0", &hints, &found); rc != 0) {
    *error = "cannot resolve host '" + host + "': " + gai_strerror(rc);
    return false;
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> owner(found, freeaddrinfo);
  int fd = socket(found->ai_family, found->ai_socktype, found->ai_protocol);
  if (fd < 0) {
    *error = std::string("socket: ") + strerror(errno);
    return false;
  }
  sockaddr_storage bound{};
  socklen_t length = sizeof(bound);
  bool ok = bind(fd, found->ai_addr, found->ai_addrlen) == 0 &&
            getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length) == 0;
  if (!ok) *error = "cannot bind a free port on '" + host + "': " + strerror(errno);
  close(fd);
  if (!ok) return false;
  *port = bound.ss_family == AF_INET6
              ? ntohs(reinterpret_cast<const sockaddr_in6*>(&bound)->sin6_port)
              : ntohs(reinterpret_cast<const sockaddr_in*>(&bound)->sin_port);
  return true;
}

// cpprestsdk keeps one acceptor per "host:port" for the whole process, and when a second
// listener on a live host:port fails to register it tears down that shared acceptor, silently
// stopping the first server. Refuse such a second server before cpprestsdk sees it.
std::mutex g_addresses_mu;
std::set<std::string> g_addresses;  // "host:port" of the live servers in this process

bool ClaimAddress(const std::string& key) {
  std::lock_guard lock(g_addresses_mu);
  return g_addresses.insert(key).second;
}
void ReleaseAddress(const std::string& key) {
  std::lock_guard lock(g_addresses_mu);
  g_addresses.erase(key);
}

/// The HttpServer returned by StartHttpServer.
class ListenerServer final : public HttpServer {
 public:
  ListenerServer(std::shared_ptr<ServerState> state, std::unique_ptr<http_listener> listener,
                 std::unique_ptr<http_internal::ConnectionGuard> guard, std::string address)
      : state_(std::move(state)),
        listener_(std::move(listener)),
        guard_(std::move(guard)),
        port_(guard_->port()),
        address_(std::move(address)) {}
  ~ListenerServer() override { Stop(); }

  int port() const override { return port_; }

  // Must not be called from inside the handler (it waits for handlers to return).
  void Stop() override {
    std::lock_guard stop_lock(stop_mu_);
    if (!listener_) return;
    {
      std::unique_lock lock(state_->mu);
      state_->stopping = true;
      state_->idle.wait(lock, [&] { return state_->in_handler == 0; });
      state_->idle.wait_for(lock, kReplyGrace, [&] { return state_->in_flight == 0; });
      state_->handler = nullptr;
    }
    try {
      listener_->close().wait();
    } catch (...) {
      // Nothing useful to do: the listener is gone either way.
    }
    listener_.reset();
    ReleaseAddress(address_);
    // After cpprestsdk has closed its connections: the guard passes on what they sent last.
    guard_->Stop();
  }

  void WakeWaiting() override { guard_->WakeWaiting(); }

 private:
  std::shared_ptr<ServerState> state_;
  std::mutex stop_mu_;
  std::unique_ptr<http_listener> listener_;  // null once stopped
  std::unique_ptr<http_internal::ConnectionGuard> guard_;
  const int port_;
  const std::string address_;
};

}  // namespace

std::unique_ptr<HttpServer> StartHttpServer(const HttpServerOptions& options, HttpHandler handler,
                                            std::string* error) {
  auto fail = [&](const std::string& message) -> std::unique_ptr<HttpServer> {
    if (error) *error = message;
    return nullptr;
  };
  if (!handler) return fail("no request handler given");
  if (options.port < 0 || options.port > 65535) {
    return fail("invalid port " + std::to_string(options.port));
  }
  if (options.max_header_bytes < kMinHeaderBytes) {
    return fail("the header limit must be at least " + std::to_string(kMinHeaderBytes) +
                " bytes, not " + std::to_string(options.max_header_bytes));
  }
  if (options.max_connections_per_client < 1 || options.max_connections < 1) {
    return fail("the connection limits must be at least 1");
  }
  if (options.header_timeout.count() <= 0) return fail("the header timeout must be positive");
  std::string secret;
  if (!RandomSecret(&secret, error)) return nullptr;
  http_internal::GuardOptions guarded{options.host,
                                      options.port,
                                      secret,
                                      options.max_header_bytes,
                                      options.max_connections_per_client,
                                      options.max_connections,
                                      options.header_timeout,
                                      nullptr,
                                      nullptr,
                                      0};
  if (!options.tls_cert_file.empty()) {
    std::string tls_error;
    guarded.tls = http_internal::TlsServerContext::Load(options.tls_cert_file,
                                                        options.tls_key_file, &tls_error);
    if (!guarded.tls) return fail(tls_error);
  }
  auto state =
      std::make_shared<ServerState>(std::move(handler), options.max_body_bytes, secret);
  // The worker protocol's requests are answered in the guard's thread (direct_requests.h).
  guarded.answer = [state](const HttpRequest& request) { return RunHandler(state.get(), request); };
  guarded.max_body_bytes = options.max_body_bytes;
  std::string last_error;
  auto guard = http_internal::ConnectionGuard::Listen(guarded, &last_error);
  if (!guard) {
    return fail(std::string("cannot listen on ") + (guarded.tls ? "https://" : "http://") +
                options.host + ":" + std::to_string(options.port) +
                "/: " + last_error);
  }

  // cpprestsdk's own listener, reachable only on loopback and only with the secret.
  http_internal::SizeThreadPool();
  const std::string internal_host = "127.0.0.1";
  for (int attempt = 0; attempt < kPortZeroAttempts; ++attempt) {
    int port = 0;
    if (!FindFreePort(internal_host, &port, &last_error)) break;
    const std::string address = internal_host + ":" + std::to_string(port);
    if (!ClaimAddress(address)) {
      last_error = "address already in use by another server in this process";
      continue;
    }
    try {
      auto listener = std::make_unique<http_listener>(web::uri("http://" + address + "/"),
                                                      http_listener_config());
      auto on_request = [state](http_request request) { OnRequest(state, request); };
      listener->support(on_request);
      // Without these cpprestsdk answers OPTIONS and TRACE itself (TRACE would echo headers).
      listener->support(web::http::methods::OPTIONS, on_request);
      listener->support(web::http::methods::TRCE, on_request);
      listener->open().wait();
      guard->Start(port);
      return std::make_unique<ListenerServer>(state, std::move(listener), std::move(guard),
                                              address);
    } catch (const std::exception& e) {
      ReleaseAddress(address);
      last_error = e.what();
    }
  }
  return fail("cannot start the internal listener on " + internal_host + ": " + last_error);
}

}  // namespace torc::server
