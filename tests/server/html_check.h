// Checks on HTML the server produces (the report, the dashboard page).
#pragma once

#include <cctype>
#include <cstring>
#include <string>

namespace torc::testing {

/// True when some src= or href= attribute points to another host (http:, https: or //).
inline bool HasExternalReference(const std::string& html) {
  std::string lower;
  for (char ch : html) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(ch))));
  for (const char* attr : {"src", "href"}) {
    for (size_t p = lower.find(attr); p != std::string::npos; p = lower.find(attr, p + 1)) {
      size_t q = p + std::strlen(attr);
      while (q < lower.size() && lower[q] == ' ') ++q;
      if (q >= lower.size() || lower[q] != '=') continue;
      ++q;
      while (q < lower.size() && (lower[q] == ' ' || lower[q] == '"' || lower[q] == '\'')) ++q;
      std::string value = lower.substr(q, 8);
      if (value.rfind("http:", 0) == 0 || value.rfind("https:", 0) == 0 || value.rfind("//", 0) == 0)
        return true;
    }
  }
  return false;
}

}  // namespace torc::testing
