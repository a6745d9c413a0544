// Lookup of entries by exact name and by regular expression (RE2: linear
// time, no backtracking, so a hostile pattern cannot hang the loader).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "spec/plan.h"

namespace torc::spec {

/// Names of one kind of entry (jobs, files, ...). The names must outlive it.
class NameIndex {
 public:
  /// Adds a name; returns the index already holding it when it is a duplicate.
  Index Add(std::string_view name, Index index);
  Index Find(std::string_view name) const;
  size_t size() const { return by_name_.size(); }

  /// Indices (sorted) of names the pattern matches anywhere (search semantics:
  /// anchor with ^ and $ as needed). False with *error for an invalid pattern.
  /// Each distinct pattern is matched once; later calls reuse the answer.
  bool Match(const std::string& pattern, const std::vector<Index>** result, std::string* error);

  /// "did you mean" text for an unknown name (empty for very large indexes). Each distinct name
  /// is looked up once, and only the first kMaxSuggestions distinct names get a hint: 10,000 jobs
  /// naming one missing job must not cost 10,000 scans of every name, and all hints together
  /// compare at most kSuggestBudget characters pairs (20 long names against 20,000 long names
  /// took over 15 s under the fuzzer's sanitizers).
  std::string Suggest(std::string_view name);
  static constexpr size_t kMaxSuggestions = 20;
  static constexpr uint64_t kSuggestBudget = 20'000'000;

  /// How many names Match may test in all (LoadOptions::max_regex_tests); past it, Match fails.
  void set_max_tests(uint64_t n) { tests_left_ = max_tests_ = n; }

 private:
  std::unordered_map<std::string_view, Index> by_name_;
  std::vector<std::pair<std::string_view, Index>> sorted_;  // built on first Match
  std::unordered_map<std::string, std::unique_ptr<std::vector<Index>>> matches_;
  std::unordered_map<std::string, std::string> suggestions_;
  std::vector<std::string_view> suggest_names_;  // sorted, built on first Suggest
  uint64_t suggest_budget_ = kSuggestBudget;
  uint64_t tests_left_ = UINT64_MAX;
  uint64_t max_tests_ = UINT64_MAX;
};

}  // namespace torc::spec
