#include "spec/schema.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <map>
#include <string_view>

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/yaml.h>

#include "spec/json5.h"
#include "spec/kdl_workflow.h"
#include "spec/schema_internal.h"
#include "spec/yaml_reader.h"

namespace torc::spec {

const char* RefListKey(RefList list) {
  static const char* kKeys[] = {"depends_on",       "depends_on_regexes",
                                "input_files",      "input_file_regexes",
                                "output_files",     "output_file_regexes",
                                "input_user_data",  "input_user_data_regexes",
                                "output_user_data", "output_user_data_regexes"};
  return kKeys[list];
}

namespace internal {

std::string EntryName(const YAML::Node& node, const char* kind, size_t index) {
  if (node.IsMap()) {
    YAML::Node name = node["name"];
    if (name.IsDefined() && name.IsScalar() && !name.Scalar().empty())
      return std::string(kind) + " '" + name.Scalar() + "'";
  }
  return std::string(kind) + " #" + std::to_string(index + 1);
}

void RefuseUnsupported(MapReader& r, std::initializer_list<std::string_view> keys) {
  for (auto key : keys) {
    if (r.Has(key) || r.Get(key).IsSequence() || r.Get(key).IsMap())
      r.Error(LocOf(r.Get(key)),
              QuotedKey(key) + " is not supported by torc yet (in " + r.what() + ")");
  }
}

std::optional<StdioConfig> ReadStdio(const YAML::Node& node, const std::string& where,
                                     Diagnostics* diags) {
  MapReader r(node, "stdio of " + where, {"mode", "delete_on_success"}, diags);
  if (!r.valid()) return std::nullopt;
  StdioConfig c;
  if (auto mode = r.String("mode")) {
    static const std::pair<const char*, StdioMode> kModes[] = {
        {"separate", StdioMode::kSeparate}, {"combined", StdioMode::kCombined},
        {"no_stdout", StdioMode::kNoStdout}, {"no_stderr", StdioMode::kNoStderr},
        {"none", StdioMode::kNone}};
    bool found = false;
    for (const auto& [name, m] : kModes) {
      if (mode->value == name) {
        c.mode = m;
        found = true;
      }
    }
    if (!found)
      r.Error(mode->loc, "stdio mode '" + mode->value +
                             "' is not one of separate, combined, no_stdout, no_stderr, none");
  }
  if (auto d = r.Bool("delete_on_success")) c.delete_on_success = *d;
  r.Finish();
  return c;
}

}  // namespace internal

using internal::EntryName;
using internal::ReadAction;
using internal::ReadExecutionConfig;
using internal::ReadFailureHandler;
using internal::ReadRequirements;
using internal::ReadScheduler;
using internal::ReadStdio;
using internal::RefuseUnsupported;

size_t Utf8SequenceLength(const std::string& text, size_t i);  // below

namespace {

std::string_view Trimmed(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool IsIdentifier(std::string_view s) {
  if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  return true;
}

// Deepest nesting of user data (lists and mappings); an alias inside its own anchor
// (`&a [*a]`) nests without end.
constexpr int kMaxDataDepth = 100;

// Converts user data to JSON. `budget` counts values visited: YAML aliases let a
// few lines stand for billions of values ("billion laughs"), so stop early.
// Nesting deeper than kMaxDataDepth sets *too_deep and stops too.
nlohmann::json YamlToJson(const YAML::Node& node, int64_t* budget, int depth, bool* too_deep) {
  if (depth > kMaxDataDepth) {
    *too_deep = true;
    *budget = -1;
  }
  if (--*budget < 0) return nullptr;
  if (!node.IsDefined() || node.IsNull()) return nullptr;
  if (node.IsScalar()) {
    const std::string& s = node.Scalar();
    if (node.Tag() == "!") return s;
    if (s == "true" || s == "True") return true;
    if (s == "false" || s == "False") return false;
    int64_t i = 0;
    auto r = std::from_chars(s.data(), s.data() + s.size(), i);
    if (r.ec == std::errc() && r.ptr == s.data() + s.size()) return i;
    double d = 0;
    auto rd = std::from_chars(s.data(), s.data() + s.size(), d);
    if (!s.empty() && rd.ec == std::errc() && rd.ptr == s.data() + s.size()) return d;
    return s;
  }
  if (node.IsSequence()) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& item : node) {
      arr.push_back(YamlToJson(item, budget, depth + 1, too_deep));
      if (*budget < 0) break;
    }
    return arr;
  }
  nlohmann::json obj = nlohmann::json::object();
  for (auto it = node.begin(); it != node.end() && *budget >= 0; ++it)
    obj[it->first.IsScalar() ? it->first.Scalar() : std::string("?")] =
        YamlToJson(it->second, budget, depth + 1, too_deep);
  return obj;
}

// What is left of the workflow-wide limits (spec::LoadOptions) while the file is read, and the
// parameter files read so far.
struct Budget {
  explicit Budget(const LoadOptions& o)
      : limits(o),
        parameter_values_left(o.max_parameter_values),
        data_values_left(static_cast<int64_t>(std::min<uint64_t>(o.max_data_values, INT64_MAX))) {}
  const LoadOptions& limits;
  uint64_t parameter_values_left;
  int64_t data_values_left;
  int64_t parameter_file_bytes_left = kMaxWorkflowFileBytes;
  std::map<std::string, std::string> parameter_files;  // path as written -> text (Plan's)

