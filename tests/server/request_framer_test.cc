// Tests of the connection guard's request framing (server/http/request_framer.h), without
// sockets: what is forwarded, what is refused and with which status.
#include "server/http/request_framer.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using torc::server::http_internal::RequestFramer;

namespace {

constexpr const char* kInjected = "X-Torc-Guard: s\r\nX-Torc-Peer: 10.0.0.1\r\n";

/// Feeds `input` in pieces of `step` bytes; returns the bytes forwarded. *ok: no error.
std::string Frame(RequestFramer& framer, const std::string& input, size_t step, bool* ok) {
  std::string out;
  *ok = true;
  for (size_t at = 0; at < input.size() && *ok; at += step) {
    std::string part = input.substr(at, step);
    std::vector<RequestFramer::Piece> pieces;
    *ok = framer.Feed(part.data(), part.size(), &pieces);
    for (const auto& p : pieces) {
      out.append((p.from_heads ? framer.heads().data() : part.data()) + p.offset, p.size);
    }
  }
  return out;
}

struct Result {
  bool ok;
  std::string out;
  int status;
  std::string message;
};

Result FrameAll(const std::string& input, size_t step = 1 << 20, size_t limit = 1024) {
  RequestFramer framer(limit, kInjected);
  Result r;
  r.out = Frame(framer, input, step, &r.ok);
  r.status = framer.error().status;
  r.message = framer.error().message;
  return r;
}

}  // namespace

TEST_CASE("heads are rewritten with the injected headers, bodies pass unchanged, byte by byte too") {
  const std::string input =
      "POST /a?b=1 HTTP/1.1\r\nHost: x\r\nX-Torc-Guard: forged\r\nx-torc-peer: 6.6.6.6\r\n"
      "Content-Length: 5\r\n\r\nhello"
      "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n"
      "\r\nGET /d HTTP/1.0\r\n\r\n";
  const std::string expected =
      "POST /a?b=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n" + std::string(kInjected) +
      "\r\nhello"
      "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n" + kInjected +
      "\r\n3\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n"
      "GET /d HTTP/1.0\r\n" + kInjected + "\r\n";
  for (size_t step : {size_t{1}, size_t{2}, size_t{7}, input.size()}) {
    CAPTURE(step);
    RequestFramer framer(1024, kInjected);
    bool ok = false;
    CHECK(Frame(framer, input, step, &ok) == expected);
    CHECK(ok);
    CHECK(framer.requests() == 3);
    CHECK_FALSE(framer.InHead());
  }
}

TEST_CASE("InHead tells a head in progress from an idle connection") {
  RequestFramer framer(1024, kInjected);
  bool ok;
  CHECK_FALSE(framer.InHead());
  Frame(framer, "GET / HTTP/1.1\r\nHo", 100, &ok);
  CHECK(framer.InHead());
  Frame(framer, "st: x\r\n\r\n", 100, &ok);
  CHECK_FALSE(framer.InHead());
  CHECK(framer.requests() == 1);
}

TEST_CASE("a head over the limit is refused with 431 as soon as the limit is passed") {
  Result r = FrameAll("GET /" + std::string(2000, 'a') + " HTTP/1.1\r\n\r\n", 100);
  CHECK_FALSE(r.ok);
  CHECK(r.status == 431);
  CHECK(r.message == "request line and headers too large: more than 1024 bytes (limit 1024)");
  CHECK(r.out.empty());
  // Exactly at the limit is fine.
  std::string head = "GET / HTTP/1.1\r\nX: ";
  head += std::string(1024 - head.size() - 4, 'v') + "\r\n\r\n";
  REQUIRE(head.size() == 1024);
  CHECK(FrameAll(head).ok);
  // The limit counts per request, not per connection.
  CHECK(FrameAll(head + head + head).ok);
}

