#include "spec/json5.h"

#include <cstdint>

#include <nlohmann/json.hpp>

#include "spec/text_chars.h"

namespace torc::spec {
namespace {

bool IsIdentifierStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$' ||
         static_cast<unsigned char>(c) >= 0x80;
}

/// Reads JSON5 at pos_ and writes the YAML flow equivalent to *out_ as it goes.
class Json5Reader {
 public:
  Json5Reader(const std::string& text, std::string* out, int max_depth)
      : t_(text), out_(out), max_depth_(max_depth) {}

  bool Run(Json5Error* error) {
    error_ = error;
    out_->clear();
    out_->reserve(t_.size() + t_.size() / 8);
    if (!Space()) return false;
    if (pos_ >= t_.size()) return Fail("the file has no JSON5 value");
    if (!Value(0) || !Space()) return false;
    if (pos_ < t_.size()) return Fail("unexpected " + Quote() + " after the end of the value");
    return true;
  }

 private:
  char At(size_t k = 0) const { return pos_ + k < t_.size() ? t_[pos_ + k] : '\0'; }
  bool AtEnd() const { return pos_ >= t_.size(); }

  /// The next character, quoted for a message ("end of file" at the end).
  std::string Quote() const {
    if (AtEnd()) return "end of file";
    if (IsIdentifierStart(At()) && static_cast<unsigned char>(At()) < 0x80) {
      size_t end = pos_;
      while (end < t_.size() && end - pos_ < 40 &&
             (IsIdentifierStart(t_[end]) || IsDigit(t_[end])) &&
             static_cast<unsigned char>(t_[end]) < 0x80)
        ++end;
      return "'" + t_.substr(pos_, end - pos_) + "'";
    }
    unsigned char c = static_cast<unsigned char>(At());
    if (c < 0x20 || c == 0x7F) {
      char buf[16];
      std::snprintf(buf, sizeof buf, "byte 0x%02X", c);
      return buf;
    }
    size_t n = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
    return "'" + t_.substr(pos_, n) + "'";
  }

  bool Fail(const std::string& message) { return FailAt(pos_, message); }
  bool FailAt(size_t at, const std::string& message) {
    int line = 1;
    size_t line_start = 0;
    for (size_t k = 0; k < at && k < t_.size(); ++k)
      if (t_[k] == '\n') {
        ++line;
        line_start = k + 1;
      }
    error_->line = line;
    error_->column = static_cast<int>(at - line_start) + 1;
    error_->message = "invalid JSON5: " + message;
    return false;
  }

  /// Bytes of a Unicode space or line separator JSON5 allows between tokens (0: none).
  size_t UnicodeSpace() const {
    auto b = [&](size_t k) { return static_cast<unsigned char>(At(k)); };
    if (b(0) == 0xC2 && b(1) == 0xA0) return 2;                  // NBSP
    if (b(0) == 0xEF && b(1) == 0xBB && b(2) == 0xBF) return 3;  // BOM
    if (b(0) == 0xE1 && b(1) == 0x9A && b(2) == 0x80) return 3;  // U+1680
    if (b(0) == 0xE2 && b(1) == 0x80 &&
        ((b(2) >= 0x80 && b(2) <= 0x8A) || b(2) == 0xA8 || b(2) == 0xA9 || b(2) == 0xAF))
      return 3;  // U+2000..200A, line/paragraph separator, U+202F
    if (b(0) == 0xE2 && b(1) == 0x81 && b(2) == 0x9F) return 3;  // U+205F
    if (b(0) == 0xE3 && b(1) == 0x80 && b(2) == 0x80) return 3;  // U+3000
    return 0;
  }