  // Says how much of a workflow-wide limit earlier entries used, when they used some.
  std::string UsedNote(uint64_t total, uint64_t left, const char* what) const {
    if (left == total) return "";
    return "; the workflow may have " + std::to_string(total) + " " + what + " in all and " +
           std::to_string(total - left) + " are used before this one";
  }
};

// What makes `text` no text torc reads — "is not valid UTF-8 (byte 0xFF)" or "holds the control
// byte 0x01 (is it binary?)" — with *at set to where; "" when it is UTF-8 text. Workflow and
// parameter files alike: what is read from them ends up in JSON answers and plan output, which
// must be valid UTF-8 too.
std::string NotTextProblem(const std::string& text, Loc* at) {
  *at = {1, 1};
  for (size_t i = 0; i < text.size();) {
    size_t n = Utf8SequenceLength(text, i);
    const auto byte = static_cast<unsigned char>(text[i]);
    // C0 controls other than tab, line breaks, VT and FF: no format allows them raw.
    if (n == 0 || byte <= 0x08 || (byte >= 0x0E && byte <= 0x1F)) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02X", byte);
      std::string problem = n == 0 ? "is not valid UTF-8 (byte " : "holds the control byte ";
      problem += hex;
      problem += n == 0 ? ")" : " (is it binary?)";
      return problem;
    }
    if (text[i] == '\n') {
      ++at->line;
      at->column = 1;
    } else {
      ++at->column;
    }
    i += n;
  }
  return "";
}

// The values of a parameter written "@path": the lines of that file (ParseParameterFile), read
// through LoadOptions::read_parameter_file once per path and kept for the Plan.
bool ReadParameterFile(const YAML::Node& v, const std::string& name, std::string_view path,
                       Budget* budget, std::vector<ParamValue>* values, Diagnostics* diags) {
  const std::string at = "parameter '" + name + "': ";
  if (path.empty()) {
    diags->Error(LocOf(v), at + "'@' must be followed by the path of a file of values, one per "
                                "line (\"@values.txt\")");
    return false;
  }
  const std::string file(path);
  const std::string named = at + "parameter file '" + file + "': ";
  auto known = budget->parameter_files.find(file);
  if (known == budget->parameter_files.end()) {
    if (!budget->limits.read_parameter_file) {
      diags->Error(LocOf(v), at + "the values come from the file '" + file +
                                 "', which torc cannot read here (the commands given the "
                                 "workflow file, such as 'torc validate' and 'torc submit', read "
                                 "it)");
      return false;
    }
    std::string text, error;
    if (!budget->limits.read_parameter_file(file, &text, &error)) {
      diags->Error(LocOf(v), at + "cannot read the parameter file '" + file + "': " + error);
      return false;
    }
    if (static_cast<int64_t>(text.size()) > budget->parameter_file_bytes_left) {
      std::string message = named + "it has " + std::to_string(text.size()) + " bytes, more ";
      message += budget->parameter_file_bytes_left == kMaxWorkflowFileBytes
                     ? "than the limit of "
                     : "than the " + std::to_string(budget->parameter_file_bytes_left) +
                           " left of the limit of ";
      message += std::to_string(kMaxWorkflowFileBytes) + " (64 MiB) for all parameter files";
      diags->Error(LocOf(v), std::move(message));
      return false;
    }
    Loc bad;
    if (std::string problem = NotTextProblem(text, &bad); !problem.empty()) {
      diags->Error(LocOf(v), named + "line " + std::to_string(bad.line) + " " + problem +
                                 "; a parameter file is text, one value per line");
      return false;
    }
    budget->parameter_file_bytes_left -= static_cast<int64_t>(text.size());
    known = budget->parameter_files.emplace(file, std::move(text)).first;
  }
  std::string error;
  if (!ParseParameterFile(known->second, budget->parameter_values_left, values, &error)) {
    diags->Error(LocOf(v), named + error +
                               budget->UsedNote(budget->limits.max_parameter_values,
                                                budget->parameter_values_left, "parameter values"));
    return false;
  }
  return true;
}

