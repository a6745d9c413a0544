// RequestFramer: HTTP/1.1 request framing for the connection guard.
//
// The guard and cpprestsdk must agree on where every request starts and ends, or a client could
// hide a second request inside the first (request smuggling). cpprestsdk's parser is lenient in
// ways a strict framer would read differently, so the framer refuses those forms instead of
// passing them on:
// - a head ends, for cpprestsdk, at "\r\n\r\n" or at the first control or non-ASCII byte: heads
//   may hold only printable ASCII, spaces and CRLF line ends (no tab, no bare CR or LF);
// - cpprestsdk takes the last of several Content-Length headers and any Transfer-Encoding that
//   contains "chunked": one Content-Length of digits, or one Transfer-Encoding that is exactly
//   "chunked", and never both;
// - cpprestsdk reads a chunk-size line as a number followed by two bytes, and ends a chunked
//   body at its last chunk: no chunk extensions, no trailer fields.
#include "server/http/request_framer.h"

#include <algorithm>
#include <cstring>
#include <string_view>

namespace torc::server::http_internal {
namespace {

/// cpprestsdk reads chunk sizes into an int.
constexpr uint64_t kMaxChunkSize = 0x7fffffff;
/// At most this much of a client's text is quoted back in an error message.
constexpr size_t kQuoteBytes = 80;

bool IsTokenChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

bool IsToken(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), IsTokenChar);
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string Quote(std::string_view s) {
  std::string quoted;
  quoted.reserve(std::min(s.size(), kQuoteBytes) + 5);
  quoted.push_back('\'');
  quoted.append(s.substr(0, kQuoteBytes));
  quoted.append(s.size() > kQuoteBytes ? "...'" : "'");
  return quoted;
}

}  // namespace

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x | 0x20) == (y | 0x20);  // only used with letters, digits and '-'
         });
}

std::string_view TrimSpaces(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

RequestFramer::RequestFramer(size_t max_head_bytes, std::string injected_headers)
    : max_head_bytes_(max_head_bytes), injected_headers_(std::move(injected_headers)) {}

bool RequestFramer::Fail(int status, std::string message, bool in_head) {
  state_ = State::kFailed;
  error_ = FramingError{status, std::move(message), in_head};
  return false;
}

bool RequestFramer::Feed(const char* data, size_t size, std::vector<Piece>* pieces) {
  heads_.clear();
  size_t at = 0;
  while (at < size) {
    switch (state_) {
      case State::kFailed:
        return false;
      case State::kHead: {
        for (; at < size && terminator_ < 4; ++at) {
          const char c = data[at];
          if (++head_seen_ > max_head_bytes_) {
            return Fail(431,
                        "request line and headers too large: more than " +
                            std::to_string(max_head_bytes_) + " bytes (limit " +
                            std::to_string(max_head_bytes_) + ")",
                        true);
          }
          if (head_.empty() && (c == '\r' || c == '\n')) continue;  // empty lines before it
          if (c == '\n') {
            if (terminator_ != 1 && terminator_ != 3) {
              return Fail(400, "malformed request head: a line ends in LF without CR", true);
            }
            ++terminator_;
          } else if (terminator_ == 1 || terminator_ == 3) {
            return Fail(400, "malformed request head: CR not followed by LF", true);
          } else if (c == '\r') {
            ++terminator_;
          } else if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
            return Fail(400,
                        "malformed request head: byte " +
                            std::to_string(static_cast<unsigned char>(c)) +
                            " (only printable ASCII is allowed in the request line and headers)",
                        true);
          } else {
            terminator_ = 0;
          }
          head_.push_back(c);
        }
        if (terminator_ < 4) break;  // the head continues in the next Feed
        const size_t offset = heads_.size();
        if (!FinishHead()) return false;
        pieces->push_back(Piece{true, offset, heads_.size() - offset});
        ++requests_;
        if (head_.capacity() > (16 << 10)) std::string().swap(head_);
        head_.clear();
        head_seen_ = 0;
        terminator_ = 0;
        break;
      }
      case State::kFixedBody: {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, size - at));
        pieces->push_back(Piece{false, at, n});
        at += n;
        remaining_ -= n;
        if (remaining_ == 0) state_ = State::kHead;
        break;
      }
      default: {
        const size_t start = at;
        const bool ok = FeedChunked(data, size, &at);
        if (at > start) pieces->push_back(Piece{false, start, at - start});
        if (!ok) return false;
        break;
      }
    }
  }
  return state_ != State::kFailed;
}

