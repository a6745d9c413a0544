#include "spec/name_index.h"

#include <algorithm>

#include <re2/re2.h>

#include "spec/diagnostics.h"

namespace torc::spec {

Index NameIndex::Add(std::string_view name, Index index) {
  auto [it, inserted] = by_name_.try_emplace(name, index);
  return inserted ? kNone : it->second;
}

Index NameIndex::Find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? kNone : it->second;
}

bool NameIndex::Match(const std::string& pattern, const std::vector<Index>** result,
                      std::string* error) {
  auto cached = matches_.find(pattern);
  if (cached != matches_.end()) {
    *result = cached->second.get();
    return true;
  }
  if (pattern.size() > kMaxRegexBytes) {
    *error = "the regular expression is too long (" + std::to_string(pattern.size()) +
             " bytes, limit " + std::to_string(kMaxRegexBytes) + ")";
    return false;
  }
  RE2::Options opts;
  opts.set_log_errors(false);
  opts.set_max_mem(kMaxRegexMemory);
  RE2 re(pattern, opts);
  if (!re.ok()) {
    *error = "invalid regular expression '" + pattern + "': " + re.error();
    return false;
  }
  if (sorted_.size() != by_name_.size()) {
    sorted_.assign(by_name_.begin(), by_name_.end());
    std::sort(sorted_.begin(), sorted_.end());
  }
  // Narrow the candidates to the range of strings the pattern can match. RE2's
  // range holds for anchored matches only, so use it only for a pattern that
  // starts with '^' and has no alternation that could escape the anchor.
  auto first = sorted_.begin(), last = sorted_.end();
  std::string min, max;
  bool anchored = !pattern.empty() && pattern[0] == '^' && pattern.find('|') == std::string::npos;
  if (anchored && re.PossibleMatchRange(&min, &max, 64)) {
    first = std::lower_bound(sorted_.begin(), sorted_.end(), std::string_view(min),
                             [](const auto& e, std::string_view v) { return e.first < v; });
    // The range bounds the matched prefix, not the whole name: keep every
    // name whose first |max| characters do not sort after max.
    last = std::partition_point(first, sorted_.end(), [&](const auto& e) {
      return e.first.substr(0, max.size()) <= std::string_view(max);
    });
  }
  const auto candidates = static_cast<uint64_t>(last - first);
  if (candidates > tests_left_) {
    *error = "the regular expressions of the workflow would test more than " +
             std::to_string(max_tests_) + " names in all; use fewer distinct patterns, or " +
             "anchor them with '^' so that fewer names are tested";
    tests_left_ = 0;
    return false;
  }
  tests_left_ -= candidates;
  auto found = std::make_unique<std::vector<Index>>();
  for (auto it = first; it != last; ++it) {
    if (RE2::PartialMatch(re2::StringPiece(it->first.data(), it->first.size()), re))
      found->push_back(it->second);
  }
  std::sort(found->begin(), found->end());
  *result = found.get();
  matches_.emplace(pattern, std::move(found));
  return true;
}

std::string NameIndex::Suggest(std::string_view name) {
  if (by_name_.size() > 20000) return "";
  auto cached = suggestions_.find(std::string(name));
  if (cached != suggestions_.end()) return cached->second;
  if (suggestions_.size() >= kMaxSuggestions || suggest_budget_ == 0) return "";
  if (suggest_names_.empty()) {
    suggest_names_.reserve(by_name_.size());
    for (const auto& [n, i] : by_name_) suggest_names_.push_back(n);
    std::sort(suggest_names_.begin(), suggest_names_.end());
  }
  std::string hint = SuggestClosest(name, suggest_names_, &suggest_budget_);
  suggestions_.emplace(std::string(name), hint);
  return hint;
}

}  // namespace torc::spec
