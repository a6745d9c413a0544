// A minimal JSON text builder for the hot path of the protocol (claim answers), where
// building a DOM and serializing it costs more than the claim itself.
#pragma once

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

namespace torc::protocol {

/// Appends JSON tokens to a string. The caller is responsible for structure
/// (commas, braces); Key() and the value appenders handle escaping.
class JsonWriter {
 public:
  explicit JsonWriter(std::string* out) : out_(out) {}
  JsonWriter& Raw(std::string_view s) {
    out_->append(s);
    return *this;
  }
  JsonWriter& String(std::string_view s) {
    out_->push_back('"');
    for (char ch : s) {
      auto c = static_cast<unsigned char>(ch);
      switch (c) {
        case '"': out_->append("\\\""); break;
        case '\\': out_->append("\\\\"); break;
        case '\n': out_->append("\\n"); break;
        case '\r': out_->append("\\r"); break;
        case '\t': out_->append("\\t"); break;
        default:
          if (c < 0x20) {
            static const char kHex[] = "0123456789abcdef";
            out_->append("\\u00");
            out_->push_back(kHex[c >> 4]);
            out_->push_back(kHex[c & 15]);
          } else {
            out_->push_back(ch);
          }
      }
    }
    out_->push_back('"');
    return *this;
  }
  JsonWriter& Int(int64_t v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out_->append(buf, r.ptr);
    return *this;
  }
  /// A finite number, shortest round-trip form; integral values keep a ".0", as nlohmann
  /// writes them, so that a reader sees a floating-point number either way.
  JsonWriter& Double(double v) {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    const std::string_view text(buf, static_cast<size_t>(r.ptr - buf));
    out_->append(text);
    if (text.find_first_of(".e") == std::string_view::npos) out_->append(".0");
    return *this;
  }
  JsonWriter& Bool(bool v) { return Raw(v ? "true" : "false"); }
  /// `"key":` (with a leading comma unless `first`).
  JsonWriter& Key(std::string_view key, bool first = false) {
    if (!first) out_->push_back(',');
    String(key);
    out_->push_back(':');
    return *this;
  }

 private:
  std::string* out_;
};

}  // namespace torc::protocol
