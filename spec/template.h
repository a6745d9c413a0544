// Parameter values and the `{name}` / `{name:spec}` templates that use them.
// The format spec follows Python's mini-language ({i:03d}, {lr:.4f}, {x:>5}).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace torc::spec {

/// One value of a sweep parameter.
struct ParamValue {
  /// Which of i, f and s holds the value.
  enum class Kind { kInt, kFloat, kString };
  Kind kind = Kind::kString;
  int64_t i = 0;
  double f = 0;
  std::string s;

  static ParamValue Int(int64_t v) { return {Kind::kInt, v, 0, {}}; }
  static ParamValue Float(double v) { return {Kind::kFloat, 0, v, {}}; }
  static ParamValue String(std::string v) { return {Kind::kString, 0, 0, std::move(v)}; }
  /// The value as `{name}` with no format spec writes it.
  std::string ToString() const;
};

/// A parsed format spec: [[fill]align][sign][#][0][width][,][.precision][type].
struct FormatSpec {
  char fill = ' ';
  char align = 0;  // '<', '>', '^', '=' or 0 (default for the type)
  char sign = '-';
  bool alternate = false;
  bool zero_pad = false;
  int width = 0;
  bool grouping = false;
  int precision = -1;
  char type = 0;  // d f F e E g G s x X o b % or 0
};

bool ParseFormatSpec(std::string_view text, FormatSpec* spec, std::string* error);
/// Appends `value` formatted by `spec` to *out; false (and *error) when the spec
/// does not apply to the value (e.g. 'd' on a string).
bool FormatValue(const ParamValue& value, const FormatSpec& spec, std::string* out,
                 std::string* error);

/// A string with `{name}` / `{name:spec}` placeholders, compiled once and
/// rendered many times. Only `{identifier}` and `{identifier:spec}` are
/// placeholders; shell's `${VAR}` and `$VAR`, and any other braces, are text.
class Template {
 public:
  /// Compiles `text`; false with *error on a malformed format spec.
  bool Compile(std::string_view text, std::string* error);

  bool HasPlaceholders() const { return !placeholders_.empty(); }
  /// Distinct parameter names used, in order of first use.
  std::vector<std::string> Names() const;

  /// Resolves placeholder names to positions in `parameter_names`. Returns
  /// false and sets *unknown to the first name that is not a parameter.
  bool Bind(const std::vector<std::string>& parameter_names, std::string* unknown);

  /// Renders with `values[k]` the value of bound parameter k. Appends to *out.
  bool Render(const std::vector<const ParamValue*>& values, std::string* out,
              std::string* error) const;
  /// Convenience: renders into a new string (the text as is when it has no placeholders).
  bool RenderTo(const std::vector<const ParamValue*>& values, std::string* out,
                std::string* error) const;

  const std::string& text() const { return text_; }

 private:
  /// One `{name}` or `{name:spec}` in text_, with where the literal text around it ends
  /// and resumes; `slot` is its parameter's position given to Bind (-1 before).
  struct Placeholder {
    size_t literal_end;  // literal text before it ends here, in text_
    size_t resume;       // text continues here after the placeholder
    std::string name;
    std::string written;  // the placeholder as written, e.g. "{i:03d}"
    FormatSpec spec;
    bool has_spec = false;
    int slot = -1;
  };
  std::string text_;
  std::vector<Placeholder> placeholders_;
};

}  // namespace torc::spec
