// JSON5 (https://spec.json5.org): JSON with comments, trailing commas, unquoted keys,
// single-quoted strings, hex numbers, leading or trailing decimal points, '+', Infinity and NaN.
// Torc writes many of its examples in it. No C++ JSON5 library is packaged in Debian, so this is
// a small reader of our own (fuzzed with the workflow reader: tests/fuzz/spec_fuzz.cc).
#pragma once

#include <string>

namespace torc::spec {

/// Where and why a JSON5 text is not valid (1-based line and column; the column counts bytes).
struct Json5Error {
  int line = 0, column = 0;
  std::string message;
};

/// Rewrites a JSON5 text as YAML flow text that yaml-cpp reads to the same values: comments and
/// trailing commas become spaces, strings become double-quoted JSON strings, numbers plain
/// YAML numbers. Line breaks stay where they were, so every value keeps its line (and, except
/// after a rewritten token on the same line, its column) for the reader's file:line:col
/// messages. False with *error at the first thing that is not JSON5. `max_depth` bounds the
/// nesting of objects and arrays.
bool Json5ToYaml(const std::string& text, std::string* yaml, Json5Error* error,
                 int max_depth = 512);

}  // namespace torc::spec
