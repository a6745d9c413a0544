// Typed, position-aware access to the YAML mappings of a workflow file. Each
// reader knows the keys its section allows and reports the others as unknown,
// with a suggestion.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "spec/diagnostics.h"

namespace torc::spec {

Loc LocOf(const YAML::Node& node);
/// "a mapping", "a list", "a string", ... for messages.
std::string KindOf(const YAML::Node& node);
/// 'key', quoted for messages (built by appending: g++ 12 at -O3 sees a false -Wrestrict in
/// "'" + std::string(key)).
std::string QuotedKey(std::string_view key);
/// True for an absent value: missing key, `null`, `~` or nothing after the colon.
bool IsAbsent(const YAML::Node& node);

/// Reads one YAML mapping. Construct it, read the keys, then call Finish().
class MapReader {
 public:
  /// `what` names the section in messages ("job 'train'", "execution_config").
  MapReader(const YAML::Node& node, std::string what, std::vector<std::string_view> known_keys,
            Diagnostics* diags);

  bool valid() const { return valid_; }
  Loc loc() const { return LocOf(node_); }
  /// The raw node of a key (null when absent).
  YAML::Node Get(std::string_view key) const;
  bool Has(std::string_view key) const;

  std::optional<LString> String(std::string_view key, bool required = false);
  std::optional<int64_t> Int(std::string_view key, int64_t min, int64_t max, bool required = false);
  std::optional<bool> Bool(std::string_view key);
  /// A list of strings; a single string is accepted as a list of one.
  std::vector<LString> StringList(std::string_view key);
  std::vector<int64_t> IntList(std::string_view key, int64_t min, int64_t max);
  /// A mapping of string to scalar (env, slurm_defaults), in file order.
  std::vector<std::pair<LString, LString>> StringMap(std::string_view key);

  /// A key of Torc's format that torc accepts but does not act on: when the file sets it, a
  /// warning at the key, "'<key>' has no effect in torc: <why>" (`--strict` refuses it).
  void NoEffect(std::string_view key, const std::string& why);

  /// Reports keys that are not in `known_keys`.
  void Finish();

  void Error(Loc loc, std::string message) { diags_->Error(loc, std::move(message)); }
  const std::string& what() const { return what_; }

 private:
  YAML::Node node_;
  std::string what_;
  std::vector<std::string_view> known_;
  Diagnostics* diags_;
  bool valid_ = false;
};

/// Reads a scalar node as a string; false (with an error) for maps and lists.
bool ScalarString(const YAML::Node& node, const std::string& where, Diagnostics* diags,
                  LString* out);

}  // namespace torc::spec