TEST_CASE("malformed heads and bodies are refused with the right status") {
  struct Case {
    std::string input;
    int status;
    std::string message_has;
  };
  const std::vector<Case> cases = {
      {"NOT-HTTP\r\n\r\n", 400, "malformed request line"},
      {"GET  / HTTP/1.1\r\n\r\n", 400, "malformed request line"},
      {"GET / HTTP/1.1 x\r\n\r\n", 400, "malformed request line"},
      {"G(T / HTTP/1.1\r\n\r\n", 400, "malformed request line"},
      {"GET / HTTP/2.0\r\n\r\n", 505, "HTTP version 'HTTP/2.0' is not supported"},
      {"GET / HTTP/1.1\nHost: x\r\n\r\n", 400, "LF without CR"},
      {"GET / HTTP/1.1\r\nHost: x\rY\r\n\r\n", 400, "CR not followed by LF"},
      {"GET / HTTP/1.1\r\nHost:\tx\r\n\r\n", 400, "byte 9"},
      {"GET /\xc3\xa9 HTTP/1.1\r\n\r\n", 400, "byte 195"},
      {"GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400, "malformed header line"},
      {"GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400, "malformed header line"},
      {"GET / HTTP/1.1\r\nA: b\r\n  folded\r\n\r\n", 400, "obsolete line folding"},
      {"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", 400,
       "more than one Content-Length"},
      {"POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n", 400, "malformed Content-Length '+5'"},
      {"POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n", 400, "malformed Content-Length"},
      {"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", 400,
       "malformed Content-Length"},
      {"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
       "both Content-Length and Transfer-Encoding"},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501,
       "Transfer-Encoding 'gzip, chunked' is not supported"},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
       "more than one Transfer-Encoding"},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\n\r\n", 400,
       "chunk extensions are not supported"},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400,
       "malformed chunk size line"},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX", 400,
       "chunk data not followed by CRLF"},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n100000000\r\n", 400,
       "chunk size over 2147483647 bytes"},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nTrailer: x\r\n\r\n", 400,
       "trailer fields after a chunked body are not supported"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.input);
    for (size_t step : {size_t{1}, c.input.size()}) {
      Result r = FrameAll(c.input, step);
      CHECK_FALSE(r.ok);
      CHECK(r.status == c.status);
      CHECK_MESSAGE(r.message.find(c.message_has) != std::string::npos, r.message);
    }
  }
}

TEST_CASE("a chunked body of any size passes without being kept, and its framing is bounded") {
  RequestFramer framer(1024, kInjected);
  bool ok = false;
  std::string out =
      Frame(framer, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n7fffffff\r\n", 5, &ok);
  REQUIRE(ok);
  // 2 GiB of chunk data in 1 MiB feeds: every byte is forwarded as a piece of the input.
  const std::string mib(1 << 20, 'x');
  size_t forwarded = 0;
  for (int i = 0; i < 2048 && ok; ++i) {
    std::vector<RequestFramer::Piece> pieces;
    const size_t size = i == 2047 ? mib.size() - 1 : mib.size();
    ok = framer.Feed(mib.data(), size, &pieces);
    for (const auto& p : pieces) {
      CHECK_FALSE(p.from_heads);
      forwarded += p.size;
    }
  }
  CHECK(ok);
  CHECK(forwarded == 0x7fffffffu);
  CHECK(Frame(framer, "\r\n0\r\n\r\n", 1, &ok) == "\r\n0\r\n\r\n");
  CHECK(ok);
  CHECK(framer.requests() == 1);
}

TEST_CASE("after an error nothing more is forwarded") {
  RequestFramer framer(1024, kInjected);
  bool ok = true;
  std::string out = Frame(framer, "GET /1 HTTP/1.1\r\n\r\nBAD\r\n\r\nGET /2 HTTP/1.1\r\n\r\n",
                          1 << 20, &ok);
  CHECK_FALSE(ok);
  CHECK(out == "GET /1 HTTP/1.1\r\n" + std::string(kInjected) + "\r\n");
  CHECK(framer.error().in_head);
  CHECK(Frame(framer, "GET /3 HTTP/1.1\r\n\r\n", 100, &ok).empty());
  CHECK_FALSE(ok);
}
