// TLS for the connection guard on OpenSSL (tls_stream.h). Every call is non-blocking: OpenSSL's
// "want read"/"want write" become EAGAIN, and because a read may need the socket to be writable
// (and a write readable) the guard retries both on any readiness (crosses_directions).
#include "server/http/tls_stream.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>

#include "server/tls/tls.h"

namespace torc::server::http_internal {
namespace {

class TlsStream final : public ClientStream {
 public:
  TlsStream(SSL* ssl, int fd) : ssl_(ssl), fd_(fd) {}
  ~TlsStream() override {
    SSL_free(ssl_);
    close(fd_);
  }
  int fd() const override { return fd_; }
  bool crosses_directions() const override { return true; }
  bool established() const override { return SSL_is_init_finished(ssl_) == 1; }

  ssize_t Read(char* data, size_t size) override {
    if (failed_) return Failed();
    ERR_clear_error();
    const int n = SSL_read(ssl_, data, static_cast<int>(std::min<size_t>(size, INT_MAX)));
    return n > 0 ? n : Outcome(n);
  }

  ssize_t Write(const iovec* pieces, int count) override {
    if (failed_) return Failed();
    ssize_t total = 0;
    for (int i = 0; i < count; ++i) {
      if (pieces[i].iov_len == 0) continue;
      ERR_clear_error();
      const int n = SSL_write(ssl_, pieces[i].iov_base,
                              static_cast<int>(std::min<size_t>(pieces[i].iov_len, INT_MAX)));
      if (n <= 0) {
        const ssize_t r = Outcome(n);
        // Bytes already taken count; the rest is tried again later.
        return total > 0 ? total : (r == 0 ? Failed() : r);
      }
      total += n;
      if (static_cast<size_t>(n) < pieces[i].iov_len) break;
    }
    return total;
  }

  void ShutdownWrite() override {
    if (!failed_ && established()) {
      ERR_clear_error();
      SSL_shutdown(ssl_);  // close_notify; the peer's is read (and dropped) while lingering
    }
    shutdown(fd_, SHUT_WR);
  }

 private:
  /// What a call that returned `n` <= 0 means: -1 with EAGAIN (try again on readiness), 0 (the
  /// peer ended the stream), or -1 with EPROTO/ECONNRESET (the connection is unusable).
  ssize_t Outcome(int n) {
    const int error = SSL_get_error(ssl_, n);
    switch (error) {
      case SSL_ERROR_WANT_READ:
      case SSL_ERROR_WANT_WRITE:
        errno = EAGAIN;
        return -1;
      case SSL_ERROR_ZERO_RETURN:
        return 0;
      case SSL_ERROR_SYSCALL:
        if (errno == EAGAIN || errno == EINTR) return -1;
        if (errno == 0) return 0;
        failed_ = true;
        return -1;
      default:
        // A client speaking plain HTTP, an alert (it does not trust us), a broken record:
        // nothing is sent back, and the guard closes the connection.
        ERR_clear_error();
        return Failed();
    }
  }

  ssize_t Failed() {
    failed_ = true;
    errno = EPROTO;
    return -1;
  }

  SSL* const ssl_;
  const int fd_;
  bool failed_ = false;
};

class OpenSslServerContext final : public TlsServerContext {
 public:
  explicit OpenSslServerContext(SSL_CTX* ctx) : ctx_(ctx) {}
  ~OpenSslServerContext() override { SSL_CTX_free(ctx_); }

  std::unique_ptr<ClientStream> Wrap(int fd) override {
    SSL* ssl = SSL_new(ctx_);
    if (ssl == nullptr || SSL_set_fd(ssl, fd) != 1) {
      ERR_clear_error();
      if (ssl != nullptr) SSL_free(ssl);
      close(fd);
      return nullptr;
    }
    SSL_set_accept_state(ssl);
    return std::make_unique<TlsStream>(ssl, fd);
  }

 private:
  SSL_CTX* const ctx_;
};

}  // namespace

std::shared_ptr<TlsServerContext> TlsServerContext::Load(const std::string& cert_file,
                                                         const std::string& key_file,
                                                         std::string* error) {
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) {
    *error = "cannot set up TLS: " + tls::OpenSslErrors();
    return nullptr;
  }
  auto context = std::make_shared<OpenSslServerContext>(ctx);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1) {
    *error = "cannot load the TLS certificate " + cert_file + ": " + tls::OpenSslErrors();
    return nullptr;
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1) {
    *error = "cannot load the TLS key " + key_file + " for " + cert_file + ": " +
             tls::OpenSslErrors();
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  // A client that drops the connection without close_notify (cpprestsdk does) ends the stream
  // like any other end.
  SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);
  // The guard writes what a socket did not take from another buffer later (the same bytes),
  // and takes partial writes; idle connections give their buffers back.
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                            SSL_MODE_RELEASE_BUFFERS);
  // One read(2) takes all the records that have arrived (a request's head and body are often
  // two), not a 5-byte record header and then its body: the guard reads until EAGAIN anyway.
  SSL_CTX_set_read_ahead(ctx, 1);
  return context;
}

}  // namespace torc::server::http_internal
