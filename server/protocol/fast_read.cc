#include "server/protocol/fast_read.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>

namespace torc::protocol {
namespace {

bool Plain(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u >= 0x20 && u < 0x80 && c != '"' && c != '\\';
}

bool Digit(char c) { return c >= '0' && c <= '9'; }

/// A cursor over the text. Every read returns false at the first thing it does not take; the
/// caller then gives up on the whole text (the general decoder takes over).
class Reader {
 public:
  explicit Reader(std::string_view text) : p_(text.data()), end_(text.data() + text.size()) {}

  bool AtEnd() {
    Space();
    return p_ == end_;
  }

  /// `null`: the protocol reads a field that is null as one that is absent.
  bool Null() {
    Space();
    if (end_ - p_ < 4 || std::string_view(p_, 4) != "null") return false;
    p_ += 4;
    return true;
  }

  /// An object: `field(key)` reads the value of each member, and returns false for a key it
  /// does not know. A key twice is refused, as the API refuses it (api.cc, ParseBody).
  template <typename Field>
  bool Object(Field field) {
    if (!Take('{')) return false;
    if (Take('}')) return true;
    constexpr size_t kMaxKeys = 16;
    std::string_view seen[kMaxKeys];
    size_t n = 0;
    do {
      std::string_view key;
      if (!Key(&key) || n == kMaxKeys) return false;
      for (size_t i = 0; i < n; ++i)
        if (seen[i] == key) return false;
      seen[n++] = key;
      if (!field(key)) return false;
    } while (Take(','));
    return Take('}');
  }

  /// An array of at most `max` items, each read by `item()`.
  template <typename Item>
  bool Array(size_t max, Item item) {
    if (!Take('[')) return false;
    if (Take(']')) return true;
    size_t n = 0;
    do {
      if (++n > max || !item()) return false;
    } while (Take(','));
    return Take(']');
  }

  /// An array field that is not required: null reads as empty.
  template <typename Item>
  bool OptionalArray(size_t max, Item item) {
    return Null() || Array(max, item);
  }

  /// An integer within [min, max]; null leaves *v empty.
  bool Int(std::optional<int64_t>* v, int64_t min, int64_t max) {
    if (Null()) return true;
    bool integer = false;
    int64_t i = 0;
    double d = 0;
    if (!Number(&integer, &i, &d) || !integer || i < min || i > max) return false;
    *v = i;
    return true;
  }

  /// A number (integer or not, finite); null leaves *v empty.
  bool Real(std::optional<double>* v) {
    if (Null()) return true;
    bool integer = false;
    int64_t i = 0;
    double d = 0;
    if (!Number(&integer, &i, &d)) return false;
    *v = d;
    return true;
  }

  /// true or false; null leaves *v empty.
  bool Bool(std::optional<bool>* v) {
    if (Null()) return true;
    Space();
    for (bool b : {true, false}) {
      const std::string_view word = b ? "true" : "false";
      if (static_cast<size_t>(end_ - p_) >= word.size() &&
          std::string_view(p_, word.size()) == word) {
        p_ += word.size();
        *v = b;
        return true;
      }
    }
    return false;
  }

  /// A string of at most `max` bytes; null leaves *v as it is (the field's default).
  bool Text(std::string* v, size_t max) { return Null() || String(v, max); }

  /// A string (not null) of at most `max` bytes once decoded: printable ASCII and the short
  /// escapes only (a \u escape, a control byte or one past ASCII: false).
  bool String(std::string* out, size_t max) {
    if (!Take('"')) return false;
    out->clear();
    while (true) {
      const char* run = p_;
      while (p_ < end_ && Plain(*p_)) ++p_;
      out->append(run, p_);
      if (p_ == end_) return false;
      if (*p_ == '"') {
        ++p_;
        return out->size() <= max;
      }
      if (*p_ != '\\' || ++p_ == end_) return false;
      switch (*p_++) {
        case '"':
          out->push_back('"');
          break;
        case '\\':
          out->push_back('\\');
          break;
        case '/':
          out->push_back('/');
          break;
        case 'b':
          out->push_back('\b');
          break;
        case 'f':
          out->push_back('\f');
          break;
        case 'n':
          out->push_back('\n');
          break;
        case 'r':
          out->push_back('\r');
          break;
        case 't':
          out->push_back('\t');
          break;
        default:
          return false;
      }
    }
  }

 private:
  void Space() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }

  bool Take(char c) {
    Space();
    if (p_ == end_ || *p_ != c) return false;
    ++p_;
    return true;
  }

  /// An object key without escapes, and the colon after it.
  bool Key(std::string_view* key) {
    if (!Take('"')) return false;
    const char* start = p_;
    while (p_ < end_ && Plain(*p_)) ++p_;
    if (p_ == end_ || *p_ != '"') return false;
    *key = std::string_view(start, static_cast<size_t>(p_ - start));
    ++p_;
    return Take(':');
  }

