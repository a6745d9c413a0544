// Lenient readers of the API's JSON shared by report.cc and report_svg.cc: a
// missing or mistyped field reads as a default instead of throwing.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace torc::server::report {

inline double Num(const nlohmann::json& j, const char* key, double fallback = 0) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : fallback;
}

inline std::string Str(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

/// The array under `key`, or an empty one.
inline const nlohmann::json& List(const nlohmann::json& j, const char* key) {
  static const nlohmann::json kEmpty = nlohmann::json::array();
  if (!j.is_object()) return kEmpty;
  auto it = j.find(key);
  return it != j.end() && it->is_array() ? *it : kEmpty;
}

}  // namespace torc::server::report
