#include "cmd/printable.h"

#include <cstdio>

namespace torc::cmd {
namespace {

void AppendHex(std::string* out, const char* format, unsigned value) {
  char buf[8];
  std::snprintf(buf, sizeof buf, format, value);
  out->append(buf);
}

// Length of the valid UTF-8 sequence of 2 to 4 bytes at text[i], or 0 (RFC 3629: no overlong
// forms, no surrogates, nothing above U+10FFFF).
size_t Utf8Length(std::string_view text, size_t i) {
  const auto at = [&](size_t k) { return static_cast<unsigned char>(text[i + k]); };
  const unsigned char c = at(0);
  const size_t n = c >= 0xC2 && c <= 0xDF   ? 2
                   : c >= 0xE0 && c <= 0xEF ? 3
                   : c >= 0xF0 && c <= 0xF4 ? 4
                                            : 0;
  if (n == 0 || i + n > text.size()) return 0;
  for (size_t k = 1; k < n; ++k)
    if ((at(k) & 0xC0) != 0x80) return 0;
  if (c == 0xE0 && at(1) < 0xA0) return 0;  // overlong
  if (c == 0xED && at(1) > 0x9F) return 0;  // surrogate
  if (c == 0xF0 && at(1) < 0x90) return 0;  // overlong
  if (c == 0xF4 && at(1) > 0x8F) return 0;  // above U+10FFFF
  return n;
}

}  // namespace

std::string Printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7F) {
      out.push_back(static_cast<char>(c));
      ++i;
    } else if (c == '\n' || c == '\r' || c == '\t') {
      out.append(c == '\n' ? "\\n" : c == '\r' ? "\\r" : "\\t");
      ++i;
    } else if (c < 0x80) {
      AppendHex(&out, "\\x%02x", c);  // the other C0 controls and DEL
      ++i;
    } else if (size_t n = Utf8Length(text, i); n == 0) {
      AppendHex(&out, "\\x%02x", c);  // not UTF-8: shown byte by byte
      ++i;
    } else if (c == 0xC2 && static_cast<unsigned char>(text[i + 1]) < 0xA0) {
      AppendHex(&out, "\\u%04x", static_cast<unsigned char>(text[i + 1]));  // C1: U+0080..U+009F
      i += 2;
    } else {
      out.append(text.substr(i, n));
      i += n;
    }
  }
  return out;
}

nlohmann::json PrintableCopy(const nlohmann::json& value) {
  if (value.is_string()) return Printable(value.get_ref<const std::string&>());
  if (value.is_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& item : value) out.push_back(PrintableCopy(item));
    return out;
  }
  if (value.is_object()) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [key, item] : value.items()) out[Printable(key)] = PrintableCopy(item);
    return out;
  }
  return value;
}

}  // namespace torc::cmd