  /// A JSON number (RFC 8259's grammar). An integer literal must fit in int64_t (*i, and *d
  /// its value as a double, as nlohmann gives it); any other must be finite (*d).
  bool Number(bool* integer, int64_t* i, double* d) {
    Space();
    const char* start = p_;
    if (p_ < end_ && *p_ == '-') ++p_;
    if (p_ == end_ || !Digit(*p_)) return false;
    if (*p_ == '0') {
      ++p_;
    } else {
      while (p_ < end_ && Digit(*p_)) ++p_;
    }
    *integer = true;
    if (p_ < end_ && *p_ == '.') {
      *integer = false;
      const char* digits = ++p_;
      while (p_ < end_ && Digit(*p_)) ++p_;
      if (p_ == digits) return false;
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      *integer = false;
      ++p_;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      const char* digits = p_;
      while (p_ < end_ && Digit(*p_)) ++p_;
      if (p_ == digits) return false;
    }
    if (*integer) {
      auto r = std::from_chars(start, p_, *i);
      if (r.ec != std::errc() || r.ptr != p_) return false;
      *d = static_cast<double>(*i);
      return true;
    }
    auto r = std::from_chars(start, p_, *d);
    return r.ec == std::errc() && r.ptr == p_ && std::isfinite(*d);
  }

  const char* p_;
  const char* end_;
};

bool ReadStartNotice(Reader& r, StartNotice* s) {
  std::optional<int64_t> id, attempt;
  if (!r.Object([&](std::string_view k) {
        if (k == "id") return r.Int(&id, 0, UINT32_MAX);
        if (k == "attempt") return r.Int(&attempt, 1, UINT32_MAX);
        if (k == "nodes") return r.Text(&s->nodes, kMaxNodesBytes);
        return false;
      }))
    return false;
  if (!id || !attempt) return false;
  s->id = static_cast<uint32_t>(*id);
  s->attempt = static_cast<uint32_t>(*attempt);
  return true;
}

bool ReadStartNotices(Reader& r, std::vector<StartNotice>* out) {
  return r.Array(1'000'000, [&] { return ReadStartNotice(r, &out->emplace_back()); });
}

bool ReadNodeUsage(Reader& r, NodeUsage* u) {
  std::optional<int64_t> peak;
  std::optional<double> cpu;
  if (!r.Object([&](std::string_view k) {
        if (k == "node") return r.Text(&u->node, kMaxHostnameBytes);
        if (k == "peak_rss_bytes") return r.Int(&peak, -1, INT64_MAX);
        if (k == "cpu_seconds") return r.Real(&cpu);
        return false;
      }))
    return false;
  u->peak_rss_bytes = peak.value_or(-1);
  u->cpu_seconds = cpu.value_or(-1.0);
  return true;
}

/// [t, cpu_percent, rss_bytes]: two numbers and an integer.
bool ReadSample(Reader& r, ResourceSample* s) {
  int k = 0;
  std::optional<double> t, cpu;
  std::optional<int64_t> rss;
  if (!r.Array(3, [&] {
        ++k;
        if (k == 1) return !r.Null() && r.Real(&t);
        if (k == 2) return !r.Null() && r.Real(&cpu);
        return !r.Null() && r.Int(&rss, INT64_MIN, INT64_MAX);
      }))
    return false;
  if (k != 3) return false;
  *s = {*t, *cpu, *rss};
  return true;
}

bool ReadAttemptReport(Reader& r, AttemptReport* a) {
  std::optional<int64_t> id, attempt, exit_code, signal, peak;
  std::optional<double> start, end, cpu;
  std::string status;
  bool has_status = false;
  if (!r.Object([&](std::string_view k) {
        if (k == "id") return r.Int(&id, 0, UINT32_MAX);
        if (k == "attempt") return r.Int(&attempt, 1, UINT32_MAX);
        if (k == "status") return has_status = r.String(&status, 32);
        if (k == "exit_code") return r.Int(&exit_code, INT32_MIN, INT32_MAX);
        if (k == "signal") return r.Int(&signal, 0, 1024);
        if (k == "reason") return r.Text(&a->reason, kMaxReasonBytes);
        if (k == "start_time") return r.Real(&start);
        if (k == "end_time") return r.Real(&end);
        if (k == "peak_rss_bytes") return r.Int(&peak, -1, INT64_MAX);
        if (k == "cpu_seconds") return r.Real(&cpu);
        if (k == "nodes") return r.Text(&a->nodes, kMaxNodesBytes);
        if (k == "node_usage")
          return r.OptionalArray(kMaxNodeUsage,
                                 [&] { return ReadNodeUsage(r, &a->node_usage.emplace_back()); });
        if (k == "samples")
          return r.OptionalArray(kMaxSamples,
                                 [&] { return ReadSample(r, &a->samples.emplace_back()); });
        return false;
      }))
    return false;
  if (!id || !attempt || !has_status) return false;
  bool named = false;
  for (auto s : {AttemptStatus::kCompleted, AttemptStatus::kFailed, AttemptStatus::kTerminated,
                 AttemptStatus::kCanceled})
    if (status == ToString(s)) {
      a->status = s;
      named = true;
    }
  if (!named) return false;
  a->id = static_cast<uint32_t>(*id);
  a->attempt = static_cast<uint32_t>(*attempt);
  a->exit_code = static_cast<int32_t>(exit_code.value_or(0));
  a->signal = static_cast<int32_t>(signal.value_or(0));
  a->start_time = start.value_or(0.0);
  a->end_time = end.value_or(0.0);
  a->peak_rss_bytes = peak.value_or(-1);
  a->cpu_seconds = cpu.value_or(-1.0);
  return a->status != AttemptStatus::kCompleted || a->exit_code == 0;
}

bool ReadAttemptReports(Reader& r, std::vector<AttemptReport>* out) {
  return r.Array(1'000'000, [&] { return ReadAttemptReport(r, &out->emplace_back()); });
}

bool ReadNodeCapacity(Reader& r, NodeCapacity* c) {
  std::optional<int64_t> free_cpus, free_memory, free_gpus, total_cpus, total_memory, total_gpus;
  std::optional<bool> idle;
  if (!r.Object([&](std::string_view k) {
        if (k == "free_cpus") return r.Int(&free_cpus, 0, 1 << 24);
        if (k == "free_memory_bytes") return r.Int(&free_memory, 0, INT64_MAX);
        if (k == "free_gpus") return r.Int(&free_gpus, 0, 1 << 16);
        if (k == "total_cpus") return r.Int(&total_cpus, 0, 1 << 24);
        if (k == "total_memory_bytes") return r.Int(&total_memory, 0, INT64_MAX);
        if (k == "total_gpus") return r.Int(&total_gpus, 0, 1 << 16);
        if (k == "idle") return r.Bool(&idle);
        return false;
      }))
    return false;
  if (!free_cpus || !free_memory) return false;
  c->free_cpus = *free_cpus;
  c->free_memory_bytes = *free_memory;
  c->free_gpus = free_gpus.value_or(0);
  c->total_cpus = total_cpus.value_or(c->free_cpus);
  c->total_memory_bytes = total_memory.value_or(c->free_memory_bytes);
  c->total_gpus = total_gpus.value_or(c->free_gpus);
  c->idle = idle.value_or(false);
  return true;
}

}  // namespace

