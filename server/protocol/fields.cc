#include "server/protocol/fields.h"

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