// The values of parameter `name`: a YAML list of scalars, the text form ParseParameterText
// reads, or "@path", the lines of a file (ReadParameterFile). False (with an error) for anything
// else or more values than the budget has left.
bool ReadParameterValues(const YAML::Node& v, const std::string& name, Budget* budget,
                         std::vector<ParamValue>* values, Diagnostics* diags) {
  const Budget& left = *budget;
  std::string error;
  if (v.IsSequence()) {
    if (v.size() == 0) {
      diags->Error(LocOf(v), "parameter '" + name + "' has an empty list of values");
      return false;
    }
    if (v.size() > left.parameter_values_left) {
      diags->Error(LocOf(v), "parameter '" + name + "' has too many values (" +
                                 std::to_string(v.size()) + ", limit " +
                                 std::to_string(left.parameter_values_left) + ")" +
                                 left.UsedNote(left.limits.max_parameter_values,
                                               left.parameter_values_left, "parameter values"));
      return false;
    }
    for (const auto& item : v) {
      if (!item.IsScalar()) {
        diags->Error(LocOf(item),
                     "values of parameter '" + name + "' must be scalars, not " + KindOf(item));
        return false;
      }
      values->push_back(item.Tag() == "!" ? ParamValue::String(item.Scalar())
                                          : ScalarValue(item.Scalar()));
    }
  } else if (v.IsScalar() && !v.Scalar().empty()) {
    std::string_view text = Trimmed(v.Scalar());
    if (!text.empty() && text.front() == '@')
      return ReadParameterFile(v, name, Trimmed(text.substr(1)), budget, values, diags);
    if (!ParseParameterText(v.Scalar(), left.parameter_values_left, values, &error)) {
      diags->Error(LocOf(v), "parameter '" + name + "': " + error +
                                 left.UsedNote(left.limits.max_parameter_values,
                                               left.parameter_values_left, "parameter values"));
      return false;
    }
  } else {
    diags->Error(LocOf(v), "parameter '" + name +
                               "' must be a range (\"1:10\"), a list or a value, not " + KindOf(v));
    return false;
  }
  return true;
}

// Reads a `parameters` mapping (name -> range/list/scalar text or YAML list).
void ReadParameterMap(const YAML::Node& node, const std::string& where, Budget* budget,
                      std::vector<Parameter>* params, std::vector<Loc>* locs, Diagnostics* diags) {
  if (!node.IsMap()) {
    diags->Error(LocOf(node), "'parameters' of " + where +
                                  " must be a mapping of names to values, not " + KindOf(node));
    return;
  }
  for (auto it = node.begin(); it != node.end(); ++it) {
    LString name;
    if (!ScalarString(it->first, "a parameter name in " + where, diags, &name)) continue;
    if (!IsIdentifier(name.value)) {
      diags->Error(name.loc, "parameter name '" + name.value +
                                 "' must be an identifier (letters, digits, '_')");
      continue;
    }
    bool dup = false;
    for (const auto& p : *params) dup = dup || p.name == name.value;
    if (dup) {
      diags->Error(name.loc, "parameter '" + name.value + "' is defined twice in " + where);
      continue;
    }
    Parameter p;
    p.name = name.value;
    if (!ReadParameterValues(it->second, p.name, budget, &p.values, diags)) continue;
    budget->parameter_values_left -= std::min<uint64_t>(p.values.size(), budget->parameter_values_left);
    params->push_back(std::move(p));
    locs->push_back(name.loc);
  }
}

