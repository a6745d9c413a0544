// HttpClient on cpprestsdk's http_client: one client (and its keep-alive connection pool) per
// base URL, blocking calls, transport failures turned into HttpResult::error.
// http_client.h first: it brings in <utility>, which Boost.Asio's awaitable.hpp (included by
// pplx/threadpool.h) uses without including.
#include <cpprest/http_client.h>
#include <pplx/threadpool.h>

#include <algorithm>
#include <cerrno>
#include <mutex>
#include <system_error>
#include <thread>

#include "server/client/http_client.h"

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

/// The HttpClient returned by MakeHttpClient.
class CpprestHttpClient final : public HttpClient {
 public:
  CpprestHttpClient(const std::string& base_url, const std::string& token,
                    std::chrono::milliseconds timeout)
      : base_url_(base_url), timeout_(timeout) {
    if (!token.empty()) authorization_ = "Bearer " + token;
    try {
      http_client_config config;
      config.set_timeout(timeout);
      client_ = std::make_unique<http_client>(web::uri(base_url), config);
    } catch (const std::exception& e) {
      init_error_ = "invalid base URL '" + base_url + "': " + e.what();
    }
  }

  HttpResult Request(const std::string& method, const std::string& path,
                     const std::string& body) override {
    HttpResult result;
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
      http_response response = client_->request(request).get();
      response.content_ready().get();
      result.body = ReadBody(response);
      result.status = response.status_code();
    } catch (const web::http::http_exception& e) {
      result = HttpResult();
      result.error = Describe(e.error_code(), e.what(), method, path);
    } catch (const std::system_error& e) {
      result = HttpResult();
      result.error = Describe(e.code(), e.what(), method, path);
    } catch (const std::exception& e) {
      result = HttpResult();
      result.error = method + " " + base_url_ + path + ": " + e.what();
    }
    return result;
  }

 private:
  std::string Describe(const std::error_code& code, const std::string& what,
                       const std::string& method, const std::string& path) const {
    std::string prefix = method + " " + base_url_ + path + ": ";
    if (code.value() == ETIMEDOUT) {
      return prefix + "timed out after " + std::to_string(timeout_.count()) + " ms";
    }
    // cpprestsdk reports a refused connect() as EHOSTUNREACH, so the two cannot be told apart.
    if (code.value() == ECONNREFUSED || code.value() == EHOSTUNREACH) {
      return prefix + "connection refused or host unreachable (" + what + ")";
    }
    return prefix + what;
  }

  const std::string base_url_;
  const std::chrono::milliseconds timeout_;
  std::string authorization_;
  std::string init_error_;
  std::unique_ptr<http_client> client_;  // thread-safe; null when base_url_ is invalid
};

}  // namespace

std::unique_ptr<HttpClient> MakeHttpClient(const std::string& base_url, const std::string& token,
                                           std::chrono::milliseconds timeout) {
  http_internal::SizeThreadPool();
  return std::make_unique<CpprestHttpClient>(base_url, token, timeout);
}

}  // namespace torc::server
