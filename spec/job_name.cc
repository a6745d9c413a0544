// The rule for job names: one safe path component (docs/workflow-format.md, "Job names").
#include <cstdio>

#include "spec/plan.h"

namespace torc::spec {
namespace {

constexpr std::string_view kAllowedText =
    "a job name becomes a file name, so it may use ASCII letters, digits and . _ - + = , @ : % ~ "
    "(not starting with '-' or '.', at most 200 bytes)";
static_assert(kMaxJobNameBytes == 200, "kAllowedText states the limit");

bool Allowed(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("._-+=,@:%~").find(static_cast<char>(c)) != std::string_view::npos;
}

std::string Format(const char* format, unsigned value) {
  char buf[16];
  std::snprintf(buf, sizeof buf, format, value);
  return buf;
}

// The character starting at name[i], in words (a control character or a non-ASCII one
// is not quoted: the message must not carry it to a terminal).
std::string Describe(std::string_view name, size_t i) {
  const auto c = static_cast<unsigned char>(name[i]);
  if (c == ' ') return "a space";
  if (c == '\t') return "a tab";
  if (c == '\n') return "a line break";
  if (c < 0x20 || c == 0x7F) return "the control character " + Format("0x%02X", c);
  if (c < 0x80) return Format("'%c'", c);
  // UTF-8 (the file was checked to be UTF-8); name the code point.
  const int extra = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : -1;
  if (extra < 0 || i + static_cast<size_t>(extra) >= name.size())
    return "the byte " + Format("0x%02X", c);
  unsigned cp = c & (0x3F >> extra);
  for (int k = 1; k <= extra; ++k) {
    const auto next = static_cast<unsigned char>(name[i + static_cast<size_t>(k)]);
    if ((next & 0xC0) != 0x80) return "the byte " + Format("0x%02X", c);
    cp = (cp << 6) | (next & 0x3F);
  }
  return "the non-ASCII character " + Format("U+%04X", cp);
}

}  // namespace

std::string JobNameProblem(std::string_view name) {
  if (name.empty()) return "it is empty";
  if (name.size() > kMaxJobNameBytes)
    return "it has " + std::to_string(name.size()) + " bytes; " + std::string(kAllowedText);
  if (name[0] == '-' || name[0] == '.')
    return (name[0] == '-' ? "it starts with '-'; " : "it starts with '.'; ") +
           std::string(kAllowedText);
  for (size_t i = 0; i < name.size(); ++i)
    if (!Allowed(static_cast<unsigned char>(name[i])))
      return Describe(name, i) + " is not allowed; " + std::string(kAllowedText);
  return "";
}

}  // namespace torc::spec