bool RequestFramer::FinishHead() {
  std::string_view head(head_);
  head.remove_suffix(2);  // the empty line; every line below ends in "\r\n"
  auto next_line = [&head] {
    const size_t end = head.find("\r\n");
    std::string_view line = head.substr(0, end);
    head.remove_prefix(end + 2);
    return line;
  };

  const std::string_view request_line = next_line();
  const size_t sp1 = request_line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : request_line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || request_line.find(' ', sp2 + 1) != std::string_view::npos ||
      !IsToken(request_line.substr(0, sp1)) || sp2 == sp1 + 1) {
    return Fail(400,
                "malformed request line " + Quote(request_line) +
                    " (expected METHOD SP TARGET SP HTTP/1.1)",
                true);
  }
  const std::string_view version = request_line.substr(sp2 + 1);
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    if (version.substr(0, 5) == "HTTP/") {
      return Fail(505, "HTTP version " + Quote(version) + " is not supported (only HTTP/1.1)",
                  true);
    }
    return Fail(400,
                "malformed request line " + Quote(request_line) +
                    " (expected METHOD SP TARGET SP HTTP/1.1)",
                true);
  }
  heads_.append(request_line).append("\r\n");

  bool has_length = false, chunked = false;
  uint64_t length = 0;
  while (!head.empty()) {
    const std::string_view line = next_line();
    if (line.front() == ' ') {
      return Fail(400, "malformed header: obsolete line folding before " + Quote(line), true);
    }
    const size_t colon = line.find(':');
    const std::string_view name = line.substr(0, colon);
    if (colon == std::string_view::npos || !IsToken(name)) {
      return Fail(400, "malformed header line " + Quote(line), true);
    }
    const std::string_view value = TrimSpaces(line.substr(colon + 1));
    if (EqualsIgnoringCase(name, "content-length")) {
      if (has_length) return Fail(400, "more than one Content-Length header", true);
      if (value.empty() || value.size() > 18 ||
          !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return Fail(400, "malformed Content-Length " + Quote(value), true);
      }
      has_length = true;
      length = std::stoull(std::string(value));
    } else if (EqualsIgnoringCase(name, "transfer-encoding")) {
      if (chunked) return Fail(400, "more than one Transfer-Encoding header", true);
      if (!EqualsIgnoringCase(value, "chunked")) {
        return Fail(501, "Transfer-Encoding " + Quote(value) + " is not supported (only chunked)",
                    true);
      }
      chunked = true;
    } else if (EqualsIgnoringCase(name, "x-torc-guard") || EqualsIgnoringCase(name, "x-torc-peer")) {
      continue;  // the guard's own headers: a client's copy is dropped
    }
    heads_.append(line).append("\r\n");
  }
  if (has_length && chunked) {
    return Fail(400, "a request may not have both Content-Length and Transfer-Encoding", true);
  }
  heads_.append(injected_headers_).append("\r\n");
  if (chunked) {
    state_ = State::kChunkSize;
    remaining_ = 0;
    chunk_digits_ = 0;
  } else if (length > 0) {
    state_ = State::kFixedBody;
    remaining_ = length;
  } else {
    state_ = State::kHead;
  }
  return true;
}

bool RequestFramer::FeedChunked(const char* data, size_t size, size_t* at) {
  while (*at < size && state_ != State::kHead) {
    const char c = data[*at];
    switch (state_) {
      case State::kChunkSize:
        if (int digit = HexDigit(c); digit >= 0) {
          remaining_ = remaining_ * 16 + static_cast<uint64_t>(digit);
          if (++chunk_digits_ > 8 || remaining_ > kMaxChunkSize) {
            return Fail(400, "chunk size over " + std::to_string(kMaxChunkSize) + " bytes", false);
          }
        } else if (c == '\r' && chunk_digits_ > 0) {
          state_ = State::kChunkSizeLf;
        } else if (c == ';' && chunk_digits_ > 0) {
          return Fail(400, "chunk extensions are not supported", false);
        } else {
          return Fail(400, "malformed chunk size line in a chunked body", false);
        }
        ++*at;
        break;
      case State::kChunkSizeLf:
        if (c != '\n') return Fail(400, "malformed chunk size line in a chunked body", false);
        state_ = remaining_ == 0 ? State::kLastChunkCr : State::kChunkData;
        ++*at;
        break;
      case State::kChunkData: {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, size - *at));
        *at += n;
        remaining_ -= n;
        if (remaining_ == 0) state_ = State::kChunkDataCr;
        break;
      }
      case State::kChunkDataCr:
      case State::kChunkDataLf:
        if (c != (state_ == State::kChunkDataCr ? '\r' : '\n')) {
          return Fail(400, "chunk data not followed by CRLF in a chunked body", false);
        }
        state_ = state_ == State::kChunkDataCr ? State::kChunkDataLf : State::kChunkSize;
        chunk_digits_ = 0;
        ++*at;
        break;
      case State::kLastChunkCr:
      case State::kLastChunkLf:
        if (c != (state_ == State::kLastChunkCr ? '\r' : '\n')) {
          return Fail(400, "trailer fields after a chunked body are not supported", false);
        }
        state_ = state_ == State::kLastChunkCr ? State::kLastChunkLf : State::kHead;
        ++*at;
        break;
      default:
        return false;
    }
  }
  return true;
}

}  // namespace torc::server::http_internal