  /// Copies whitespace and comments: line breaks stay, everything else becomes spaces.
  bool Space() {
    while (!AtEnd()) {
      char c = At();
      if (c == '\n' || c == '\r') {
        *out_ += c;
        ++pos_;
      } else if (c == ' ' || c == '\t' || c == '\v' || c == '\f') {
        *out_ += ' ';
        ++pos_;
      } else if (size_t n = UnicodeSpace()) {
        out_->append(n, ' ');
        pos_ += n;
      } else if (c == '/' && At(1) == '/') {
        while (!AtEnd() && At() != '\n' && At() != '\r') {
          *out_ += ' ';
          ++pos_;
        }
      } else if (c == '/' && At(1) == '*') {
        size_t start = pos_;
        pos_ += 2;
        out_->append(2, ' ');
        while (!(At() == '*' && At(1) == '/')) {
          if (AtEnd()) return FailAt(start, "a /* comment is not closed with */");
          *out_ += At() == '\n' || At() == '\r' ? At() : ' ';
          ++pos_;
        }
        pos_ += 2;
        out_->append(2, ' ');
      } else if (c == '/') {
        return Fail("'/' starts no comment (a comment is // ... or /* ... */)");
      } else {
        return true;
      }
    }
    return true;
  }

  bool Value(int depth) {
    char c = At();
    if (c == '{' || c == '[') {
      if (depth >= max_depth_)
        return Fail("nested deeper than " + std::to_string(max_depth_) + " levels");
      return c == '{' ? Object(depth + 1) : Array(depth + 1);
    }
    if (c == '"' || c == '\'') return StringValue();
    if (IsDigit(c) || c == '+' || c == '-' || c == '.' || t_.compare(pos_, 8, "Infinity") == 0 ||
        t_.compare(pos_, 3, "NaN") == 0)
      return Number();
    if (IsIdentifierStart(c)) return Word();
    if (AtEnd()) return Fail("a value is missing at the end of the file");
    return Fail("unexpected " + Quote() + " where a value should be");
  }

  // One ',' between elements, or a trailing one (written as a space). *closed: '}' or ']' came.
  bool Separator(char close, bool* closed) {
    if (At() == close) {
      *out_ += close;
      ++pos_;
      *closed = true;
      return true;
    }
    if (At() != ',')
      return Fail(std::string("expected ',' or '") + close + "', not " + Quote());
    size_t comma = out_->size();
    *out_ += ',';
    ++pos_;
    if (!Space()) return false;
    if (At() == close) {
      (*out_)[comma] = ' ';  // a trailing comma
      *out_ += close;
      ++pos_;
      *closed = true;
    }
    return true;
  }

  bool Object(int depth) {
    size_t open = pos_;
    *out_ += '{';
    ++pos_;
    if (!Space()) return false;
    if (At() == '}') {
      *out_ += '}';
      ++pos_;
      return true;
    }
    for (bool closed = false; !closed;) {
      if (AtEnd()) return FailAt(open, "an object '{' is not closed with '}'");
      std::string key;
      // YAML limits implicit keys to 1024 characters: a longer key is written explicit
      // ("? key: value"), which moves nothing on its line but the key itself.
      const size_t key_at = out_->size();
      if (!Key(&key) || !Space()) return false;
      if (out_->size() - key_at > 1000) out_->insert(key_at, "? ");
      if (At() != ':') return Fail("expected ':' after the key '" + key + "', not " + Quote());
      *out_ += ':';
      ++pos_;
      // A plain YAML key needs a space after its ':'.
      if (!AtEnd() && At() != ' ' && At() != '\n' && At() != '\r' && At() != '\t') *out_ += ' ';
      if (!Space() || !Value(depth) || !Space()) return false;
      if (AtEnd()) return FailAt(open, "an object '{' is not closed with '}'");
      if (!Separator('}', &closed)) return false;
    }
    return true;
  }

  bool Array(int depth) {
    size_t open = pos_;
    *out_ += '[';
    ++pos_;
    if (!Space()) return false;
    if (At() == ']') {
      *out_ += ']';
      ++pos_;
      return true;
    }
    for (bool closed = false; !closed;) {
      if (AtEnd()) return FailAt(open, "an array '[' is not closed with ']'");
      if (!Value(depth) || !Space()) return false;
      if (AtEnd()) return FailAt(open, "an array '[' is not closed with ']'");
      if (!Separator(']', &closed)) return false;
    }
    return true;
  }

