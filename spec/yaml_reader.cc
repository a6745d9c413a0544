#include "spec/yaml_reader.h"

#include <charconv>

namespace torc::spec {

Loc LocOf(const YAML::Node& node) {
  if (!node.IsDefined()) return {};
  YAML::Mark m = node.Mark();
  if (m.line < 0) return {};
  return {m.line + 1, m.column + 1};
}

bool IsAbsent(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return true;
  return false;
}

std::string QuotedKey(std::string_view key) {
  std::string q;
  q.reserve(key.size() + 2);
  q.push_back('\'');
  q.append(key);
  q.push_back('\'');
  return q;
}

std::string KindOf(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return "nothing";
  if (node.IsMap()) return "a mapping";
  if (node.IsSequence()) return "a list";
  if (node.Tag() == "!") return "the string \"" + node.Scalar() + "\"";
  return "'" + node.Scalar() + "'";
}

bool ScalarString(const YAML::Node& node, const std::string& where, Diagnostics* diags,
                  LString* out) {
  if (!node.IsScalar()) {
    diags->Error(LocOf(node), where + " must be a string, not " + KindOf(node));
    return false;
  }
  out->value = node.Scalar();
  out->loc = LocOf(node);
  return true;
}

MapReader::MapReader(const YAML::Node& node, std::string what,
                     std::vector<std::string_view> known_keys, Diagnostics* diags)
    : node_(node), what_(std::move(what)), known_(std::move(known_keys)), diags_(diags) {
  if (!node.IsMap()) {
    diags_->Error(LocOf(node), what_ + " must be a mapping of keys to values, not " + KindOf(node));
    return;
  }
  valid_ = true;
}

YAML::Node MapReader::Get(std::string_view key) const {
  if (!valid_) return YAML::Node();
  for (auto it = node_.begin(); it != node_.end(); ++it)
    if (it->first.IsScalar() && it->first.Scalar() == key) return it->second;
  return YAML::Node();
}

bool MapReader::Has(std::string_view key) const { return !IsAbsent(Get(key)); }

std::optional<LString> MapReader::String(std::string_view key, bool required) {
  YAML::Node v = Get(key);
  if (IsAbsent(v)) {
    if (required) Error(loc(), what_ + " needs '" + std::string(key) + "'");
    return std::nullopt;
  }
  LString s;
  if (!ScalarString(v, QuotedKey(key) + " of " + what_, diags_, &s)) return std::nullopt;
  return s;
}

std::optional<int64_t> MapReader::Int(std::string_view key, int64_t min, int64_t max,
                                      bool required) {
  YAML::Node v = Get(key);
  if (IsAbsent(v)) {
    if (required) Error(loc(), what_ + " needs '" + std::string(key) + "'");
    return std::nullopt;
  }
  std::string where = QuotedKey(key) + " of " + what_;
  int64_t value = 0;
  if (!v.IsScalar() || v.Tag() == "!") {
    Error(LocOf(v), where + " must be an integer, not " + KindOf(v));
    return std::nullopt;
  }
  const std::string& s = v.Scalar();
  auto res = std::from_chars(s.data(), s.data() + s.size(), value);
  if (res.ec == std::errc::result_out_of_range) {
    Error(LocOf(v), where + " is out of range: " + s);
    return std::nullopt;
  }
  if (res.ec != std::errc() || res.ptr != s.data() + s.size()) {
    Error(LocOf(v), where + " must be an integer, not " + KindOf(v));
    return std::nullopt;
  }
  if (value < min || value > max) {
    std::string range = max == INT64_MAX ? "at least " + std::to_string(min)
                                         : "between " + std::to_string(min) + " and " +
                                               std::to_string(max);
    Error(LocOf(v), where + " must be " + range + ", not " + s);
    return std::nullopt;
  }
  return value;
}

std::optional<bool> MapReader::Bool(std::string_view key) {
  YAML::Node v = Get(key);
  if (IsAbsent(v)) return std::nullopt;
  if (v.IsScalar() && v.Tag() != "!") {
    const std::string& s = v.Scalar();
    if (s == "true" || s == "True" || s == "TRUE" || s == "yes") return true;
    if (s == "false" || s == "False" || s == "FALSE" || s == "no") return false;
  }
  Error(LocOf(v), QuotedKey(key) + " of " + what_ + " must be true or false, not " +
                      KindOf(v));
  return std::nullopt;
}

std::vector<LString> MapReader::StringList(std::string_view key) {
  std::vector<LString> out;
  YAML::Node v = Get(key);
  if (IsAbsent(v)) return out;
  std::string where = QuotedKey(key) + " of " + what_;
  if (v.IsScalar()) {
    out.push_back({v.Scalar(), LocOf(v)});
    return out;
  }
  if (!v.IsSequence()) {
    Error(LocOf(v), where + " must be a list of strings, not " + KindOf(v));
    return out;
  }
  for (const auto& item : v) {
    LString s;
    if (ScalarString(item, "each item of " + where, diags_, &s)) out.push_back(std::move(s));
  }
  return out;
}

std::vector<int64_t> MapReader::IntList(std::string_view key, int64_t min, int64_t max) {
  std::vector<int64_t> out;
  YAML::Node v = Get(key);
  if (IsAbsent(v)) return out;
  std::string where = QuotedKey(key) + " of " + what_;
  if (!v.IsSequence()) {
    Error(LocOf(v), where + " must be a list of integers, not " + KindOf(v));
    return out;
  }
  for (const auto& item : v) {
    int64_t value = 0;
    const std::string& s = item.IsScalar() ? item.Scalar() : std::string();
    auto res = std::from_chars(s.data(), s.data() + s.size(), value);
    if (!item.IsScalar() || item.Tag() == "!" || res.ec != std::errc() ||
        res.ptr != s.data() + s.size()) {
      Error(LocOf(item), "each item of " + where + " must be an integer, not " + KindOf(item));
    } else if (value < min || value > max) {
      Error(LocOf(item), "each item of " + where + " must be between " + std::to_string(min) +
                             " and " + std::to_string(max) + ", not " + s);
    } else {
      out.push_back(value);
    }
  }
  return out;
}

std::vector<std::pair<LString, LString>> MapReader::StringMap(std::string_view key) {
  std::vector<std::pair<LString, LString>> out;
  YAML::Node v = Get(key);
  if (IsAbsent(v)) return out;
  std::string where = QuotedKey(key) + " of " + what_;
  if (!v.IsMap()) {
    Error(LocOf(v), where + " must be a mapping of names to values, not " + KindOf(v));
    return out;
  }
  for (auto it = v.begin(); it != v.end(); ++it) {
    LString name, value;
    if (!ScalarString(it->first, "a key of " + where, diags_, &name)) continue;
    bool repeated = false;
    for (const auto& [k, v] : out) repeated = repeated || k.value == name.value;
    if (repeated) {
      Error(name.loc, "key '" + name.value + "' appears twice in " + where);
      continue;
    }
    if (IsAbsent(it->second)) {
      out.push_back({name, {"", LocOf(it->second)}});
      continue;
    }
    if (ScalarString(it->second, "'" + name.value + "' in " + where, diags_, &value))
      out.push_back({name, std::move(value)});
  }
  return out;
}

void MapReader::NoEffect(std::string_view key, const std::string& why) {
  if (!valid_) return;
  for (auto it = node_.begin(); it != node_.end(); ++it)
    if (it->first.IsScalar() && it->first.Scalar() == key) {
      std::string message = "'";
      message.append(key).append("' has no effect in torc: ").append(why);
      diags_->Warning(LocOf(it->first), std::move(message));
      return;
    }
}

void MapReader::Finish() {
  if (!valid_) return;
  std::vector<std::string> seen;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    if (!it->first.IsScalar()) {
      Error(LocOf(it->first), "a key of " + what_ + " must be a string, not " + KindOf(it->first));
      continue;
    }
    std::string key = it->first.Scalar();
    bool repeated = false;
    for (const auto& k : seen) repeated = repeated || k == key;
    if (repeated) {
      Error(LocOf(it->first), "key '" + key + "' appears twice in " + what_);
      continue;
    }
    seen.push_back(key);
    bool known = false;
    for (auto k : known_) known = known || k == key;
    if (known) continue;
    std::string msg = "unknown key '" + key + "' in " + what_;
    std::string hint = SuggestClosest(key, known_);
    if (!hint.empty()) msg += "; " + hint;
    Error(LocOf(it->first), msg);
  }
}

}  // namespace torc::spec
