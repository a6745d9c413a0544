// Checked reading of JSON fields, shared by the protocol's decoders and the API's handlers:
// a missing, mistyped or out-of-range field is a FieldError whose text names the field
// ("'max_jobs' must be between 0 and 100000, not -1"), never a json exception.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace torc::protocol {

/// A message that is not what the protocol says: the API answers it with 400 and the text;
/// the worker reports it as a server it does not understand.
struct FieldError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// The value of an integer field within [min, max]; `fallback` when absent or null (required
/// when there is none).
int64_t GetInt(const nlohmann::json& obj, const char* key, int64_t min, int64_t max,
               std::optional<int64_t> fallback = std::nullopt);
/// A finite number; `fallback` when absent or null (required when there is none).
double GetNumber(const nlohmann::json& obj, const char* key,
                 std::optional<double> fallback = std::nullopt);
/// A string of at most max_len bytes; `fallback` when absent or null (required when none).
std::string GetString(const nlohmann::json& obj, const char* key,
                      std::optional<std::string> fallback = std::nullopt,
                      size_t max_len = 1 << 20);
/// `text` as GetString(..., max_bytes) accepts it, for a sender: each byte that is not part of
/// valid UTF-8 becomes '?' (JSON text must be UTF-8: nlohmann refuses to encode anything else),
/// and it is cut to at most `max_bytes` at a character boundary.
std::string FitText(std::string_view text, size_t max_bytes);
/// A boolean; `fallback` when absent or null (required when there is none).
bool GetBool(const nlohmann::json& obj, const char* key, std::optional<bool> fallback = std::nullopt);
/// An array of at most max_items; an empty one when absent or null and not required.
const nlohmann::json& GetArray(const nlohmann::json& obj, const char* key, bool required,
                               size_t max_items = 1'000'000);
/// `body` itself, when it is an object; else FieldError("<what> must be a JSON object").
const nlohmann::json& AsObject(const nlohmann::json& body, const std::string& what);

}  // namespace torc::protocol
