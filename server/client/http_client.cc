// HttpClient on cpprestsdk's http_client: one client (and its keep-alive connection pool) per
// base URL, blocking calls, transport failures turned into HttpResult::error.
// http_client.h first: it brings in <utility>, which Boost.Asio's awaitable.hpp (included by
// pplx/threadpool.h) uses without including.
#include <cpprest/http_client.h>
#include <pplx/threadpool.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <map>
#include <mutex>
#include <system_error>
#include <thread>

#include "server/client/http_client.h"
#include "server/tls/tls.h"

namespace torc::server {
namespace http_internal {

// Declared again in http_server.cc (there is no private header for the two transport files).
//
// cpprestsdk runs all socket I/O and task continuations, for servers and clients alike, on one
// process-wide Boost.Asio pool, 40 threads by default. On a small machine most of a request's
// time then goes into waking idle threads: 5.5k requests/s with 40 threads against 17k with 8 on
// 2 cores (8 keep-alive clients, 200-byte bodies). The pool can only be sized before its first
// use, so this must run before anything else touches cpprestsdk; if something already has, the
// default stays. Handlers block pool threads, so it is not sized to the core count alone.
void SizeThreadPool() {
  static std::once_flag once;
  std::call_once(once, [] {
    const size_t threads = std::max(8u, 2 * std::thread::hardware_concurrency());
    try {
      crossplat::threadpool::initialize_with_threads(threads);
    } catch (const std::exception&) {
      // Already started with its default size.
    }
  });
}

}  // namespace http_internal

namespace {

using web::http::http_request;
using web::http::http_response;
using web::http::client::http_client;
using web::http::client::http_client_config;

/// Reads a response body (complete once content_ready() has returned) as raw bytes, without
/// the charset conversions of extract_string().
std::string ReadBody(const http_response& response) {
  auto buffer = response.body().streambuf();
  std::string body(buffer.in_avail(), '\0');
  size_t read = 0;
  while (read < body.size()) {
    size_t n =
        buffer.getn(reinterpret_cast<uint8_t*>(body.data()) + read, body.size() - read).get();
    if (n == 0) break;
    read += n;
  }
  body.resize(read);
  return body;
}

/// One pinned key, and the last other key a server presented instead. Kept for the life of the
/// process (there are few): OpenSSL holds a bare pointer to it in connections that may outlive
/// the client that made them.
struct Pin {
  std::string expected;
  std::mutex mu;
  std::string presented;         // guarded by mu
  std::atomic<uint64_t> refusals{0};
};

Pin* InternPin(const std::string& fingerprint) {
  static std::mutex mu;
  static auto* pins = new std::map<std::string, std::unique_ptr<Pin>>();
  std::lock_guard lock(mu);
  std::unique_ptr<Pin>& pin = (*pins)[fingerprint];
  if (!pin) {
    pin = std::make_unique<Pin>();
    pin->expected = fingerprint;
  }
  return pin.get();
}

/// Replaces OpenSSL's chain verification for a pinned client: the server's own certificate
/// must carry the pinned key; its names, issuer and dates do not matter (the pin says more).
int VerifyPinned(X509_STORE_CTX* store, void* arg) {
  auto* pin = static_cast<Pin*>(arg);
  X509* leaf = X509_STORE_CTX_get0_cert(store);
  std::string presented;
  unsigned char* der = nullptr;
  const int length = leaf != nullptr ? i2d_X509(leaf, &der) : 0;
  if (length > 0) {
    presented = tls::DerKeyFingerprint(std::string(reinterpret_cast<char*>(der),
                                                   static_cast<size_t>(length)));
    OPENSSL_free(der);
  }
  if (!presented.empty() && presented == pin->expected) return 1;
  {
    std::lock_guard lock(pin->mu);
    pin->presented = presented.empty() ? "no readable key" : presented;
  }
  ++pin->refusals;
  X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);
  return 0;
}

/// The HttpClient returned by MakeHttpClient.
class CpprestHttpClient final : public HttpClient {
 public:
  CpprestHttpClient(const std::string& base_url, const std::string& token,
                    std::chrono::milliseconds timeout, const TlsTrust& trust)
      : base_url_(base_url), timeout_(timeout), trust_(trust) {
    if (!token.empty()) authorization_ = "Bearer " + token;
    try {
      http_client_config config;
      config.set_timeout(timeout);
      if (!trust.pinned_key.empty()) {
        pin_ = InternPin(trust.pinned_key);
        Pin* pin = pin_;
        config.set_ssl_context_callback([pin](boost::asio::ssl::context& context) {
          SSL_CTX_set_cert_verify_callback(context.native_handle(), VerifyPinned, pin);
        });
      } else if (!trust.ca_file.empty()) {
        const std::string ca_file = trust.ca_file;
        config.set_ssl_context_callback([ca_file](boost::asio::ssl::context& context) {
          context.load_verify_file(ca_file);
          // A certificate in the file is trusted as it is, also one that is not a CA's (a copy
          // of the server's own server.crt), as curl's --cacert does.
          X509_STORE_set_flags(SSL_CTX_get_cert_store(context.native_handle()),
                               X509_V_FLAG_PARTIAL_CHAIN);
        });
      }
      client_ = std::make_unique<http_client>(web::uri(base_url), config);
    } catch (const std::exception& e) {
      init_error_ = "invalid base URL '" + base_url + "': " + e.what();
    }
  }