bool FastReadClaimRequest(std::string_view text, ClaimRequest* out) {
  Reader r(text);
  ClaimRequest m;
  std::optional<int64_t> worker_id, max_jobs, total_cpus;
  std::optional<double> wait_seconds;
  bool has_nodes = false;
  if (!r.Object([&](std::string_view k) {
        if (k == "worker_id") return r.Int(&worker_id, 1, INT64_MAX);
        if (k == "max_jobs") return r.Int(&max_jobs, 0, 100000);
        if (k == "remaining_seconds") return r.Real(&m.remaining_seconds);
        if (k == "nodes")
          return has_nodes =
                     r.Array(100000, [&] { return ReadNodeCapacity(r, &m.nodes.emplace_back()); });
        if (k == "scheduler") return r.Text(&m.scheduler, kMaxSchedulerBytes);
        if (k == "total_cpus") return r.Int(&total_cpus, 0, INT64_MAX);
        if (k == "wait_seconds") return r.Real(&wait_seconds);
        if (k == "started") return r.Null() || ReadStartNotices(r, &m.started);
        if (k == "results") return r.Null() || ReadAttemptReports(r, &m.results);
        return false;
      }) ||
      !r.AtEnd() || !worker_id || !has_nodes)
    return false;
  m.worker_id = *worker_id;
  m.max_jobs = static_cast<uint32_t>(max_jobs.value_or(1));
  m.total_cpus = total_cpus.value_or(0);
  m.wait_seconds = wait_seconds.value_or(0.0);
  if (m.wait_seconds < 0 || m.wait_seconds > kMaxClaimWaitSeconds) return false;
  *out = std::move(m);
  return true;
}

bool FastReadStartRequest(std::string_view text, StartRequest* out) {
  Reader r(text);
  StartRequest m;
  std::optional<int64_t> worker_id;
  bool has_jobs = false;
  if (!r.Object([&](std::string_view k) {
        if (k == "worker_id") return r.Int(&worker_id, 1, INT64_MAX);
        if (k == "jobs") return has_jobs = ReadStartNotices(r, &m.jobs);
        return false;
      }) ||
      !r.AtEnd() || !worker_id || !has_jobs)
    return false;
  m.worker_id = *worker_id;
  *out = std::move(m);
  return true;
}

bool FastReadCompleteRequest(std::string_view text, CompleteRequest* out) {
  Reader r(text);
  CompleteRequest m;
  std::optional<int64_t> worker_id;
  bool has_results = false;
  if (!r.Object([&](std::string_view k) {
        if (k == "worker_id") return r.Int(&worker_id, 1, INT64_MAX);
        if (k == "results") return has_results = ReadAttemptReports(r, &m.results);
        if (k == "started") return r.Null() || ReadStartNotices(r, &m.started);
        return false;
      }) ||
      !r.AtEnd() || !worker_id || !has_results)
    return false;
  m.worker_id = *worker_id;
  *out = std::move(m);
  return true;
}

}  // namespace torc::protocol