void ReadParameters(MapReader& r, Budget* budget, RawParameters* out, Diagnostics* diags) {
  YAML::Node params = r.Get("parameters");
  if (!IsAbsent(params))
    ReadParameterMap(params, r.what(), budget, &out->params, &out->param_locs, diags);
  out->use_parameters = r.StringList("use_parameters");
  if (auto mode = r.String("parameter_mode")) {
    if (mode->value == "zip") out->mode = ParameterMode::kZip;
    else if (mode->value == "product") out->mode = ParameterMode::kProduct;
    else
      r.Error(mode->loc, "parameter_mode of " + r.what() + " must be 'product' or 'zip', not '" +
                             mode->value + "'");
  }
}

void ReadEnv(MapReader& r, std::vector<std::pair<std::string, LString>>* env) {
  for (auto& [key, value] : r.StringMap("env")) {
    if (!IsIdentifier(key.value)) {
      r.Error(key.loc, "environment variable name '" + key.value + "' in " + r.what() +
                           " is not valid (letters, digits and '_', not starting with a digit)");
      continue;
    }
    env->push_back({key.value, std::move(value)});
  }
}

RawJob ReadJob(const YAML::Node& node, size_t index, Budget* budget,
               Diagnostics* diags) {
  RawJob job;
  std::vector<std::string_view> keys = {
      "name", "command", "invocation_script", "env", "cancel_on_blocking_job_failure",
      "supports_termination", "resource_requirements", "failure_handler", "scheduler",
      "parameters", "parameter_mode", "use_parameters", "parameters_file",
      "use_parameters_file", "stdio", "priority"};
  for (int l = 0; l < kNumRefLists; ++l) keys.push_back(RefListKey(static_cast<RefList>(l)));
  MapReader r(node, EntryName(node, "job", index), keys, diags);
  job.loc = r.loc();
  if (!r.valid()) return job;
  if (auto v = r.String("name", true)) job.name = *v;
  if (auto v = r.String("command", true)) job.command = *v;
  if (auto v = r.String("invocation_script")) job.invocation_script = *v;
  if (auto v = r.String("resource_requirements")) job.resource_requirements = *v;
  if (auto v = r.String("scheduler")) job.scheduler = *v;
  if (auto v = r.String("failure_handler")) job.failure_handler = *v;
  if (auto v = r.Int("priority", 0, 1'000'000'000)) job.priority = *v;
  if (auto v = r.Bool("cancel_on_blocking_job_failure")) job.cancel_on_blocking_job_failure = *v;
  r.NoEffect("supports_termination",
             "every job gets execution_config's termination_signal before it is killed");
  ReadEnv(r, &job.env);
  for (int l = 0; l < kNumRefLists; ++l)
    job.refs[l] = r.StringList(RefListKey(static_cast<RefList>(l)));
  ReadParameters(r, budget, &job.parameters, diags);
  RefuseUnsupported(r, {"parameters_file", "use_parameters_file"});
  YAML::Node stdio = r.Get("stdio");
  if (!IsAbsent(stdio)) job.stdio = ReadStdio(stdio, r.what(), diags);
  if (job.name.loc.line > 0 && job.name.value.empty())
    r.Error(job.name.loc, "the name of " + r.what() + " is empty");
  r.Finish();
  return job;
}

RawFile ReadFile(const YAML::Node& node, size_t index, Budget* budget,
                 Diagnostics* diags) {
  RawFile f;
  MapReader r(node, EntryName(node, "file", index),
              {"name", "path", "identifier", "st_mtime", "parameters", "parameter_mode",
               "use_parameters"},
              diags);
  f.loc = r.loc();
  if (!r.valid()) return f;
  if (auto v = r.String("name", true)) f.name = *v;
  if (auto v = r.String("path", true)) f.path = *v;
  r.NoEffect("identifier", "a file is known by its name and path");
  r.NoEffect("st_mtime", "torc does not compare files' modification times");
  ReadParameters(r, budget, &f.parameters, diags);
  r.Finish();
  return f;
}

RawUserData ReadUserData(const YAML::Node& node, size_t index, Budget* budget,
                         Diagnostics* diags) {
  RawUserData u;
  MapReader r(node, EntryName(node, "user_data entry", index),
              {"name", "data", "is_ephemeral", "parameters", "parameter_mode", "use_parameters"},
              diags);
  u.loc = r.loc();
  if (!r.valid()) return u;
  if (auto v = r.String("name", true)) u.name = *v;
  const uint64_t total = budget->limits.max_data_values;
  const auto left = static_cast<uint64_t>(budget->data_values_left);
  bool too_deep = false;
  u.data = YamlToJson(r.Get("data"), &budget->data_values_left, 0, &too_deep);
  if (too_deep) {
    r.Error(LocOf(r.Get("data")), "'data' of " + r.what() + " nests deeper than " +
                                      std::to_string(kMaxDataDepth) +
                                      " levels (or a YAML alias refers to itself)");
    budget->data_values_left = static_cast<int64_t>(left);
    u.data = nullptr;
  } else if (budget->data_values_left < 0) {
    r.Error(LocOf(r.Get("data")), "'data' of " + r.what() + " has more than " +
                                      std::to_string(left) + " values (YAML aliases expanding?)" +
                                      budget->UsedNote(total, left, "user_data values"));
    budget->data_values_left = 0;
    u.data = nullptr;
  }
  if (auto v = r.Bool("is_ephemeral")) u.is_ephemeral = *v;
  ReadParameters(r, budget, &u.parameters, diags);
  r.Finish();
  return u;
}

template <typename Fn>
void ForEachEntry(const YAML::Node& node, const char* key, Diagnostics* diags, Fn fn) {
  if (IsAbsent(node)) return;
  if (!node.IsSequence()) {
    diags->Error(LocOf(node), "'" + std::string(key) + "' must be a list, not " + KindOf(node));
    return;
  }
  for (size_t i = 0; i < node.size(); ++i) fn(node[i], i);
}

}  // namespace

// The length of the valid UTF-8 sequence at text[i] (no overlong forms, no surrogates, nothing
// past U+10FFFF), or 0 when the bytes there are not one.
size_t Utf8SequenceLength(const std::string& text, size_t i) {
  auto byte = [&](size_t k) { return k < text.size() ? static_cast<unsigned char>(text[k]) : 0u; };
  unsigned c = byte(i);
  if (c < 0x80) return 1;
  auto cont = [&](size_t k) { return (byte(k) & 0xC0) == 0x80; };
  if (c >= 0xC2 && c <= 0xDF) return cont(i + 1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    unsigned c1 = byte(i + 1);
    if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 > 0x9F)) return 0;  // overlong, surrogate
    return cont(i + 1) && cont(i + 2) ? 3 : 0;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    unsigned c1 = byte(i + 1);
    if ((c == 0xF0 && c1 < 0x90) || (c == 0xF4 && c1 > 0x8F)) return 0;  // overlong, > U+10FFFF
    return cont(i + 1) && cont(i + 2) && cont(i + 3) ? 4 : 0;
  }
  return 0;
}

