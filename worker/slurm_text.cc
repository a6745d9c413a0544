// Slurm's hostlists ("n[1-4]"), per-node count lists ("4(x2),2") and times
// ("2026-11-22T10:20:44"): the readers declared in allocation.h.
#include <ctime>
#include <set>
#include <string>

#include "worker/allocation.h"
#include "worker/slurm_text.h"

namespace torc::worker {
namespace {

using namespace text;

// 'text' for a message. Appended, not "'" + std::string(...): g++ 12 at -O3 warns (-Wrestrict,
// a false positive) on that operator+ once it is inlined here.
std::string Quoted(std::string_view text) {
  std::string quoted(1, '\'');
  quoted.append(text);
  quoted += '\'';
  return quoted;
}

// Splits on commas that are not inside brackets; brackets are checked later.
std::vector<std::string_view> SplitTopLevel(std::string_view s) {
  std::vector<std::string_view> parts;
  int depth = 0;
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '[') ++depth;
    if (s[i] == ']') --depth;
    if (s[i] == ',' && depth <= 0) {
      parts.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  parts.push_back(s.substr(start));
  return parts;
}

std::string Padded(int64_t v, size_t width) {
  std::string digits = std::to_string(v);
  if (digits.size() < width) digits.insert(0, width - digits.size(), '0');
  return digits;
}

// Expands the inside of one bracket group ("01-03,7") into its values, in
// order. At most `budget` values; more is an error (the caller's host limit).
bool ExpandBracket(std::string_view body, int64_t budget, std::vector<std::string>* values,
                   std::string* error) {
  for (std::string_view item : Split(body, ',')) {
    if (item.empty()) {
      *error = "empty item in '[" + std::string(body) + "]'";
      return false;
    }
    size_t dash = item.find('-');
    std::string_view lo_text = item.substr(0, dash);
    std::string_view hi_text = dash == std::string_view::npos ? lo_text : item.substr(dash + 1);
    int64_t lo = 0, hi = 0;
    if (!ParseCount(lo_text, &lo) || !ParseCount(hi_text, &hi)) {
      *error = Quoted(item) + " is not a number or a range of numbers";
      return false;
    }
    if (hi < lo) {
      *error = "reversed range '" + std::string(item) + "'";
      return false;
    }
    if (hi - lo + 1 > budget - static_cast<int64_t>(values->size())) {
      *error = "expands to more than " + std::to_string(kMaxHosts) + " hosts";
      return false;
    }
    // Slurm keeps the width of the lower bound: n[08-10] -> n08,n09,n10.
    for (int64_t v = lo; v <= hi; ++v) values->push_back(Padded(v, lo_text.size()));
  }
  return true;
}

// Expands one comma-free item ("r[1-2]n[1-2]") and appends its hosts.
bool ExpandItem(std::string_view item, std::vector<std::string>* hosts, std::string* error) {
  if (item.empty()) {
    *error = "empty item";
    return false;
  }
  // The item as alternating literal text and bracket groups; the first
  // group varies slowest, like Slurm: r[1-2]n[1-2] -> r1n1,r1n2,r2n1,r2n2.
  std::vector<std::vector<std::string>> parts;
  int64_t combinations = 1;
  size_t i = 0;
  while (i < item.size()) {
    size_t open = item.find_first_of("[]", i);
    if (open != std::string_view::npos && item[open] == ']') {
      *error = "unbalanced ']'";
      return false;
    }
    if (open == std::string_view::npos) {
      parts.push_back({std::string(item.substr(i))});
      break;
    }
    if (open > i) parts.push_back({std::string(item.substr(i, open - i))});
    size_t close = item.find_first_of("[]", open + 1);
    if (close == std::string_view::npos || item[close] == '[') {
      *error = "unbalanced '['";
      return false;
    }
    std::string_view body = item.substr(open + 1, close - open - 1);
    if (body.empty()) {
      *error = "empty brackets '[]'";
      return false;
    }
    int64_t budget = (kMaxHosts - static_cast<int64_t>(hosts->size())) / combinations;
    std::vector<std::string> values;
    if (!ExpandBracket(body, budget, &values, error)) return false;
    combinations *= static_cast<int64_t>(values.size());
    parts.push_back(std::move(values));
    i = close + 1;
  }
  if (static_cast<int64_t>(hosts->size()) + combinations > kMaxHosts) {
    *error = "expands to more than " + std::to_string(kMaxHosts) + " hosts";
    return false;
  }
  // Odometer over the parts, last part fastest.
  std::vector<size_t> index(parts.size(), 0);
  for (int64_t c = 0; c < combinations; ++c) {
    std::string host;
    for (size_t p = 0; p < parts.size(); ++p) host += parts[p][index[p]];
    hosts->push_back(std::move(host));
    for (size_t p = parts.size(); p-- > 0;) {
      if (++index[p] < parts[p].size()) break;
      index[p] = 0;
    }
  }
  return true;
}
}  // namespace

bool ExpandHostlist(std::string_view expr, std::vector<std::string>* hosts, std::string* error) {
  hosts->clear();
  expr = Trim(expr);
  if (expr.empty()) {
    *error = "empty hostlist";
    return false;
  }
  for (std::string_view item : SplitTopLevel(expr)) {
    if (!ExpandItem(item, hosts, error)) {
      hosts->clear();
      return false;
    }
  }
  return true;
}

bool ExpandCountList(std::string_view text, std::vector<int64_t>* counts, std::string* error) {
  counts->clear();
  text = Trim(text);
  if (text.empty()) {
    *error = "empty count list";
    return false;
  }
  for (std::string_view item : Split(text, ',')) {
    int64_t value = 0, repeat = 1;
    size_t paren = item.find('(');
    std::string_view value_text = item.substr(0, paren);
    bool ok = ParseCount(value_text, &value);
    if (ok && paren != std::string_view::npos) {
      std::string_view rest = item.substr(paren);  // "(xK)"
      ok = rest.size() > 3 && rest.substr(0, 2) == "(x" && rest.back() == ')' &&
           ParseCount(rest.substr(2, rest.size() - 3), &repeat) && repeat >= 1;
    }
    if (!ok) {
      *error = item.empty() ? "empty item" : Quoted(item) + " is not N or N(xK)";
      counts->clear();
      return false;
    }
    if (repeat > kMaxHosts - static_cast<int64_t>(counts->size())) {
      *error = "more than " + std::to_string(kMaxHosts) + " counts";
      counts->clear();
      return false;
    }
    counts->insert(counts->end(), static_cast<size_t>(repeat), value);
  }
  return true;
}

std::optional<double> ParseSlurmTime(std::string_view text) {
  text = Trim(text);
  if (text.empty() || text == "N/A" || text == "UNLIMITED" || text == "NONE" || text == "Unknown")
    return std::nullopt;
  // Exactly YYYY-MM-DDTHH:MM:SS.
  static constexpr std::string_view kShape = "dddd-dd-ddTdd:dd:dd";
  if (text.size() != kShape.size()) return std::nullopt;
  for (size_t i = 0; i < kShape.size(); ++i) {
    bool ok = kShape[i] == 'd' ? (text[i] >= '0' && text[i] <= '9') : text[i] == kShape[i];
    if (!ok) return std::nullopt;
  }
  auto num = [&](size_t pos, size_t len) {
    int v = 0;
    for (size_t i = pos; i < pos + len; ++i) v = v * 10 + (text[i] - '0');
    return v;
  };
  std::tm tm{};
  tm.tm_year = num(0, 4) - 1900;
  tm.tm_mon = num(5, 2) - 1;
  tm.tm_mday = num(8, 2);
  tm.tm_hour = num(11, 2);
  tm.tm_min = num(14, 2);
  tm.tm_sec = num(17, 2);
  tm.tm_isdst = -1;
  if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
      tm.tm_min > 59 || tm.tm_sec > 60)
    return std::nullopt;
  const int year = tm.tm_year, month = tm.tm_mon, day = tm.tm_mday;
  std::time_t t = std::mktime(&tm);
  if (t == static_cast<std::time_t>(-1)) return std::nullopt;
  // mktime normalizes "02-31" to March: such a date is garbage.
  if (tm.tm_year != year || tm.tm_mon != month || tm.tm_mday != day) return std::nullopt;
  return static_cast<double>(t);
}

}  // namespace torc::worker
