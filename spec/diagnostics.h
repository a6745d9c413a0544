// Collects the problems found while reading a workflow file, each with its
// position, so that all of them can be reported at once.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "spec/plan.h"

namespace torc::spec {

/// A 1-based position in the workflow file; line 0 means unknown.
struct Loc {
  int line = 0;
  int column = 0;
};

/// A string from the file with the position it was read at.
struct LString {
  std::string value;
  Loc loc;
  bool empty() const { return value.empty(); }
};

/// The list of errors found so far in one file.
class Diagnostics {
 public:
  explicit Diagnostics(std::string file) : file_(std::move(file)) {}
  /// Records an error at `loc`, a position in the text read (mapped through the origins).
  void Error(Loc loc, std::string message);
  /// A key the file sets that torc does not act on, and the like: the file is still valid
  /// (`--strict` refuses it). `message` is without the "warning: " the Diagnostic gets; `loc`
  /// is mapped through the origins like an error's.
  void Warning(Loc loc, std::string message);
  /// The text read is a rewrite of the file (KDL as YAML, spec/kdl_workflow.h): `origins[k]` is
  /// where in the file line k + 1 of the rewrite came from. Every later position is mapped
  /// through it, so that messages point into the file.
  void SetOrigins(std::vector<Loc> origins) { origins_ = std::move(origins); }
  /// Where `loc`, a position in the text read, is in the file.
  Loc InFile(Loc loc) const;
  bool empty() const { return errors_.empty(); }
  size_t size() const { return errors_.size(); }
  /// The errors, sorted by position (stable for equal positions).
  std::vector<Diagnostic> Take();
  /// The warnings, sorted by position.
  std::vector<Diagnostic> TakeWarnings();
  const std::string& file() const { return file_; }

 private:
  std::string file_;
  std::vector<Loc> origins_;
  std::vector<Diagnostic> errors_;
  std::vector<Diagnostic> warnings_;
};

/// "did you mean 'x'?" for the closest of `candidates`, or "" when none is close. When `budget`
/// is given, each comparison spends word.size() * candidate.size() of it, and a search that would
/// overspend gives no hint: hints are a courtesy and must not make a large file slow to reject.
std::string SuggestClosest(std::string_view word, const std::vector<std::string_view>& candidates,
                           uint64_t* budget = nullptr);

}  // namespace torc::spec