  // A key: a quoted string, or an identifier (letters, digits, '_', '$', \u escapes).
  bool Key(std::string* key) {
    char c = At();
    if (c == '"' || c == '\'') {
      size_t lines = 0;
      if (!ReadString(key, &lines)) return false;
      WriteString(*key, lines);
      return true;
    }
    if (!IsIdentifierStart(c) && c != '\\')
      return Fail("expected a key (a name or a quoted string) or '}', not " + Quote());
    bool plain = true;
    while (!AtEnd()) {
      c = At();
      if (c == '\\') {
        if (At(1) != 'u') return Fail("only \\u escapes may be in a key name");
        pos_ += 2;
        uint32_t cp = 0;
        if (!Hex(4, &cp)) return false;
        AppendUtf8(cp, key);
        plain = false;
      } else if (IsIdentifierStart(c) || IsDigit(c)) {
        if (static_cast<unsigned char>(c) >= 0x80 && UnicodeSpace()) break;
        *key += c;
        ++pos_;
      } else {
        break;
      }
    }
    // Words YAML reads as something else than the name stay names.
    if (!plain || *key == "null" || *key == "Null" || *key == "NULL" ||
        static_cast<unsigned char>((*key)[0]) >= 0x80)
      WriteString(*key, 0);
    else
      *out_ += *key;
    return true;
  }

  bool Hex(int digits, uint32_t* value) {
    *value = 0;
    for (int k = 0; k < digits; ++k) {
      if (!IsHex(At())) return Fail("expected " + std::to_string(digits) + " hex digits");
      *value = *value * 16 + static_cast<uint32_t>(HexValue(At()));
      ++pos_;
    }
    return true;
  }

  bool StringValue() {
    std::string value;
    size_t lines = 0;
    if (!ReadString(&value, &lines)) return false;
    WriteString(value, lines);
    return true;
  }

  /// A double-quoted JSON string, then the line breaks the original string continued over.
  void WriteString(const std::string& value, size_t lines) {
    *out_ += nlohmann::json(value).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    out_->append(lines, '\n');
  }

  // Decodes the string at pos_ (its quote) into *value; *lines counts the continued lines.
  bool ReadString(std::string* value, size_t* lines) {
    size_t open = pos_;
    char quote = At();
    ++pos_;
    while (true) {
      if (AtEnd()) return FailAt(open, std::string("a string is not closed with ") + quote);
      char c = At();
      if (c == quote) {
        ++pos_;
        return true;
      }
      if (c == '\n' || c == '\r')
        return Fail("a line break inside a string (end the line with \\ to continue it)");
      if (c != '\\') {
        *value += c;
        ++pos_;
        continue;
      }
      ++pos_;
      char e = At();
      ++pos_;
      switch (e) {
        case 'b': *value += '\b'; break;
        case 'f': *value += '\f'; break;
        case 'n': *value += '\n'; break;
        case 'r': *value += '\r'; break;
        case 't': *value += '\t'; break;
        case 'v': *value += '\v'; break;
        case '0':
          if (IsDigit(At())) return Fail("\\0 may not be followed by a digit");
          *value += '\0';
          break;
        case 'x': {
          uint32_t cp = 0;
          if (!Hex(2, &cp)) return false;
          AppendUtf8(cp, value);
          break;
        }
        case 'u': {
          uint32_t cp = 0;
          if (!Hex(4, &cp)) return false;
          if (cp >= 0xD800 && cp <= 0xDBFF && At() == '\\' && At(1) == 'u') {
            size_t save = pos_;
            pos_ += 2;
            uint32_t low = 0;
            if (!Hex(4, &low)) return false;
            if (low >= 0xDC00 && low <= 0xDFFF) cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            else pos_ = save;
          }
          if (cp >= 0xD800 && cp <= 0xDFFF)
            return Fail("\\u escape of a lone UTF-16 surrogate (" + std::to_string(cp) + ")");
          AppendUtf8(cp, value);
          break;
        }
        case '\r':
          if (At() == '\n') ++pos_;
          ++*lines;
          break;
        case '\n':
          ++*lines;
          break;
        case '\0':
          if (pos_ > t_.size()) return FailAt(open, std::string("a string is not closed with ") + quote);
          *value += '\0';
          break;
        default:
          if (IsDigit(e)) return FailAt(pos_ - 2, std::string("\\") + e + " is not an escape in JSON5");
          // \u2028 / \u2029 continue the line; any other character stands for itself.
          if (static_cast<unsigned char>(e) == 0xE2 && static_cast<unsigned char>(At()) == 0x80 &&
              (static_cast<unsigned char>(At(1)) == 0xA8 || static_cast<unsigned char>(At(1)) == 0xA9)) {
            pos_ += 2;
            break;
          }
          *value += e;
      }
    }
  }

