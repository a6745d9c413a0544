#include "spec/params.h"

#include <cctype>
#include <charconv>
#include <cmath>

namespace torc::spec {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool ParseInt(std::string_view s, int64_t* out) {
  s = Trim(s);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty()) return false;
  auto res = std::from_chars(s.data(), s.data() + s.size(), *out);
  return res.ec == std::errc() && res.ptr == s.data() + s.size();
}

bool ParseFloat(std::string_view s, double* out) {
  s = Trim(s);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty()) return false;
  auto res = std::from_chars(s.data(), s.data() + s.size(), *out);
  return res.ec == std::errc() && res.ptr == s.data() + s.size() && std::isfinite(*out);
}

bool ParseRange(std::string_view text, uint64_t max_values, std::vector<ParamValue>* out,
                std::string* error) {
  std::vector<std::string_view> parts;
  std::string_view rest = text;
  while (true) {
    size_t c = rest.find(':');
    parts.push_back(Trim(rest.substr(0, c)));
    if (c == std::string_view::npos) break;
    rest.remove_prefix(c + 1);
  }
  auto fail = [&](const std::string& why) {
    *error = "invalid range '" + std::string(text) + "': " + why +
             " (expected start:end or start:end:step, e.g. 1:100 or 0:1:0.25)";
    return false;
  };
  if (parts.size() > 3) return fail("too many ':'");
  int64_t a = 0, b = 0, step = 1;
  bool ints = ParseInt(parts[0], &a) && ParseInt(parts[1], &b) &&
              (parts.size() < 3 || ParseInt(parts[2], &step));
  if (ints) {
    if (step == 0) return fail("the step is zero");
    if ((step > 0 && a > b) || (step < 0 && a < b))
      return fail(step > 0 ? "it is empty (start > end; use a negative step to count down)"
                           : "it is empty (start < end with a negative step)");
    unsigned __int128 span = step > 0 ? static_cast<unsigned __int128>(b - static_cast<__int128>(a))
                                      : static_cast<unsigned __int128>(a - static_cast<__int128>(b));
    unsigned __int128 n = span / static_cast<unsigned __int128>(step > 0 ? step : -static_cast<__int128>(step)) + 1;
    if (n > max_values)
      return fail("it has " + std::to_string(static_cast<uint64_t>(n > UINT64_MAX ? UINT64_MAX : n)) +
                  " values, more than the limit of " + std::to_string(max_values));
    out->reserve(static_cast<size_t>(n));
    for (uint64_t k = 0; k < static_cast<uint64_t>(n); ++k)
      out->push_back(ParamValue::Int(static_cast<int64_t>(a + static_cast<__int128>(k) * step)));
    return true;
  }
  double fa = 0, fb = 0, fs = 1;
  if (!ParseFloat(parts[0], &fa) || !ParseFloat(parts[1], &fb))
    return fail("start and end must be numbers");
  if (parts.size() == 3 && !ParseFloat(parts[2], &fs)) return fail("the step must be a number");
  if (fs == 0) return fail("the step is zero");
  if ((fs > 0 && fa > fb) || (fs < 0 && fa < fb)) return fail("it is empty");
  double count = std::floor((fb - fa) / fs + 1e-9) + 1;
  if (!(count <= static_cast<double>(max_values)))
    return fail("it has more values than the limit of " + std::to_string(max_values));
  auto n = static_cast<uint64_t>(count);
  for (uint64_t k = 0; k < n; ++k) {
    // start + k*step, rounded to the step's decimals, avoids 0.30000000000000004.
    double v = fa + static_cast<double>(k) * fs;
    double r = std::round(v * 1e12) / 1e12;
    out->push_back(ParamValue::Float(r));
  }
  return true;
}

