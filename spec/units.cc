#include "spec/units.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

namespace torc::spec {
namespace {

bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

// Parses a non-negative decimal integer that fits in int64.
bool ParseCount(std::string_view s, int64_t* out) {
  if (!AllDigits(s) || s.size() > 18) return false;
  int64_t v = 0;
  for (char c : s) v = v * 10 + (c - '0');
  *out = v;
  return true;
}

// Parses "12" or "1.5" (non-negative); returns false on anything else.
bool ParseDecimal(std::string_view s, double* out) {
  if (s.empty() || s.size() > 30) return false;
  size_t dot = s.find('.');
  std::string_view whole = s.substr(0, dot);
  std::string_view frac = dot == std::string_view::npos ? std::string_view() : s.substr(dot + 1);
  if (whole.empty() && frac.empty()) return false;
  if (!whole.empty() && !AllDigits(whole)) return false;
  if (dot != std::string_view::npos && !frac.empty() && !AllDigits(frac)) return false;
  if (dot != std::string_view::npos && frac.empty()) return false;
  *out = std::stod(std::string(s));
  return true;
}

}  // namespace

bool ParseMemory(std::string_view text, int64_t* bytes, std::string* error) {
  std::string_view s = text;
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  std::string_view number = s.substr(0, i);
  std::string_view written_unit = s.substr(i);
  while (!written_unit.empty() && std::isspace(static_cast<unsigned char>(written_unit.front())))
    written_unit.remove_prefix(1);
  std::string unit;
  for (char c : written_unit)
    unit += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  double value = 0;
  if (!ParseDecimal(number, &value)) {
    *error = "invalid memory size '" + std::string(text) +
             "': expected a number with an optional unit k, m, g or t (e.g. 512m, 32g)";
    return false;
  }
  double scale = 1;
  if (unit.empty() || unit == "b") {
    scale = 1;
  } else {
    static const char kUnits[] = "kmgtp";
    size_t k = std::string_view(kUnits).find(unit[0]);
    std::string_view rest = std::string_view(unit).substr(1);
    if (k == std::string_view::npos || !(rest.empty() || rest == "b" || rest == "ib")) {
      *error = "invalid memory unit '" + std::string(written_unit) + "' in '" + std::string(text) +
               "': use k, m, g or t (e.g. 512m, 32g)";
      return false;
    }
    scale = std::pow(1024.0, static_cast<double>(k + 1));
  }
  double result = value * scale;
  if (result > 9.0e18) {
    *error = "memory size '" + std::string(text) + "' is too large";
    return false;
  }
  *bytes = static_cast<int64_t>(std::llround(result));
  return true;
}

bool ParseIsoDuration(std::string_view text, int64_t* seconds, std::string* error) {
  auto fail = [&](const std::string& why) {
    *error = "invalid duration '" + std::string(text) + "': " + why +
             " (ISO-8601, e.g. PT30M, PT1H30M, P1DT2H)";
    return false;
  };
  std::string_view s = text;
  if (s.empty() || (s[0] != 'P' && s[0] != 'p')) return fail("must start with 'P'");
  s.remove_prefix(1);
  if (s.empty()) return fail("no value after 'P'");
  bool in_time = false, any = false;
  double total = 0;
  std::string order_seen;  // units seen, to refuse repeats
  while (!s.empty()) {
    char c0 = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
    if (c0 == 'T') {
      if (in_time) return fail("'T' appears twice");
      in_time = true;
      s.remove_prefix(1);
      if (s.empty()) return fail("no time after 'T'");
      continue;
    }
    size_t i = 0;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.' ||
                            s[i] == ',')) {
      ++i;
    }
    if (i == s.size()) return fail("number without a unit");
    std::string number(s.substr(0, i));
    for (char& c : number)
      if (c == ',') c = '.';
    double value = 0;
    if (!ParseDecimal(number, &value)) return fail("expected a number");
    char unit = static_cast<char>(std::toupper(static_cast<unsigned char>(s[i])));
    s.remove_prefix(i + 1);
    double scale = 0;
    if (!in_time) {
      if (unit == 'W') scale = 7 * 86400.0;
      else if (unit == 'D') scale = 86400.0;
      else if (unit == 'Y' || unit == 'M')
        return fail(unit == 'Y' ? "years are not supported" :
                                  "months are not supported (use PT..M for minutes)");
      else if (unit == 'H' || unit == 'S') return fail("hours and seconds go after 'T'");
      else return fail(std::string("unknown unit '") + unit + "'");
    } else {
      if (unit == 'H') scale = 3600.0;
      else if (unit == 'M') scale = 60.0;
      else if (unit == 'S') scale = 1.0;
      else return fail(std::string("unknown time unit '") + unit + "'");
    }
    std::string key = std::string(1, in_time ? 't' : 'd') + unit;
    if (order_seen.find(key) != std::string::npos) return fail(std::string("unit '") + unit + "' repeated");
    order_seen += key;
    total += value * scale;
    any = true;
  }
  if (!any) return fail("no value");
  if (total > 1.0e15) return fail("too large");
  *seconds = static_cast<int64_t>(std::ceil(total));
  return true;
}