namespace {

// Workflow files are UTF-8 text (YAML, JSON and KDL all say so); everything read from them ends
// up in JSON answers and plan output, which must be valid UTF-8 too. A binary file (or one in
// another encoding) is refused here, in one line that never quotes it.
bool CheckText(const std::string& text, Diagnostics* diags) {
  Loc at;
  std::string problem = NotTextProblem(text, &at);
  if (problem.empty()) return true;
  diags->Error(at, "the file " + problem + "; a workflow file is YAML, JSON, JSON5 or KDL text");
  return false;
}

// The position of the byte at offset `byte` (columns counted in bytes).
Loc PositionOfByte(const std::string& text, size_t byte) {
  Loc loc{1, 1};
  for (size_t i = 0; i < byte && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++loc.line;
      loc.column = 1;
    } else {
      ++loc.column;
    }
  }
  return loc;
}

// Strict JSON syntax: YAML would accept things JSON forbids.
bool CheckStrictJson(const std::string& text, Diagnostics* diags) {
  try {
    nlohmann::json strict = nlohmann::json::parse(text);
    (void)strict;
  } catch (const nlohmann::json::parse_error& e) {
    Loc loc = PositionOfByte(text, e.byte > 0 ? e.byte - 1 : 0);
    std::string what = e.what();
    size_t pos = what.find("syntax error");
    diags->Error(loc, "invalid JSON: " + (pos == std::string::npos ? what : what.substr(pos)));
    return false;
  } catch (const nlohmann::json::exception& e) {
    // Not a syntax error: a number too large for a double ("number overflow parsing '1e999'").
    // Found by fuzzing: it escaped ParsePlan and aborted `torc validate`.
    std::string what = e.what();
    size_t open = what.find('\''), close = what.rfind('\'');
    Loc loc{1, 1};
    if (open != std::string::npos && close > open) {
      size_t at_byte = text.find(what.substr(open + 1, close - open - 1));
      if (at_byte != std::string::npos) loc = PositionOfByte(text, at_byte);
    }
    size_t pos = what.find("] ");
    diags->Error(loc, "invalid JSON: " + (pos == std::string::npos ? what : what.substr(pos + 2)));
    return false;
  }
  return true;
}

