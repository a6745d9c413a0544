#include "spec/kdl.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>

#include "spec/text_chars.h"

namespace torc::spec {
namespace {

/// Reads a KDL document at pos_ into nodes.
class KdlParser {
 public:
  KdlParser(const std::string& text, int max_depth) : t_(text), max_depth_(max_depth) {
    line_starts_.push_back(0);
    for (size_t i = 0; i < t_.size(); ++i)
      if (t_[i] == '\n') line_starts_.push_back(i + 1);
  }

  bool Run(std::vector<KdlNode>* nodes, KdlError* error) {
    error_ = error;
    nodes->clear();
    if (t_.compare(0, 3, "\xEF\xBB\xBF") == 0) pos_ = 3;  // a byte order mark
    return Nodes(nodes, 0, 0);
  }

 private:
  char At(size_t k = 0) const { return pos_ + k < t_.size() ? t_[pos_ + k] : '\0'; }
  unsigned char Byte(size_t k = 0) const { return static_cast<unsigned char>(At(k)); }
  bool AtEnd() const { return pos_ >= t_.size(); }
  bool StartsWith(std::string_view s) const { return t_.compare(pos_, s.size(), s) == 0; }

  Loc LocAt(size_t at) const {
    auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), at);
    size_t line = static_cast<size_t>(it - line_starts_.begin());
    return {static_cast<int>(line), static_cast<int>(at - line_starts_[line - 1]) + 1};
  }
  Loc Here() const { return LocAt(pos_); }

  bool Fail(const std::string& message) { return FailAt(pos_, message); }
  bool FailAt(size_t at, const std::string& message) {
    Loc loc = LocAt(std::min(at, t_.size()));
    error_->line = loc.line;
    error_->column = loc.column;
    error_->message = "invalid KDL: " + message;
    return false;
  }

  /// The next character (or the word it starts), quoted for a message.
  std::string Quote() const {
    if (AtEnd()) return "end of file";
    if (Newline()) return "a line break";
    unsigned char c = Byte();
    if (c < 0x20 || c == 0x7F) {
      char buf[16];
      std::snprintf(buf, sizeof buf, "byte 0x%02X", c);
      return buf;
    }
    size_t end = pos_;
    while (end < t_.size() && end - pos_ < 40 && IdentifierByte(t_[end])) ++end;
    if (end == pos_) end = pos_ + (c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2);
    return "'" + t_.substr(pos_, end - pos_) + "'";
  }

  /// Bytes of a line break at pos_ (0: none): CR LF, LF, CR, FF, NEL, LS, PS.
  size_t Newline() const {
    char c = At();
    if (c == '\r') return At(1) == '\n' ? 2 : 1;
    if (c == '\n' || c == '\f') return 1;
    if (Byte() == 0xC2 && Byte(1) == 0x85) return 2;
    if (Byte() == 0xE2 && Byte(1) == 0x80 && (Byte(2) == 0xA8 || Byte(2) == 0xA9)) return 3;
    return 0;
  }

  /// Bytes of a space at pos_ (0: none): space, tab, vertical tab, Unicode spaces.
  size_t Space() const {
    char c = At();
    if (c == ' ' || c == '\t' || c == '\v') return 1;
    auto b = [&](size_t k) { return Byte(k); };
    if (b(0) == 0xC2 && b(1) == 0xA0) return 2;                  // NBSP
    if (b(0) == 0xE1 && b(1) == 0x9A && b(2) == 0x80) return 3;  // U+1680
    if (b(0) == 0xE2 && b(1) == 0x80 && ((b(2) >= 0x80 && b(2) <= 0x8A) || b(2) == 0xAF))
      return 3;                                                  // U+2000..200A, U+202F
    if (b(0) == 0xE2 && b(1) == 0x81 && b(2) == 0x9F) return 3;  // U+205F
    if (b(0) == 0xE3 && b(1) == 0x80 && b(2) == 0x80) return 3;  // U+3000
    return 0;
  }

