#include "server/protocol/fields.h"

#include <algorithm>
#include <cmath>

namespace torc::protocol {
namespace {

std::string Quoted(const char* key) { return std::string("'") + key + "'"; }

// The field, or null when absent or null.
const nlohmann::json* Find(const nlohmann::json& obj, const char* key) {
  if (!obj.is_object()) throw FieldError("expected a JSON object with " + Quoted(key));
  auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

}  // namespace

int64_t GetInt(const nlohmann::json& obj, const char* key, int64_t min, int64_t max,
               std::optional<int64_t> fallback) {
  const nlohmann::json* v = Find(obj, key);
  if (!v) {
    if (fallback) return *fallback;
    throw FieldError(Quoted(key) + " is required");
  }
  if (!v->is_number_integer())
    throw FieldError(Quoted(key) + " must be an integer, not " + v->dump());
  int64_t n = v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)
                  ? INT64_MAX
                  : v->get<int64_t>();
  if (n < min || n > max)
    throw FieldError(Quoted(key) + " must be between " + std::to_string(min) + " and " +
                     std::to_string(max) + ", not " + v->dump());
  return n;
}

double GetNumber(const nlohmann::json& obj, const char* key, std::optional<double> fallback) {
  const nlohmann::json* v = Find(obj, key);
  if (!v) {
    if (fallback) return *fallback;
    throw FieldError(Quoted(key) + " is required");
  }
  if (!v->is_number()) throw FieldError(Quoted(key) + " must be a number");
  double d = v->get<double>();
  if (!std::isfinite(d)) throw FieldError(Quoted(key) + " must be finite");
  return d;
}

std::string GetString(const nlohmann::json& obj, const char* key,
                      std::optional<std::string> fallback, size_t max_len) {
  const nlohmann::json* v = Find(obj, key);
  if (!v) {
    if (fallback) return *fallback;
    throw FieldError(Quoted(key) + " is required");
  }
  if (!v->is_string()) throw FieldError(Quoted(key) + " must be a string");
  const auto& s = v->get_ref<const std::string&>();
  if (s.size() > max_len)
    throw FieldError(Quoted(key) + " is too long (" + std::to_string(s.size()) +
                     " bytes, limit " + std::to_string(max_len) + ")");
  return s;
}

namespace {

// The length of the valid UTF-8 character at text[k] (RFC 3629: no overlong forms, no
// surrogates, nothing past U+10FFFF), or 0 when the byte there does not start one.
size_t Utf8CharLength(std::string_view text, size_t k) {
  auto at = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char c = at(k);
  if (c < 0x80) return 1;
  size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the range of the byte after the first
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (k + n > text.size() || at(k + 1) < lo || at(k + 1) > hi) return 0;
  for (size_t i = 2; i < n; ++i)
    if (at(k + i) < 0x80 || at(k + i) > 0xBF) return 0;
  return n;
}

}  // namespace

std::string FitText(std::string_view text, size_t max_bytes) {
  std::string out;
  out.reserve(std::min(text.size(), max_bytes));
  for (size_t k = 0; k < text.size();) {
    const size_t n = Utf8CharLength(text, k);
    if (out.size() + std::max<size_t>(n, 1) > max_bytes) break;
    if (n == 0) out.push_back('?');
    else out.append(text.substr(k, n));
    k += std::max<size_t>(n, 1);
  }
  return out;
}

bool GetBool(const nlohmann::json& obj, const char* key, std::optional<bool> fallback) {
  const nlohmann::json* v = Find(obj, key);
  if (!v) {
    if (fallback) return *fallback;
    throw FieldError(Quoted(key) + " is required");
  }
  if (!v->is_boolean()) throw FieldError(Quoted(key) + " must be true or false");
  return v->get<bool>();
}

const nlohmann::json& GetArray(const nlohmann::json& obj, const char* key, bool required,
                               size_t max_items) {
  static const nlohmann::json kEmpty = nlohmann::json::array();
  const nlohmann::json* v = Find(obj, key);
  if (!v) {
    if (required) throw FieldError(Quoted(key) + " is required");
    return kEmpty;
  }
  if (!v->is_array()) throw FieldError(Quoted(key) + " must be an array");
  if (v->size() > max_items)
    throw FieldError(Quoted(key) + " has too many items (limit " + std::to_string(max_items) +
                     ")");
  return *v;
}

const nlohmann::json& AsObject(const nlohmann::json& body, const std::string& what) {
  if (!body.is_object()) throw FieldError(what + " must be a JSON object");
  return body;
}

}  // namespace torc::protocol