bool ParseList(std::string_view text, uint64_t max_values, std::vector<ParamValue>* out,
               std::string* error) {
  std::string_view body = Trim(text);
  body = body.substr(1, body.size() - 2);
  if (Trim(body).empty()) {
    *error = "the list '" + std::string(text) + "' is empty";
    return false;
  }
  size_t i = 0;
  while (i <= body.size()) {
    // one item: quoted or bare, up to the next top-level comma
    while (i < body.size() && std::isspace(static_cast<unsigned char>(body[i]))) ++i;
    if (i < body.size() && (body[i] == '\'' || body[i] == '"')) {
      char q = body[i];
      size_t close = body.find(q, i + 1);
      if (close == std::string_view::npos) {
        *error = "unterminated quote in list '" + std::string(text) + "'";
        return false;
      }
      out->push_back(ParamValue::String(std::string(body.substr(i + 1, close - i - 1))));
      i = close + 1;
      while (i < body.size() && std::isspace(static_cast<unsigned char>(body[i]))) ++i;
      if (i < body.size() && body[i] != ',') {
        *error = "expected ',' after a quoted item in list '" + std::string(text) + "'";
        return false;
      }
    } else {
      size_t comma = body.find(',', i);
      std::string_view item = Trim(body.substr(i, comma == std::string_view::npos ? comma : comma - i));
      if (item.empty()) {
        *error = "empty item in list '" + std::string(text) + "'";
        return false;
      }
      out->push_back(ScalarValue(item));
      i = comma == std::string_view::npos ? body.size() : comma;
    }
    if (out->size() > max_values) {
      *error = "the list has more values than the limit of " + std::to_string(max_values);
      return false;
    }
    if (i >= body.size()) break;
    ++i;  // the comma
    if (Trim(body.substr(i)).empty()) break;  // trailing comma
  }
  return true;
}

}  // namespace

ParamValue ScalarValue(std::string_view text) {
  int64_t i = 0;
  if (ParseInt(text, &i)) return ParamValue::Int(i);
  double f = 0;
  std::string_view t = Trim(text);
  bool numeric_looking = !t.empty() && (std::isdigit(static_cast<unsigned char>(t[0])) ||
                                        t[0] == '-' || t[0] == '+' || t[0] == '.');
  if (numeric_looking && ParseFloat(text, &f)) return ParamValue::Float(f);
  return ParamValue::String(std::string(text));
}

bool ParseParameterText(std::string_view text, uint64_t max_values, std::vector<ParamValue>* out,
                        std::string* error) {
  out->clear();
  std::string_view t = Trim(text);
  if (t.size() >= 2 && t.front() == '[' && t.back() == ']') return ParseList(t, max_values, out, error);
  if (t.find(':') != std::string_view::npos) return ParseRange(t, max_values, out, error);
  if (t.empty()) {
    *error = "the parameter has no value";
    return false;
  }
  out->push_back(ScalarValue(t));
  return true;
}

bool ParseParameterFile(std::string_view contents, uint64_t max_values,
                        std::vector<ParamValue>* out, std::string* error) {
  out->clear();
  std::string_view rest = contents;
  while (!rest.empty()) {
    size_t end = rest.find('\n');
    std::string_view line = Trim(rest.substr(0, end));
    rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 1);
    if (line.empty() || line.front() == '#') continue;
    if (out->size() == max_values) {
      *error = "it has more values than the limit of " + std::to_string(max_values);
      out->clear();
      return false;
    }
    out->push_back(ScalarValue(line));
  }
  if (out->empty()) {
    *error = contents.empty() ? "the file is empty"
                              : "it has no values (blank lines and lines starting with '#' are "
                                "skipped)";
    return false;
  }
  return true;
}

bool CountCombinations(const std::vector<Parameter>& params, ParameterMode mode, uint64_t limit,
                       uint64_t* count, std::string* error) {
  if (params.empty()) {
    *count = 1;
    return true;
  }
  if (mode == ParameterMode::kZip) {
    for (const auto& p : params) {
      if (p.values.size() != params[0].values.size()) {
        *error = "parameter_mode zip needs parameters of equal length, but '" + params[0].name +
                 "' has " + std::to_string(params[0].values.size()) + " values and '" + p.name +
                 "' has " + std::to_string(p.values.size());
        return false;
      }
    }
    *count = params[0].values.size();
  } else {
    unsigned __int128 n = 1;
    for (const auto& p : params) {
      n *= p.values.size();
      if (n > limit) break;
    }
    if (n > limit) {
      std::string sizes;
      for (const auto& p : params)
        sizes += (sizes.empty() ? "" : " x ") + std::to_string(p.values.size());
      *error = "the parameters expand to more than " + std::to_string(limit) +
               " combinations (" + sizes + ")";
      return false;
    }
    *count = static_cast<uint64_t>(n);
  }
  if (*count > limit) {
    *error = "the parameters expand to more than " + std::to_string(limit) + " combinations";
    return false;
  }
  return true;
}

void CombinationAt(const std::vector<Parameter>& params, ParameterMode mode, uint64_t k,
                   std::vector<const ParamValue*>* values) {
  values->resize(params.size());
  if (mode == ParameterMode::kZip) {
    for (size_t p = 0; p < params.size(); ++p) (*values)[p] = &params[p].values[k];
    return;
  }
  for (size_t p = params.size(); p-- > 0;) {
    uint64_t n = params[p].values.size();
    (*values)[p] = &params[p].values[k % n];
    k /= n;
  }
}

}  // namespace torc::spec
