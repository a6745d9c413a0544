#include "spec/diagnostics.h"

#include <algorithm>

namespace torc::spec {

std::string Diagnostic::ToString() const {
  if (line <= 0) return file + ": " + message;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

namespace {

// Adds one located message to *list, bounded: a runaway file must not produce millions of
// lines, and messages quote what the file says (a 10 MB value must not make a 10 MB message).
void Add(const std::string& file, Loc loc, std::string message, std::vector<Diagnostic>* list,
         const char* too_many) {
  constexpr size_t kMaxEntries = 200;
  if (list->size() == kMaxEntries) {
    list->push_back({file, 0, 0, too_many});
    return;
  }
  if (list->size() > kMaxEntries) return;
  constexpr size_t kMaxMessageBytes = 1000;
  if (message.size() > kMaxMessageBytes) {
    size_t cut = kMaxMessageBytes;
    while (cut > 0 && (static_cast<unsigned char>(message[cut]) & 0xC0) == 0x80) --cut;  // UTF-8
    message = message.substr(0, cut) + "... (" + std::to_string(message.size() - cut) +
              " more bytes)";
  }
  list->push_back({file, loc.line, loc.column, std::move(message)});
}

std::vector<Diagnostic> Sorted(std::vector<Diagnostic>* list) {
  std::stable_sort(list->begin(), list->end(), [](const Diagnostic& a, const Diagnostic& b) {
    if ((a.line == 0) != (b.line == 0)) return b.line == 0;
    return a.line != b.line ? a.line < b.line : a.column < b.column;
  });
  return std::move(*list);
}

}  // namespace

void Diagnostics::Error(Loc loc, std::string message) {
  Add(file_, InFile(loc), std::move(message), &errors_, "too many errors; stopping");
}

void Diagnostics::Warning(Loc loc, std::string message) {
  Add(file_, InFile(loc), "warning: " + std::move(message), &warnings_,
      "warning: too many warnings");
}

Loc Diagnostics::InFile(Loc loc) const {
  if (origins_.empty() || loc.line <= 0) return loc;
  // One name or value per line of a rewrite: the whole line is where that came from.
  return origins_[std::min(static_cast<size_t>(loc.line), origins_.size()) - 1];
}


std::vector<Diagnostic> Diagnostics::Take() { return Sorted(&errors_); }

std::vector<Diagnostic> Diagnostics::TakeWarnings() { return Sorted(&warnings_); }

namespace {
size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}
}  // namespace

std::string SuggestClosest(std::string_view word, const std::vector<std::string_view>& candidates,
                           uint64_t* budget) {
  if (word.size() > 64) return "";
  const size_t allowed = std::max<size_t>(2, word.size() / 3);
  size_t best = SIZE_MAX;
  std::string_view best_word;
  for (auto c : candidates) {
    // A length difference over `allowed` is already too far (and a long name is costly).
    if (c.size() > word.size() + allowed || word.size() > c.size() + allowed) continue;
    if (budget) {
      const uint64_t cost = uint64_t{word.size()} * c.size() + 1;
      if (cost > *budget) {
        *budget = 0;
        return "";
      }
      *budget -= cost;
    }
    size_t d = EditDistance(word, c);
    if (d < best) {
      best = d;
      best_word = c;
    }
  }
  if (best_word.empty() || best > allowed) return "";
  return "did you mean '" + std::string(best_word) + "'?";
}

}  // namespace torc::spec