  /// Whether `c` may be in a bare name (an identifier string). Multi-byte spaces and line breaks
  /// are checked where names are read.
  static bool IdentifierByte(char c) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u >= 0x80) return true;
    if (u <= 0x20 || u == 0x7F) return false;
    return std::string_view("\\/(){};[]\"#=").find(c) == std::string_view::npos;
  }
  bool AtIdentifier() const { return !AtEnd() && IdentifierByte(At()) && !Space() && !Newline(); }

  /// A /* */ comment (they nest), at pos_.
  bool BlockComment() {
    size_t start = pos_;
    int depth = 0;
    do {
      if (AtEnd()) return FailAt(start, "a /* comment is not closed with */");
      if (StartsWith("/*")) {
        ++depth;
        pos_ += 2;
      } else if (StartsWith("*/")) {
        --depth;
        pos_ += 2;
      } else {
        ++pos_;
      }
    } while (depth > 0);
    return true;
  }

  void LineComment() {
    while (!AtEnd() && !Newline()) ++pos_;
  }

  /// Spaces, /* */ comments and '\' line continuations within a node. *any: something was
  /// skipped.
  bool NodeSpace(bool* any) {
    *any = false;
    while (!AtEnd()) {
      if (size_t n = Space()) {
        pos_ += n;
      } else if (StartsWith("/*")) {
        if (!BlockComment()) return false;
      } else if (At() == '\\') {
        size_t start = pos_;
        ++pos_;
        while (size_t n = Space()) pos_ += n;
        if (StartsWith("//")) LineComment();
        if (StartsWith("/*")) {
          if (!BlockComment()) return false;
          while (size_t n = Space()) pos_ += n;
        }
        if (size_t n = Newline())
          pos_ += n;
        else if (!AtEnd())
          return FailAt(start,
                        "a '\\' outside a string must end its line (it continues the node "
                        "on the next line)");
      } else {
        return true;
      }
      *any = true;
    }
    return true;
  }

  /// Spaces, line breaks and comments between nodes.
  bool LineSpace() {
    while (true) {
      bool any = false;
      if (!NodeSpace(&any)) return false;
      if (size_t n = Newline()) {
        pos_ += n;
      } else if (StartsWith("//")) {
        LineComment();
      } else {
        return true;
      }
    }
  }

  /// Control characters other than spaces and line breaks are not KDL.
  bool CheckControl() {
    unsigned char c = Byte();
    if ((c < 0x20 && c != '\t' && !Newline() && c != '\v') || c == 0x7F)
      return Fail(Quote() + " is not allowed in KDL");
    return true;
  }

  // The nodes of the document (open == 0) or of a { } block opened at `open`.
  bool Nodes(std::vector<KdlNode>* nodes, int depth, size_t open) {
    bool in_block = depth > 0;
    while (true) {
      if (!LineSpace()) return false;
      if (AtEnd()) return in_block ? FailAt(open, "a '{' block is not closed with '}'") : true;
      if (At() == '}') {
        if (in_block) return true;
        return Fail("'}' closes no '{' block");
      }
      if (At() == ';') {
        ++pos_;
        continue;
      }
      bool dashed = false;
      if (StartsWith("/-")) {
        pos_ += 2;
        if (!LineSpace()) return false;
        dashed = true;
      }
      KdlNode node;
      if (!Node(&node, depth)) return false;
      if (!dashed) nodes->push_back(std::move(node));
    }
  }

  // (type): read and dropped.
  bool TypeAnnotation() {
    if (At() != '(') return true;
    size_t open = pos_;
    ++pos_;
    bool any = false;
    if (!NodeSpace(&any)) return false;
    std::string type;
    if (!NameString(&type, "a type name")) return false;
    if (!NodeSpace(&any)) return false;
    if (At() != ')') return FailAt(open, "a type annotation '(' is not closed with ')'");
    ++pos_;
    return NodeSpace(&any);
  }

  bool Node(KdlNode* node, int depth) {
    if (!TypeAnnotation()) return false;
    node->loc = Here();
    if (!NameString(&node->name, "a node name")) return false;
    bool children_done = false;
    while (true) {
      bool space = false;
      if (!NodeSpace(&space)) return false;
      if (AtEnd() || Newline() || At() == '}') return true;
      if (At() == ';') {
        ++pos_;
        return true;
      }
      if (StartsWith("//")) {
        LineComment();
        return true;
      }
      bool dashed = false;
      if (StartsWith("/-")) {
        pos_ += 2;
        if (!NodeSpace(&space)) return false;
        dashed = true;
      }
      if (At() == '{') {
        KdlNode dropped;
        KdlNode* into = dashed ? &dropped : node;
        if (!dashed && children_done) return Fail("a node has one '{' block of children, not two");
        if (!Children(into, depth)) return false;
        if (!dashed) children_done = true;
        continue;
      }
      if (children_done)
        return Fail("unexpected " + Quote() +
                    " after a node's '{' block (end the node with a line break or ';')");
      if (!space && !dashed)
        return Fail("unexpected " + Quote() + " (separate a node's values with a space)");
      KdlNode dropped;
      if (!Entry(dashed ? &dropped : node)) return false;
    }
  }

  bool Children(KdlNode* node, int depth) {
    if (depth >= max_depth_)
      return Fail("'{' blocks nested deeper than " + std::to_string(max_depth_) + " levels");
    size_t open = pos_;
    node->has_children = true;
    node->children_loc = Here();
    ++pos_;
    if (!Nodes(&node->children, depth + 1, open)) return false;
    ++pos_;  // '}'
    return true;
  }

  // An argument or a key=value property.
  bool Entry(KdlNode* node) {
    bool annotated = At() == '(';
    if (!TypeAnnotation()) return false;
    size_t start = pos_;
    KdlValue value;
    if (!Value(&value)) return false;
    size_t after = pos_;
    bool any = false;
    if (!NodeSpace(&any)) return false;
    if (At() != '=') {
      pos_ = after;
      node->args.push_back(std::move(value));
      return true;
    }
    if (annotated) return FailAt(start, "a property's name may not have a (type)");
    if (value.type != KdlValue::Type::kString)
      return FailAt(start, "a property's name must be a name or a string");
    KdlProperty prop;
    prop.key = std::move(value.text);
    prop.key_loc = value.loc;
    ++pos_;  // '='
    if (!NodeSpace(&any) || !TypeAnnotation()) return false;
    if (AtEnd() || Newline() || At() == ';' || At() == '}')
      return Fail("a value is missing after '" + prop.key + "='");
    if (!Value(&prop.value)) return false;
    node->properties.push_back(std::move(prop));
    return true;
  }

  // A string that names something: a bare name, a quoted string or a raw string.
  bool NameString(std::string* out, const char* what) {
    size_t start = pos_;
    KdlValue v;
    if (AtEnd() || Newline()) return Fail(std::string("expected ") + what + ", not " + Quote());
    if (!Value(&v)) return false;
    if (v.type != KdlValue::Type::kString)
      return FailAt(start, std::string(what) + " must be a name or a string, not " +
                               t_.substr(start, std::min<size_t>(pos_ - start, 40)));
    *out = std::move(v.text);
    return true;
  }

  bool Value(KdlValue* v) {
    v->loc = Here();
    char c = At();
    if (c == '"') {
      v->type = KdlValue::Type::kString;
      return StartsWith("\"\"\"") ? MultiLineString(&v->text, false, 0) : QuotedString(&v->text);
    }
    if (c == '#' && (At(1) == '"' || At(1) == '#')) {
      v->type = KdlValue::Type::kString;
      return RawString(&v->text, pos_, false);
    }
    if (c == 'r' && (At(1) == '"' || (At(1) == '#' && (At(2) == '"' || At(2) == '#')))) {
      v->type = KdlValue::Type::kString;  // KDL v1: r"..." and r#"..."#
      return RawString(&v->text, pos_ + 1, true);
    }
    if (c == '#') return Keyword(v);
    if (IsDigit(c) || ((c == '+' || c == '-') && IsDigit(At(1)))) return Number(v);
    if ((c == '.' && IsDigit(At(1))) || ((c == '+' || c == '-') && At(1) == '.' && IsDigit(At(2))))
      return Fail("a number needs a digit before its '.'");
    if (AtIdentifier()) return Identifier(v);
    if (!CheckControl()) return false;
    return Fail("unexpected " + Quote() + " where a value should be");
  }

  bool Identifier(KdlValue* v) {
    size_t start = pos_;
    while (AtIdentifier()) ++pos_;
    std::string word = t_.substr(start, pos_ - start);
    if (word == "true" || word == "false") {  // KDL v1
      v->type = KdlValue::Type::kBool;
      v->text = word;
    } else if (word == "null") {
      v->type = KdlValue::Type::kNull;
    } else if (word == "inf" || word == "-inf" || word == "nan") {
      return FailAt(start,
                    "'" + word + "' is written #" + word + " (or \"" + word + "\" for the string)");
    } else {
      v->type = KdlValue::Type::kString;
      v->text = std::move(word);
    }
    return true;
  }

  bool Keyword(KdlValue* v) {
    size_t start = pos_;
    ++pos_;
    while (AtIdentifier()) ++pos_;
    std::string word = t_.substr(start, pos_ - start);
    if (word == "#true" || word == "#false") {
      v->type = KdlValue::Type::kBool;
      v->text = word.substr(1);
    } else if (word == "#null") {
      v->type = KdlValue::Type::kNull;
    } else if (word == "#inf" || word == "#-inf" || word == "#nan") {
      v->type = KdlValue::Type::kNumber;
      v->text = word == "#inf" ? ".inf" : word == "#-inf" ? "-.inf" : ".nan";
    } else {
      if (word.size() > 40) word = word.substr(0, 40) + "...";
      return FailAt(start, "unknown keyword '" + word +
                               "' (KDL has #true, #false, #null, #inf, #-inf and #nan)");
    }
    return true;
  }

  bool Number(KdlValue* v) {
    size_t start = pos_;
    while (!AtEnd() && IdentifierByte(At()) && !Space() && !Newline()) ++pos_;
    const std::string token = t_.substr(start, pos_ - start);
    auto bad = [&]() {
      std::string shown = token.size() > 40 ? token.substr(0, 40) + "..." : token;
      return FailAt(start, "'" + shown + "' is not a number");
    };
    size_t k = 0;
    std::string sign;
    if (token[k] == '+' || token[k] == '-') sign = token[k++] == '-' ? "-" : "";
    v->type = KdlValue::Type::kNumber;
    int base = 0;
    if (token.size() > k + 1 && token[k] == '0') {
      char b = token[k + 1];
      base = b == 'x' ? 16 : b == 'o' ? 8 : b == 'b' ? 2 : 0;
    }
    if (base) {
      k += 2;
      uint64_t value = 0;
      size_t digits = 0;
      for (; k < token.size(); ++k) {
        char d = token[k];
        if (d == '_' && digits > 0) continue;
        if (!IsHex(d) || HexValue(d) >= base) return bad();
        if (value > (UINT64_MAX - static_cast<uint64_t>(HexValue(d))) / base)
          return FailAt(start, "the number is too large");
        value = value * base + static_cast<uint64_t>(HexValue(d));
        ++digits;
      }
      if (digits == 0) return bad();
      v->text = sign + std::to_string(value);
      return true;
    }
    // [0-9][0-9_]* ('.' [0-9][0-9_]*)? ([eE] [+-]? [0-9][0-9_]*)?
    auto digits = [&](std::string* out) {
      if (k >= token.size() || !IsDigit(token[k])) return false;
      while (k < token.size() && (IsDigit(token[k]) || token[k] == '_'))
        if (token[k++] != '_') *out += token[k - 1];
      return true;
    };
    std::string whole, frac, exp;
    if (!digits(&whole)) return bad();
    if (k < token.size() && token[k] == '.') {
      ++k;
      if (!digits(&frac)) return bad();
    }
    if (k < token.size() && (token[k] == 'e' || token[k] == 'E')) {
      ++k;
      if (k < token.size() && (token[k] == '+' || token[k] == '-')) exp += token[k++];
      if (!digits(&exp)) return bad();
    }
    if (k != token.size()) return bad();
    whole.erase(0, std::min(whole.find_first_not_of('0'), whole.size() - 1));
    v->text = sign + whole + (frac.empty() ? "" : "." + frac) + (exp.empty() ? "" : "e" + exp);
    return true;
  }

  // The code point of \u{1 to 6 hex digits}, from pos_ at its '{' (`at`: the backslash).
  bool UnicodeEscape(size_t at, uint32_t* cp) {
    if (At() != '{') return FailAt(at, "a \\u escape is written \\u{hex digits}");
    ++pos_;
    *cp = 0;
    size_t n = 0;
    for (; IsHex(At()); ++pos_, ++n) {
      if (n == 6) return FailAt(at, "a \\u{} escape has at most 6 hex digits");
      *cp = *cp * 16 + static_cast<uint32_t>(HexValue(At()));
    }
    if (n == 0 || At() != '}') return FailAt(at, "a \\u escape is written \\u{hex digits}");
    ++pos_;
    if (*cp > 0x10FFFF || (*cp >= 0xD800 && *cp <= 0xDFFF))
      return FailAt(
          at, "\\u{} escape of " + std::to_string(*cp) + ", which is no Unicode scalar value");
    return true;
  }

  // The escape at pos_ (a backslash), decoded onto *out.
  bool Escape(std::string* out) {
    size_t at = pos_;
    ++pos_;
    char e = At();
    switch (e) {
      case 'n':
        *out += '\n';
        break;
      case 'r':
        *out += '\r';
        break;
      case 't':
        *out += '\t';
        break;
      case '\\':
        *out += '\\';
        break;
      case '"':
        *out += '"';
        break;
      case 'b':
        *out += '\b';
        break;
      case 'f':
        *out += '\f';
        break;
      case 's':
        *out += ' ';
        break;
      case '/':
        *out += '/';
        break;  // KDL v1
      case 'u': {
        ++pos_;
        uint32_t cp = 0;
        if (!UnicodeEscape(at, &cp)) return false;
        AppendUtf8(cp, out);
        return true;
      }
      default:
        if (Space() || Newline()) {
          // A '\' before white space drops all of it, line breaks included.
          while (size_t n = Space() ? Space() : Newline()) pos_ += n;
          return true;
        }
        if (AtEnd()) return FailAt(at, "a string is not closed with \"");
        return FailAt(at, "\\" + std::string(1, e) + " is not an escape in KDL");
    }
    ++pos_;
    return true;
  }

  bool QuotedString(std::string* out) {
    size_t open = pos_;
    ++pos_;
    while (true) {
      if (AtEnd()) return FailAt(open, "a string is not closed with \"");
      char c = At();
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (Newline())
        return Fail(
            "a line break inside a \"string\" (write \\n, or use a \"\"\" multi-line "
            "string)");
      if (c == '\\') {
        if (!Escape(out)) return false;
        continue;
      }
      if (!CheckControl()) return false;
      *out += c;
      ++pos_;
    }
  }

  /// The lines of a multi-line string from pos_ (just after the opening quotes and hashes) up to
  /// and without its closing line; pos_ ends after the closing `"""` + `hashes` '#'.
  bool MultiLineBody(size_t open, size_t hashes, std::string* body) {
    size_t n = Newline();
    if (!n) return Fail("a \"\"\" multi-line string starts with a line break after its quotes");
    pos_ += n;
    const std::string close = "\"\"\"" + std::string(hashes, '#');
    std::vector<std::string> lines;
    while (true) {
      if (AtEnd()) return FailAt(open, "a \"\"\" multi-line string is not closed with " + close);
      size_t line_start = pos_;
      while (!AtEnd() && !Newline()) ++pos_;
      std::string line = t_.substr(line_start, pos_ - line_start);
      size_t indent = 0;
      while (indent < line.size() && (line[indent] == ' ' || line[indent] == '\t')) ++indent;
      if (line.compare(indent, close.size(), close) == 0) {
        // The closing line: its indentation is taken off every line.
        const std::string prefix = line.substr(0, indent);
        pos_ = line_start + indent + close.size();
        if (hashes == 0 && At() == '#') return Fail("unexpected '#' after a \"\"\" string");
        for (size_t i = 0; i < lines.size(); ++i) {
          const std::string& l = lines[i];
          if (i) *body += '\n';
          if (l.find_first_not_of(" \t") == std::string::npos) continue;
          if (l.compare(0, prefix.size(), prefix) != 0)
            return FailAt(open, "line " + std::to_string(i + 1) +
                                    " of a multi-line string is not indented like its "
                                    "closing quotes");
          *body += l.substr(prefix.size());
        }
        return true;
      }
      lines.push_back(std::move(line));
      if (size_t k = Newline()) pos_ += k;
    }
  }

  bool MultiLineString(std::string* out, bool raw, size_t hashes) {
    size_t open = pos_;
    pos_ += 3;
    std::string body;
    if (!MultiLineBody(open, hashes, &body)) return false;
    if (raw) {
      *out = std::move(body);
      return true;
    }
    // Escapes are read after the indentation is taken off (their positions: the opening quotes).
    KdlParser inner(body, max_depth_);
    KdlError escape_error;
    inner.error_ = &escape_error;
    while (!inner.AtEnd()) {
      char c = inner.At();
      if (c == '\\') {
        if (!inner.Escape(out))
          return FailAt(open,
                        escape_error.message.substr(std::string_view("invalid KDL: ").size()) +
                            " (in the multi-line string)");
      } else {
        *out += c;
        ++inner.pos_;
      }
    }
    return true;
  }

  // A raw string: '#'... '"' ... '"' '#'... (no escapes); `hashes_at` is the first '#' or '"'.
  // `v1`: r"..." of KDL v1 (line breaks allowed, no """ form).
  bool RawString(std::string* out, size_t hashes_at, bool v1) {
    size_t open = pos_;
    pos_ = hashes_at;
    size_t hashes = 0;
    while (At() == '#') {
      ++hashes;
      ++pos_;
    }
    if (At() != '"') return FailAt(open, "a raw string is written #\"...\"#");
    if (!v1 && StartsWith("\"\"\"")) return MultiLineString(out, true, hashes);
    ++pos_;
    const std::string close = "\"" + std::string(hashes, '#');
    while (true) {
      if (AtEnd()) return FailAt(open, "a raw string is not closed with " + close);
      if (StartsWith(close)) {
        pos_ += close.size();
        return true;
      }
      if (!v1 && Newline())
        return Fail("a line break inside a raw string (use a #\"\"\" multi-line string)");
      if (!v1 && !CheckControl()) return false;
      *out += At();
      ++pos_;
    }
  }

  const std::string& t_;
  const int max_depth_;
  std::vector<size_t> line_starts_;
  size_t pos_ = 0;
  KdlError* error_ = nullptr;
};

}  // namespace

bool ParseKdl(const std::string& text, std::vector<KdlNode>* nodes, KdlError* error,
              int max_depth) {
  return KdlParser(text, max_depth).Run(nodes, error);
}

}  // namespace torc::spec