// YAML forbids tabs in indentation; yaml-cpp's own message for them is cryptic.
bool CheckNoTabIndentation(const std::string& text, Diagnostics* diags) {
  int line = 1;
  bool at_line_start = true;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\n') {
      ++line;
      at_line_start = true;
    } else if (at_line_start && c == '\t') {
      size_t col = i - (text.rfind('\n', i) == std::string::npos ? static_cast<size_t>(-1)
                                                                 : text.rfind('\n', i));
      diags->Error({line, static_cast<int>(col)},
                   "invalid YAML: a tab is used for indentation; indent with spaces");
      return false;
    } else if (c != ' ') {
      at_line_start = false;
    }
  }
  return true;
}

// Parses the text with yaml-cpp (JSON too: it is YAML), turning its exceptions into errors.
bool ParseYaml(const std::string& text, Format format, YAML::Node* root, Diagnostics* diags) {
  try {
    *root = YAML::Load(text);
  } catch (const YAML::DeepRecursion& e) {
    diags->Error({e.mark.line + 1, e.mark.column + 1},
                 std::string(format == Format::kJson    ? "invalid JSON"
                             : format == Format::kJson5 ? "invalid JSON5"
                             : format == Format::kKdl   ? "invalid KDL"
                                                        : "invalid YAML") +
                     ": nested deeper than " + std::to_string(e.depth()) + " levels");
    return false;
  } catch (const YAML::ParserException& e) {
    // yaml-cpp reports errors at end of input one line past the last line.
    int lines = 1 + static_cast<int>(std::count(text.begin(), text.end(), '\n'));
    if (!text.empty() && text.back() == '\n') --lines;
    Loc loc{e.mark.line + 1, e.mark.column + 1};
    if (loc.line > lines) loc = {std::max(lines, 1), 1};
    // (JSON5 and KDL are rewritten as valid YAML: this would be a bug of spec/json5.cc or
    // spec/kdl_workflow.cc.)
    diags->Error(loc, std::string(format == Format::kJson5 ? "invalid JSON5: "
                                  : format == Format::kKdl ? "invalid KDL: "
                                                           : "invalid YAML: ") +
                          e.msg);
    return false;
  } catch (const YAML::Exception& e) {
    diags->Error({}, std::string("invalid YAML: ") + e.what());
    return false;
  }
  return true;
}