  bool Number() {
    size_t start = pos_;
    std::string sign;
    if (At() == '+' || At() == '-') {
      sign = At() == '-' ? "-" : "";
      ++pos_;
    }
    if (t_.compare(pos_, 8, "Infinity") == 0) {
      pos_ += 8;
      *out_ += sign + ".inf";
      return AfterNumber();
    }
    if (t_.compare(pos_, 3, "NaN") == 0) {
      pos_ += 3;
      *out_ += ".nan";
      return AfterNumber();
    }
    if (At() == '0' && (At(1) == 'x' || At(1) == 'X')) {
      pos_ += 2;
      uint64_t v = 0;
      size_t digits = 0;
      for (; IsHex(At()); ++pos_, ++digits) {
        if (digits >= 15) return FailAt(start, "a hex number larger than 15 digits");
        v = v * 16 + static_cast<uint64_t>(HexValue(At()));
      }
      if (digits == 0) return Fail("expected hex digits after 0x");
      *out_ += sign + std::to_string(v);
      return AfterNumber();
    }
    std::string whole, frac, exp;
    while (IsDigit(At())) whole += t_[pos_++];
    if (whole.size() > 1 && whole[0] == '0')
      return FailAt(start, "a number may not start with 0 (write 0x for hex)");
    bool dot = At() == '.';
    if (dot) {
      ++pos_;
      while (IsDigit(At())) frac += t_[pos_++];
    }
    if (whole.empty() && frac.empty()) return FailAt(start, "a number needs a digit");
    if (At() == 'e' || At() == 'E') {
      exp += t_[pos_++];
      if (At() == '+' || At() == '-') exp += t_[pos_++];
      if (!IsDigit(At())) return Fail("expected digits in the exponent of a number");
      while (IsDigit(At())) exp += t_[pos_++];
    }
    *out_ += sign + (whole.empty() ? "0" : whole) + (frac.empty() ? "" : "." + frac) + exp;
    return AfterNumber();
  }

  bool AfterNumber() {
    char c = At();
    if (AtEnd() || c == ',' || c == ']' || c == '}' || c == ' ' || c == '\t' || c == '\n' ||
        c == '\r' || c == '\v' || c == '\f' || c == '/' || UnicodeSpace())
      return true;
    return Fail("unexpected " + Quote() + " after a number");
  }

  bool Word() {
    size_t start = pos_;
    std::string word;
    while (!AtEnd() && (IsIdentifierStart(At()) || IsDigit(At())) && !UnicodeSpace())
      word += t_[pos_++];
    if (word == "true" || word == "false" || word == "null") {
      *out_ += word;
      return true;
    }
    if (word.size() > 40) word = word.substr(0, 40) + "...";
    return FailAt(start, "unexpected word '" + word + "' where a value should be (a string needs "
                         "quotes)");
  }

  const std::string& t_;
  std::string* out_;
  const int max_depth_;
  size_t pos_ = 0;
  Json5Error* error_ = nullptr;
};

}  // namespace

bool Json5ToYaml(const std::string& text, std::string* yaml, Json5Error* error, int max_depth) {
  return Json5Reader(text, yaml, max_depth).Run(error);
}

}  // namespace torc::spec