bool ParseSlurmWalltime(std::string_view text, int64_t* seconds, std::string* error) {
  auto fail = [&]() {
    *error = "invalid walltime '" + std::string(text) +
             "': use HH:MM:SS, D-HH:MM:SS, D-HH, D-HH:MM, MM or MM:SS";
    return false;
  };
  std::string_view s = text;
  int64_t days = 0;
  bool has_days = false;
  size_t dash = s.find('-');
  if (dash != std::string_view::npos) {
    if (!ParseCount(s.substr(0, dash), &days)) return fail();
    has_days = true;
    s.remove_prefix(dash + 1);
  }
  std::vector<int64_t> parts;
  while (true) {
    size_t colon = s.find(':');
    int64_t v = 0;
    if (!ParseCount(s.substr(0, colon), &v)) return fail();
    parts.push_back(v);
    if (colon == std::string_view::npos) break;
    s.remove_prefix(colon + 1);
  }
  if (parts.size() > 3) return fail();
  int64_t h = 0, m = 0, sec = 0;
  if (has_days) {
    h = parts[0];
    if (parts.size() > 1) m = parts[1];
    if (parts.size() > 2) sec = parts[2];
  } else if (parts.size() == 1) {
    m = parts[0];
  } else if (parts.size() == 2) {
    m = parts[0];
    sec = parts[1];
  } else {
    h = parts[0];
    m = parts[1];
    sec = parts[2];
  }
  bool minutes_lead = !has_days && parts.size() <= 2;  // "MM" and "MM:SS" allow MM >= 60
  if (sec >= 60 || (!minutes_lead && m >= 60)) return fail();
  if (days > 100000 || h > 1000000 || m > 100000000) return fail();
  *seconds = ((days * 24 + h) * 60 + m) * 60 + sec;
  if (*seconds <= 0) {
    *error = "walltime '" + std::string(text) + "' must be longer than zero";
    return false;
  }
  return true;
}

std::string FormatSlurmWalltime(int64_t seconds) {
  int64_t d = seconds / 86400, h = seconds / 3600 % 24, m = seconds / 60 % 60, s = seconds % 60;
  char buf[64];
  if (d > 0)
    std::snprintf(buf, sizeof buf, "%lld-%02lld:%02lld:%02lld", static_cast<long long>(d),
                  static_cast<long long>(h), static_cast<long long>(m), static_cast<long long>(s));
  else
    std::snprintf(buf, sizeof buf, "%02lld:%02lld:%02lld", static_cast<long long>(h),
                  static_cast<long long>(m), static_cast<long long>(s));
  return buf;
}

}  // namespace torc::spec
