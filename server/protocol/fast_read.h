// The worker protocol's busiest requests read straight from their text, without a JSON DOM.
//
// Every claim, start notice and result crosses the server as one of these; building a DOM of
// each (a map per object, a string per key) and walking it again was about a fifth of the
// server's CPU under a large allocation (docs/benchmarks.md, session 19).
//
// Only what torc's own worker sends is read here: the keys the protocol knows, each at most
// once, ASCII strings with the short escapes, integers that fit in 64 bits. Anything else
// (an unknown key, a \u escape, a value out of range, text that is not JSON) returns false,
// and the caller decodes the text the general way (nlohmann::json + the *FromJson decoders of
// messages.h), which also words the error. When these return true, *out equals what the
// general way gives for the same text: the fuzzer (tests/fuzz/api_fuzz.cc) and
// tests/protocol/fast_read_test.cc hold them to it.
#pragma once

#include <string_view>

#include "server/protocol/messages.h"

namespace torc::protocol {

bool FastReadClaimRequest(std::string_view text, ClaimRequest* out);
bool FastReadStartRequest(std::string_view text, StartRequest* out);
bool FastReadCompleteRequest(std::string_view text, CompleteRequest* out);

}  // namespace torc::protocol