// The sections that are lists of entries: jobs (required, not empty), files, user_data,
// resource_requirements, slurm_schedulers, actions and failure_handlers.
void ReadListSections(MapReader& r, Budget* budget, RawWorkflow* wf, Diagnostics* diags) {
  YAML::Node jobs = r.Get("jobs");
  if (IsAbsent(jobs))
    r.Error(r.loc(), "the workflow needs 'jobs', a list of jobs");
  else if (jobs.IsSequence() && jobs.size() == 0)
    r.Error(LocOf(jobs), "the workflow has no jobs ('jobs' is an empty list)");
  ForEachEntry(jobs, "jobs", diags, [&](const YAML::Node& n, size_t i) {
    wf->jobs.push_back(ReadJob(n, i, budget, diags));
  });
  ForEachEntry(r.Get("files"), "files", diags, [&](const YAML::Node& n, size_t i) {
    wf->files.push_back(ReadFile(n, i, budget, diags));
  });
  ForEachEntry(r.Get("user_data"), "user_data", diags, [&](const YAML::Node& n, size_t i) {
    wf->user_data.push_back(ReadUserData(n, i, budget, diags));
  });
  ForEachEntry(r.Get("resource_requirements"), "resource_requirements", diags,
               [&](const YAML::Node& n, size_t i) {
                 wf->resource_requirements.push_back(ReadRequirements(n, i, diags));
               });
  ForEachEntry(
      r.Get("slurm_schedulers"), "slurm_schedulers", diags,
      [&](const YAML::Node& n, size_t i) { wf->schedulers.push_back(ReadScheduler(n, i, diags)); });
  ForEachEntry(r.Get("actions"), "actions", diags, [&](const YAML::Node& n, size_t i) {
    wf->actions.push_back(ReadAction(n, i, diags));
  });
  ForEachEntry(r.Get("failure_handlers"), "failure_handlers", diags,
               [&](const YAML::Node& n, size_t i) {
                 wf->failure_handlers.push_back(ReadFailureHandler(n, i, diags));
               });
}

// `slurm_defaults`: extra sbatch options for every scheduler, except those each scheduler sets.
void ReadSlurmDefaults(MapReader& r, RawWorkflow* wf) {
  for (auto& [key, value] : r.StringMap("slurm_defaults")) {
    std::string lower;
    for (char c : key.value)
      lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    static const char* kReserved[] = {"partition", "nodes", "walltime", "time",
                                      "mem",       "gres",  "name",     "job-name"};
    bool reserved = false;
    for (const char* k : kReserved) reserved = reserved || lower == k;
    if (reserved) {
      r.Error(key.loc, "slurm_defaults may not set '" + key.value +
                           "'; set it on each slurm scheduler instead");
      continue;
    }
    if (std::string why = internal::BatchScriptLineProblem(key.value + value.value); !why.empty()) {
      r.Error(value.loc, "an entry of slurm_defaults: " + why);
      continue;
    }
    wf->slurm_defaults.push_back({key.value, value.value});
  }
}

}  // namespace

namespace {

// A workflow file is one mapping. A text that is one scalar is most likely another format: it
// is named by its start, never quoted whole.
bool CheckMapping(const YAML::Node& root, Diagnostics* diags) {
  if (root.IsMap()) return true;
  Loc loc = LocOf(root);
  if (loc.line == 0) loc = {1, 1};
  std::string message = "a workflow file must be a mapping with 'name' and 'jobs', not ";
  if (root.IsScalar()) {
    std::string start = root.Scalar();
    size_t cut = std::min<size_t>(start.find('\n'), 30);
    if (cut < start.size()) {
      while (cut > 0 && (static_cast<unsigned char>(start[cut]) & 0xC0) == 0x80) --cut;  // UTF-8
      start = start.substr(0, cut) + "...";
    }
    message += "a text starting '";
    message += start;
    message += "' (a workflow file is YAML, JSON, JSON5 or KDL)";
  } else {
    message += KindOf(root);
  }
  diags->Error(loc, std::move(message));
  return false;
}

}  // namespace

