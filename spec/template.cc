#include "spec/template.h"

#include <charconv>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <limits>

namespace torc::spec {
namespace {

bool IsIdentStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool IsIdentChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// Shortest text that reads back as the same double, never in exponent form for
// ordinary magnitudes (Rust's Display, which Torc users see: 1.0 -> "1").
std::string ShortestFloat(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
  if (res.ec != std::errc()) return std::to_string(v);
  return std::string(buf, res.ptr);
}

std::string FormatIntBase(int64_t v, int base, bool upper) {
  char buf[80];
  uint64_t mag = v < 0 ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
  auto res = std::to_chars(buf, buf + sizeof buf, mag, base);
  std::string s(buf, res.ptr);
  if (upper)
    for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string GroupThousands(const std::string& digits) {
  std::string out;
  int n = static_cast<int>(digits.size());
  for (int k = 0; k < n; ++k) {
    if (k > 0 && (n - k) % 3 == 0) out += ',';
    out += digits[k];
  }
  return out;
}

// Pads `body` (with `sign` in front of it) to the spec's width.
void Pad(const FormatSpec& spec, const std::string& sign, const std::string& body, bool numeric,
         std::string* out) {
  char align = spec.align;
  char fill = spec.fill;
  if (align == 0) {
    if (spec.zero_pad && numeric) {
      align = '=';
      fill = '0';
    } else {
      align = numeric ? '>' : '<';
    }
  }
  int len = static_cast<int>(sign.size() + body.size());
  int pad = spec.width > len ? spec.width - len : 0;
  if (align == '=') {
    out->append(sign);
    out->append(static_cast<size_t>(pad), fill);
    out->append(body);
  } else if (align == '<') {
    out->append(sign).append(body);
    out->append(static_cast<size_t>(pad), fill);
  } else if (align == '^') {
    out->append(static_cast<size_t>(pad / 2), fill);
    out->append(sign).append(body);
    out->append(static_cast<size_t>(pad - pad / 2), fill);
  } else {
    out->append(static_cast<size_t>(pad), fill);
    out->append(sign).append(body);
  }
}

std::string SignFor(bool negative, char sign) {
  if (negative) return "-";
  if (sign == '+') return "+";
  if (sign == ' ') return " ";
  return "";
}

}  // namespace

std::string ParamValue::ToString() const {
  switch (kind) {
    case Kind::kInt:
      return std::to_string(i);
    case Kind::kFloat:
      return ShortestFloat(f);
    case Kind::kString:
      return s;
  }
  return s;
}

bool ParseFormatSpec(std::string_view t, FormatSpec* spec, std::string* error) {
  *spec = FormatSpec();
  size_t p = 0;
  auto is_align = [](char c) { return c == '<' || c == '>' || c == '^' || c == '='; };
  if (t.size() >= 2 && is_align(t[1])) {
    spec->fill = t[0];
    spec->align = t[1];
    p = 2;
  } else if (!t.empty() && is_align(t[0])) {
    spec->align = t[0];
    p = 1;
  }
  if (p < t.size() && (t[p] == '+' || t[p] == '-' || t[p] == ' ')) spec->sign = t[p++];
  if (p < t.size() && t[p] == '#') {
    spec->alternate = true;
    ++p;
  }
  if (p < t.size() && t[p] == '0') {
    spec->zero_pad = true;
    ++p;
  }
  size_t w0 = p;
  while (p < t.size() && std::isdigit(static_cast<unsigned char>(t[p]))) ++p;
  if (p - w0 > 4) {
    *error = "format width in '" + std::string(t) + "' is too large";
    return false;
  }
  if (p > w0) spec->width = std::stoi(std::string(t.substr(w0, p - w0)));
  if (p < t.size() && (t[p] == ',' || t[p] == '_')) {
    spec->grouping = true;
    ++p;
  }
  if (p < t.size() && t[p] == '.') {
    ++p;
    size_t p0 = p;
    while (p < t.size() && std::isdigit(static_cast<unsigned char>(t[p]))) ++p;
    if (p == p0 || p - p0 > 3) {
      *error = "invalid precision in format spec '" + std::string(t) + "'";
      return false;
    }
    spec->precision = std::stoi(std::string(t.substr(p0, p - p0)));
  }
  if (p < t.size()) {
    static const std::string_view kTypes = "dfFeEgGsxXob%";
    if (kTypes.find(t[p]) == std::string_view::npos || p + 1 != t.size()) {
      *error = "invalid format spec '" + std::string(t) +
               "' (expected e.g. 03d, .4f, >5, as in Python's str.format)";
      return false;
    }
    spec->type = t[p];
  }
  return true;
}

namespace {

// An integer in an integer format (none, d, x, X, o, b): its digits in the base, with
// grouping, prefix, sign and padding as the spec asks.
bool FormatInteger(int64_t i, const FormatSpec& spec, std::string* out, std::string* error) {
  char type = spec.type;
  if (spec.precision >= 0) {
    *error = "a precision is not allowed with an integer format";
    return false;
  }
  int base = type == 'x' || type == 'X' ? 16 : type == 'o' ? 8 : type == 'b' ? 2 : 10;
  std::string digits = FormatIntBase(i, base, type == 'X');
  if (spec.grouping && base == 10) digits = GroupThousands(digits);
  if (spec.alternate && base != 10)
    digits = std::string(base == 16  ? (type == 'X' ? "0X" : "0x")
                         : base == 8 ? "0o"
                                     : "0b") +
             digits;
  Pad(spec, SignFor(i < 0, spec.sign), digits, true, out);
  return true;
}

// A number in a float format (f, F, e, E, g, G, %, or none for a float): with neither type
// nor precision the shortest text that reads back the same, else printf's (% is f of x100).
void FormatNumber(const ParamValue& value, const FormatSpec& spec, std::string* out) {
  char type = spec.type;
  bool is_int = value.kind == ParamValue::Kind::kInt;
  double v = is_int ? static_cast<double>(value.i) : value.f;
  bool negative = std::signbit(v) && !std::isnan(v);
  double mag = std::fabs(v);
  std::string body;
  if (type == 0 && spec.precision < 0) {
    body = is_int ? std::to_string(value.i < 0 ? -value.i : value.i) : ShortestFloat(mag);
  } else {
    int prec = spec.precision >= 0 ? spec.precision : 6;
    char t = type == 0 ? 'g' : type;
    if (t == '%') mag *= 100;
    char fmt[16];
    std::snprintf(fmt, sizeof fmt, "%%.%d%c", prec, t == '%' ? 'f' : t);
    int len = std::snprintf(nullptr, 0, fmt, mag);
    body.resize(static_cast<size_t>(len > 0 ? len : 0) + 1);
    std::snprintf(body.data(), body.size(), fmt, mag);
    body.pop_back();
    if (t == '%') body += '%';
  }
  if (spec.grouping) {
    size_t end = body.find_first_not_of("0123456789");
    if (end == std::string::npos) end = body.size();
    body = GroupThousands(body.substr(0, end)) + body.substr(end);
  }
  Pad(spec, SignFor(negative, spec.sign), body, true, out);
}

}  // namespace

bool FormatValue(const ParamValue& value, const FormatSpec& spec, std::string* out,
                 std::string* error) {
  using Kind = ParamValue::Kind;
  char type = spec.type;
  if (value.kind == Kind::kString) {
    if (type != 0 && type != 's') {
      *error =
          std::string("format '") + type + "' needs a number, but the value is '" + value.s + "'";
      return false;
    }
    std::string body = value.s;
    if (spec.precision >= 0 && body.size() > static_cast<size_t>(spec.precision))
      body.resize(static_cast<size_t>(spec.precision));
    Pad(spec, "", body, false, out);
    return true;
  }
  if (type == 's') {
    Pad(spec, "", value.ToString(), false, out);
    return true;
  }
  bool is_int = value.kind == Kind::kInt;
  if (is_int &&
      (type == 0 || type == 'd' || type == 'x' || type == 'X' || type == 'o' || type == 'b'))
    return FormatInteger(value.i, spec, out, error);
  if (!is_int && (type == 'd' || type == 'x' || type == 'X' || type == 'o' || type == 'b')) {
    *error =
        std::string("format '") + type + "' needs an integer, but the value is " + value.ToString();
    return false;
  }
  FormatNumber(value, spec, out);
  return true;
}

bool Template::Compile(std::string_view text, std::string* error) {
  text_ = std::string(text);
  placeholders_.clear();
  size_t i = 0;
  while ((i = text_.find('{', i)) != std::string::npos) {
    size_t j = i + 1;
    // "${VAR}" is the shell's, never ours.
    if ((i > 0 && text_[i - 1] == '$') || j >= text_.size() || !IsIdentStart(text_[j])) {
      i = j;
      continue;
    }
    while (j < text_.size() && IsIdentChar(text_[j])) ++j;
    if (j >= text_.size() || (text_[j] != '}' && text_[j] != ':')) {
      i = j;
      continue;
    }
    Placeholder ph;
    ph.literal_end = i;
    ph.name = text_.substr(i + 1, j - i - 1);
    if (text_[j] == ':') {
      size_t close = text_.find_first_of("{}", j + 1);
      if (close == std::string::npos || text_[close] != '}') {
        i = j;
        continue;
      }
      std::string_view spec_text = std::string_view(text_).substr(j + 1, close - j - 1);
      std::string spec_error;
      if (!ParseFormatSpec(spec_text, &ph.spec, &spec_error)) {
        *error = "in '{" + std::string(text_.substr(i + 1, close - i - 1)) + "}': " + spec_error;
        return false;
      }
      ph.has_spec = true;
      j = close;
    }
    ph.resume = j + 1;
    ph.written = text_.substr(i, ph.resume - i);
    placeholders_.push_back(std::move(ph));
    i = j + 1;
  }
  return true;
}

std::vector<std::string> Template::Names() const {
  std::vector<std::string> names;
  for (const auto& ph : placeholders_) {
    bool seen = false;
    for (const auto& n : names) seen = seen || n == ph.name;
    if (!seen) names.push_back(ph.name);
  }
  return names;
}

bool Template::Bind(const std::vector<std::string>& parameter_names, std::string* unknown) {
  for (auto& ph : placeholders_) {
    ph.slot = -1;
    for (size_t k = 0; k < parameter_names.size(); ++k)
      if (parameter_names[k] == ph.name) ph.slot = static_cast<int>(k);
    if (ph.slot < 0) {
      *unknown = ph.name;
      return false;
    }
  }
  return true;
}

bool Template::Render(const std::vector<const ParamValue*>& values, std::string* out,
                      std::string* error) const {
  size_t pos = 0;
  for (const auto& ph : placeholders_) {
    out->append(text_, pos, ph.literal_end - pos);
    const ParamValue& v = *values[static_cast<size_t>(ph.slot)];
    if (!ph.has_spec) {
      if (v.kind == ParamValue::Kind::kInt) {
        char buf[24];
        auto res = std::to_chars(buf, buf + sizeof buf, v.i);
        out->append(buf, res.ptr);
      } else {
        out->append(v.ToString());
      }
    } else if (!FormatValue(v, ph.spec, out, error)) {
      *error = "in '" + ph.written + "': " + *error;
      return false;
    }
    pos = ph.resume;
  }
  out->append(text_, pos, std::string::npos);
  return true;
}

bool Template::RenderTo(const std::vector<const ParamValue*>& values, std::string* out,
                        std::string* error) const {
  out->clear();
  if (placeholders_.empty()) {
    *out = text_;
    return true;
  }
  return Render(values, out, error);
}

}  // namespace torc::spec
