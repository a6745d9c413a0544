// Internal to server/http: the request framing the connection guard applies to every client
// connection before its bytes reach cpprestsdk (connection_guard.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace torc::server::http_internal {

/// Header names compared as HTTP does, for the names the guard looks for (letters, digits, '-').
bool EqualsIgnoringCase(std::string_view a, std::string_view b);
/// `s` without the spaces around it (a header value; the framer refuses tabs in heads).
std::string_view TrimSpaces(std::string_view s);

/// Why the framer refused a client's bytes: the HTTP status to answer and the message for its
/// JSON error body.
struct FramingError {
  int status = 0;  // 0: no error
  std::string message;
  bool in_head = false;  // the refused bytes were a request head (else: a chunked body)
};

/// Splits the byte stream of one client connection into HTTP/1.1 requests, so that only bounded,
/// well-framed requests reach cpprestsdk. A request head (request line and headers) is kept until
/// it is complete, up to `max_head_bytes`; it is then checked, rewritten (client copies of the
/// guard's own headers removed, `injected_headers` added) and passed on, followed by exactly its
/// body (Content-Length bytes, or a chunked body), which is passed on as it arrives without being
/// kept. The framing rules are strict where cpprestsdk's own parser would read a request
/// differently from the framer (see request_framer.cc).
class RequestFramer {
 public:
  /// One piece of output: `size` bytes at `offset` in heads() or in the data given to Feed.
  struct Piece {
    bool from_heads;
    size_t offset;
    size_t size;
  };

  /// `injected_headers`: complete header lines ("Name: value\r\n"...) added to every head.
  RequestFramer(size_t max_head_bytes, std::string injected_headers);

  /// Consumes `data` and appends to `pieces`, in order, what to forward. Returns false on a
  /// framing error (see error()); the pieces appended before it are still to be forwarded, the
  /// rest of the data and anything fed later is ignored. The pieces refer to `data` and to
  /// heads(), which stay valid until the next call.
  bool Feed(const char* data, size_t size, std::vector<Piece>* pieces);

  /// The rewritten heads the last Feed produced.
  const std::string& heads() const { return heads_; }
  /// A head has begun (its first byte arrived) and is not complete yet.
  bool InHead() const { return state_ == State::kHead && head_seen_ > 0; }
  /// Requests whose head has been passed on so far.
  uint64_t requests() const { return requests_; }
  const FramingError& error() const { return error_; }

 private:
  enum class State {
    kHead,
    kFixedBody,
    kChunkSize,
    kChunkSizeLf,
    kChunkData,
    kChunkDataCr,
    kChunkDataLf,
    kLastChunkCr,
    kLastChunkLf,
    kFailed,
  };

  /// Checks the complete head in head_ and appends its rewritten form to heads_.
  bool FinishHead();
  /// Consumes chunked-body bytes from data[*at, size); false on a framing error.
  bool FeedChunked(const char* data, size_t size, size_t* at);
  bool Fail(int status, std::string message, bool in_head);

  const size_t max_head_bytes_;
  const std::string injected_headers_;
  State state_ = State::kHead;
  std::string head_;       // the head being received
  size_t head_seen_ = 0;   // bytes of it seen, with empty lines skipped before it
  int terminator_ = 0;     // how much of "\r\n\r\n" ends head_ so far
  uint64_t remaining_ = 0; // body bytes (kFixedBody) or chunk bytes (kChunkData) still to come
  int chunk_digits_ = 0;
  std::string heads_;
  uint64_t requests_ = 0;
  FramingError error_;
};

}  // namespace torc::server::http_internal