bool LoadDocument(const std::string& text, Format format, YAML::Node* root, Diagnostics* diags) {
  if (!CheckText(text, diags)) return false;
  if (format == Format::kJson && !CheckStrictJson(text, diags)) return false;
  if (format == Format::kYaml && !CheckNoTabIndentation(text, diags)) return false;
  if (format == Format::kJson5) {
    // Rewritten as YAML flow text with the same lines (spec/json5.h), then read as YAML is.
    std::string yaml;
    Json5Error error;
    if (!Json5ToYaml(text, &yaml, &error)) {
      diags->Error({error.line, error.column}, error.message);
      return false;
    }
    return ParseYaml(yaml, format, root, diags) && CheckMapping(*root, diags);
  }
  if (format == Format::kKdl) {
    // Rewritten as YAML flow text, one name or value per line, with the KDL position of each
    // line (spec/kdl_workflow.h): from here on, every position goes through that table.
    std::string yaml;
    std::vector<Loc> origins;
    KdlError error;
    if (!KdlWorkflowToYaml(text, &yaml, &origins, &error)) {
      diags->Error({error.line, error.column}, error.message);
      return false;
    }
    diags->SetOrigins(std::move(origins));
    return ParseYaml(yaml, format, root, diags) && CheckMapping(*root, diags);
  }
  if (!ParseYaml(text, format, root, diags)) return false;
  return CheckMapping(*root, diags);
}

void ReadWorkflow(const YAML::Node& root, const LoadOptions& options, RawWorkflow* wf,
                  Diagnostics* diags) {
  Budget budget(options);
  MapReader r(root, "the workflow",
              {"name", "description", "project", "user", "metadata", "env", "parameters",
               "jobs", "files", "user_data", "resource_requirements", "slurm_schedulers",
               "slurm_defaults", "actions", "execution_config", "failure_handlers",
               "resource_monitor", "compute_node_expiration_buffer_seconds",
               "compute_node_wait_for_new_jobs_seconds",
               "compute_node_ignore_workflow_completion",
               "compute_node_wait_for_healthy_database_minutes", "use_pending_failed",
               "enable_ro_crate", "access_groups", "dynamic_jobs", "variables",
               "parameters_file", "max_failures"},
              diags);
  if (!r.valid()) return;
  if (auto v = r.String("name", true)) wf->name = v->value;
  if (auto v = r.String("description")) wf->description = v->value;
  if (auto v = r.String("project")) wf->project = v->value;
  r.NoEffect("user", "a workflow belongs to the user who runs 'torc submit'");
  r.NoEffect("metadata", "torc keeps no free-form metadata; use 'description' or 'project'");
  r.NoEffect("compute_node_expiration_buffer_seconds",
             "workers stop before their allocation ends by execution_config's "
             "sigterm_lead_seconds (docs/slurm.md)");
  if (auto v = r.Int("compute_node_wait_for_new_jobs_seconds", 1, 7 * 86400))
    wf->worker_idle_timeout_seconds = *v;
  if (auto v = r.Bool("compute_node_ignore_workflow_completion"))
    wf->workers_ignore_completion = *v;
  r.NoEffect("compute_node_wait_for_healthy_database_minutes",
             "workers wait up to 300 s for the server at start ('torc worker run "
             "--connect-timeout') and keep retrying while their jobs run");
  r.NoEffect("use_pending_failed",
             "failed jobs run again through failure_handlers or 'torc restart --failed'");
  r.NoEffect("enable_ro_crate", "torc writes no RO-Crate metadata");
  r.NoEffect("access_groups",
             "a multi-user torc server gives each workflow to its owner (docs/security.md)");
  r.NoEffect("dynamic_jobs", "torc runs the jobs the file defines; it adds none at run time");
  std::vector<std::pair<std::string, LString>> env;
  ReadEnv(r, &env);
  for (auto& [k, v] : env) wf->env.push_back({k, v.value});
  RefuseUnsupported(r, {"variables", "parameters_file"});
  YAML::Node params = r.Get("parameters");
  if (!IsAbsent(params))
    ReadParameterMap(params, "the workflow", &budget, &wf->parameters, &wf->parameter_locs, diags);

  ReadListSections(r, &budget, wf, diags);
  ReadSlurmDefaults(r, wf);
  wf->max_failures = r.Int("max_failures", 1, 1'000'000'000);
  YAML::Node exec = r.Get("execution_config");
  if (!IsAbsent(exec)) ReadExecutionConfig(exec, wf, diags);
  YAML::Node monitor = r.Get("resource_monitor");
  if (!IsAbsent(monitor)) internal::ReadResourceMonitor(monitor, wf, diags);
  r.Finish();
  wf->parameter_files = std::move(budget.parameter_files);
}

}  // namespace torc::spec