  HttpResult Request(const std::string& method, const std::string& path,
                     const std::string& body) override {
    return Send(method, path, body, timeout_);
  }

  HttpResult RequestWithin(const std::string& method, const std::string& path,
                           std::chrono::milliseconds within) override {
    return Send(method, path, "", std::min(within, timeout_));
  }

 private:
  /// One request; when `within` is shorter than the client's timeout, it is cancelled (and its
  /// connection closed) at `within`.
  HttpResult Send(const std::string& method, const std::string& path, const std::string& body,
                  std::chrono::milliseconds within) {
    HttpResult result;
    uint64_t refusals_before = 0;
    if (!client_) {
      result.error = init_error_;
      return result;
    }
    try {
      http_request request(method);
      request.set_request_uri(web::uri(path));
      if (!authorization_.empty()) {
        request.headers().add(web::http::header_names::authorization, authorization_);
      }
      // The copy is deliberate: after a timeout cpprestsdk may still be sending the body
      // while the caller's string is gone.
      if (!body.empty()) request.set_body(std::string(body), "application/json");
      refusals_before = pin_ ? pin_->refusals.load() : 0;
      pplx::cancellation_token_source cancel;
      pplx::task<http_response> sent = client_->request(request, cancel.get_token());
      if (within < timeout_) {
        // cpprestsdk's timeout is the client's; a shorter wait cancels the request. Polled (a
        // probe, once per worker): a continuation left queued at exit would leak.
        const auto deadline = std::chrono::steady_clock::now() + within;
        while (!sent.is_done() && std::chrono::steady_clock::now() < deadline)
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        if (!sent.is_done()) {
          cancel.cancel();
          try {
            sent.wait();
          } catch (...) {
          }
          result.error = Describe(std::error_code(ETIMEDOUT, std::generic_category()), "",
                                  method, path, within);
          return result;
        }
      }
      http_response response = sent.get();
      response.content_ready().get();
      result.body = ReadBody(response);
      result.status = response.status_code();
    } catch (const web::http::http_exception& e) {
      result = HttpResult();
      result.error = Describe(e.error_code(), e.what(), method, path);
      if (pin_ && pin_->refusals.load() != refusals_before) {
        result.error = PinRefusal(method, path);
        result.untrusted = true;
      } else if (std::string(e.what()).find("SSL handshake") != std::string::npos) {
        result.error += HandshakeHint();
        result.untrusted = true;
      } else if (base_url_.rfind("http://", 0) == 0 &&
                 std::string(e.what()).find("status line") != std::string::npos) {
        // A TLS port closes on a plain request without a word.
        result.error += " (if the server serves HTTPS, use the https:// URL its server.url gives)";
      }
    } catch (const std::system_error& e) {
      result = HttpResult();
      result.error = Describe(e.code(), e.what(), method, path);
    } catch (const std::exception& e) {
      result = HttpResult();
      result.error = method + " " + base_url_ + path + ": " + e.what();
    }
    return result;
  }

  std::string Describe(const std::error_code& code, const std::string& what,
                       const std::string& method, const std::string& path,
                       std::chrono::milliseconds waited = {}) const {
    std::string prefix = method + " " + base_url_ + path + ": ";
    if (code.value() == ETIMEDOUT) {
      if (waited.count() == 0) waited = timeout_;
      return prefix + "timed out after " + std::to_string(waited.count()) + " ms";
    }
    // cpprestsdk reports a refused connect() as EHOSTUNREACH, so the two cannot be told apart.
    if (code.value() == ECONNREFUSED || code.value() == EHOSTUNREACH) {
      return prefix + "connection refused or host unreachable (" + what + ")";
    }
    return prefix + what;
  }

  /// Why a handshake failed that the pin did not refuse.
  std::string HandshakeHint() const {
    if (!trust_.ca_file.empty())
      return " (the server's certificate is not signed by a CA of " + trust_.ca_file +
             " or the system's, or does not name the URL's host; or it does not speak TLS)";
    return " (the server does not speak TLS on this port, or refused this client)";
  }

  /// The message of a handshake the pin refused.
  std::string PinRefusal(const std::string& method, const std::string& path) const {
    std::string presented;
    {
      std::lock_guard lock(pin_->mu);
      presented = pin_->presented;
    }
    return method + " " + base_url_ + path + ": the server presented a certificate whose key is " +
           presented + ", not the key of " + trust_.pinned_from + " (" + pin_->expected +
           "), the only one this client trusts: this is another server, or the data directory " +
           "holds another server's certificate (TORC_DATA_DIR); nothing was sent";
  }

  const std::string base_url_;
  const std::chrono::milliseconds timeout_;
  const TlsTrust trust_;
  Pin* pin_ = nullptr;
  std::string authorization_;
  std::string init_error_;
  std::unique_ptr<http_client> client_;  // thread-safe; null when base_url_ is invalid
};

}  // namespace

std::unique_ptr<HttpClient> MakeHttpClient(const std::string& base_url, const std::string& token,
                                           std::chrono::milliseconds timeout,
                                           const TlsTrust& trust) {
  http_internal::SizeThreadPool();
  return std::make_unique<CpprestHttpClient>(base_url, token, timeout, trust);
}

}  // namespace torc::server
