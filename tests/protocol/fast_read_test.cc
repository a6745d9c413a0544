// The DOM-free readers of claims, start notices and results (server/protocol/fast_read.h) read
// what torc's worker sends, and whatever else they accept they read exactly as the general
// decoders do (nlohmann::json + messages.h's *FromJson); everything else they leave to those.
#include "server/protocol/fast_read.h"

#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

#include "server/protocol/messages.h"

using namespace torc::protocol;
using nlohmann::json;

namespace {

std::string RandomText(std::mt19937& rng, bool ascii_only) {
  static const std::vector<std::string> pieces = {"n", "1",  "-",  ",", " ", "\"",     "\\",
                                                  "/", "\n", "\t", "x", "é", "node07", "{"};
  std::string s;
  const int n = static_cast<int>(rng() % 6);
  for (int k = 0; k < n; ++k) {
    std::string p = pieces[rng() % pieces.size()];
    if (ascii_only && p == "é") p = "e";
    s += p;
  }
  return s;
}

double RandomReal(std::mt19937& rng) {
  switch (rng() % 4) {
    case 0:
      return static_cast<double>(rng() % 1000);
    case 1:
      return std::uniform_real_distribution<double>(0, 2e9)(rng);
    case 2:
      return -1;
    default:
      return std::uniform_real_distribution<double>(0, 1)(rng) * 1e-7;
  }
}

AttemptReport RandomReport(std::mt19937& rng, bool ascii_only) {
  AttemptReport a;
  a.id = rng();
  a.attempt = 1 + rng() % 5;
  a.status = static_cast<AttemptStatus>(rng() % 4);
  a.exit_code = a.status == AttemptStatus::kCompleted ? 0 : static_cast<int32_t>(rng() % 300) - 20;
  a.signal = static_cast<int32_t>(rng() % 20);
  a.reason = RandomText(rng, ascii_only);
  a.start_time = RandomReal(rng);
  a.end_time = RandomReal(rng);
  a.peak_rss_bytes = rng() % 3 ? static_cast<int64_t>(rng()) << 8 : -1;
  a.cpu_seconds = RandomReal(rng);
  a.nodes = RandomText(rng, ascii_only);
  for (int k = static_cast<int>(rng() % 3); k > 0; --k)
    a.node_usage.push_back(
        {RandomText(rng, ascii_only), static_cast<int64_t>(rng() % 5) - 1, RandomReal(rng)});
  for (int k = static_cast<int>(rng() % 3); k > 0; --k)
    a.samples.push_back({RandomReal(rng), RandomReal(rng), static_cast<int64_t>(rng())});
  return a;
}

StartNotice RandomNotice(std::mt19937& rng, bool ascii_only) {
  return {static_cast<uint32_t>(rng()), static_cast<uint32_t>(1 + rng() % 3),
          RandomText(rng, ascii_only)};
}

ClaimRequest RandomClaim(std::mt19937& rng, bool ascii_only) {
  ClaimRequest m;
  m.worker_id = 1 + rng() % 100;
  m.max_jobs = rng() % 2000;
  for (int k = static_cast<int>(rng() % 4); k > 0; --k)
    m.nodes.push_back({static_cast<int64_t>(rng() % 64), static_cast<int64_t>(rng()) << 10,
                       static_cast<int64_t>(rng() % 4), 64, int64_t{1} << 36, 4, rng() % 2 == 0});
  if (rng() % 2) m.remaining_seconds = RandomReal(rng);
  if (rng() % 2) m.scheduler = RandomText(rng, ascii_only);
  m.total_cpus = rng() % 3 ? 0 : 64;
  m.wait_seconds = rng() % 3 ? 0 : 5;
  for (int k = static_cast<int>(rng() % 4); k > 0; --k)
    m.started.push_back(RandomNotice(rng, ascii_only));
  for (int k = static_cast<int>(rng() % 4); k > 0; --k)
    m.results.push_back(RandomReport(rng, ascii_only));
  return m;
}

CompleteRequest RandomComplete(std::mt19937& rng, bool ascii_only) {
  CompleteRequest m;
  m.worker_id = 1 + rng() % 100;
  for (int k = 1 + static_cast<int>(rng() % 3); k > 0; --k)
    m.results.push_back(RandomReport(rng, ascii_only));
  for (int k = static_cast<int>(rng() % 3); k > 0; --k)
    m.started.push_back(RandomNotice(rng, ascii_only));
  return m;
}

StartRequest RandomStart(std::mt19937& rng, bool ascii_only) {
  StartRequest m;
  m.worker_id = 1 + rng() % 100;
  for (int k = static_cast<int>(rng() % 4); k > 0; --k)
    m.jobs.push_back(RandomNotice(rng, ascii_only));
  return m;
}

template <typename Message, typename Fast, typename General>
bool Agrees(const std::string& text, Fast fast, General general) {
  Message m;
  if (!fast(text, &m)) return false;
  json j;
  REQUIRE_NOTHROW(j = json::parse(text));
  Message g;
  REQUIRE_NOTHROW(g = general(j));
  if (!(g == m)) FAIL_CHECK("the readers disagree on: " << text);
  return true;
}

/// How many of the three readers take `text`, each checked against the general decoder: when
/// a reader takes the text, the general decoder takes it too and gives the same message.
int Judge(const std::string& text) {
  return Agrees<ClaimRequest>(text, FastReadClaimRequest, ClaimRequestFromJson) +
         Agrees<StartRequest>(text, FastReadStartRequest, StartRequestFromJson) +
         Agrees<CompleteRequest>(text, FastReadCompleteRequest, CompleteRequestFromJson);
}

}  // namespace

TEST_CASE("the fast readers read what torc's worker sends, exactly") {
  std::mt19937 rng(7);
  for (int k = 0; k < 300; ++k) {
    ClaimRequest claim = RandomClaim(rng, true), c;
    REQUIRE(FastReadClaimRequest(ToJson(claim).dump(), &c));
    CHECK(c == claim);
    CompleteRequest complete = RandomComplete(rng, true), d;
    REQUIRE(FastReadCompleteRequest(ToJson(complete).dump(), &d));
    CHECK(d == complete);
    StartRequest start = RandomStart(rng, true), s;
    REQUIRE(FastReadStartRequest(ToJson(start).dump(), &s));
    CHECK(s == start);
    // Indented, as a person might send it.
    REQUIRE(FastReadClaimRequest(ToJson(claim).dump(2), &c));
    CHECK(c == claim);
  }
}

TEST_CASE("the fast readers leave the rest to the general decoder") {
  ClaimRequest m;
  // The general decoder accepts these, or words their error; the fast one does not take them.
  const char* others[] = {
      R"({"worker_id": 1, "nodes": [], "extra": 1})",               // a key it does not know
      R"({"worker_id": 1, "nodes": [], "worker_id": 2})",           // a key twice
      R"({"worker_id": 1, "nodes": [], "scheduler": "gp\u0075"})",  // a \u escape
      R"({"worker_id": 1, "nodes": [], "scheduler": "gpü"})",       // past ASCII
      R"({"worker_id": 9223372036854775808, "nodes": []})",         // past int64
      R"({"worker_id": 1.0, "nodes": []})",                         // not an integer
      R"({"worker_id": 0, "nodes": []})",                           // out of range
      R"({"worker_id": 1, "nodes": null})",                         // a required array null
      R"({"worker_id": 1})",                                        // ... or absent
      R"({"worker_id": 1, "nodes": [], "wait_seconds": 61})",       // out of range
      R"({"worker_id": 1, "nodes": [], "remaining_seconds": 1e999})",
      R"({"worker_id": 1, "nodes": [{"free_cpus": 1}]})",  // free memory required
      R"({"worker_id": 01, "nodes": []})",                 // not JSON
      R"({"worker_id": 1, "nodes": []} x)",
      R"({"worker_id": 1, "nodes": [],})",
      "\xEF\xBB\xBF{\"worker_id\": 1, \"nodes\": []}",  // a byte order mark
      R"({"worker_id": 1, "nodes": [], "results": [{"id": 1, "attempt": 1,
          "status": "completed", "exit_code": 2}]})",   // completed, exit code 2
      R"({"worker_id": 1, "nodes": [], "results": [{"id": 1, "attempt": 1, "status": "done"}]})",
      R"({"worker_id": 1, "nodes": [], "results": [{"id": 1, "status": "failed"}]})",
      R"({"worker_id": 1, "nodes": [], "started": [{"id": 1}]})",  // the attempt is required
      R"({"worker_id": 1, "nodes": [], "results": [{"id": 1, "attempt": 1, "status": "failed",
          "samples": [[1, 2]]}]})",
      R"({"worker_id": 1, "nodes": [], "results": [{"id": 1, "attempt": 1, "status": "failed",
          "samples": [[1, 2, 3.5]]}]})",
      "",
      "[]",
  };
  for (const char* text : others) {
    CAPTURE(text);
    CHECK_FALSE(FastReadClaimRequest(text, &m));
  }
  // Nulls read as absent fields, as the general decoder reads them.
  const char* nulls =
      R"({"worker_id": 3, "max_jobs": null, "nodes": [{"free_cpus": 2, "free_memory_bytes": 5,
          "total_cpus": null, "idle": null}], "scheduler": null, "remaining_seconds": null,
          "started": null, "results": [{"id": 4, "attempt": 1, "status": "failed",
          "exit_code": 1, "node_usage": null, "samples": null, "reason": null}]})";
  CHECK(Judge(nulls) == 1);
  REQUIRE(FastReadClaimRequest(nulls, &m));
  CHECK(m.worker_id == 3);
  CHECK(m.max_jobs == 1);
  CHECK(m.nodes.at(0).total_cpus == 2);
  CHECK(m.nodes.at(0).total_memory_bytes == 5);
  CHECK_FALSE(m.remaining_seconds.has_value());
  CHECK(m.results.at(0).peak_rss_bytes == -1);
  CHECK(
      Judge(
          R"({"worker_id": 3, "nodes": [], "results": [{"id": 4, "attempt": 2, "status": "canceled",
                  "exit_code": 1, "cpu_seconds": 0.125e1, "start_time": -0.0}]})") == 1);
}

TEST_CASE("whatever the fast readers take from damaged messages, the general decoder reads alike") {
  // Messages with strings past ASCII too (the fast readers leave those), then bytes changed,
  // inserted or removed at random: each text either is left to the general decoder or is
  // read exactly as it reads it.
  std::mt19937 rng(11);
  static const std::string alphabet = "0123456789-+.eE\"\\u,:{}[] ntrfalsx\n\x01";
  int taken = 0, left = 0;
  for (int k = 0; k < 20000; ++k) {
    const bool ascii = rng() % 4 != 0;
    std::string text;
    switch (rng() % 3) {
      case 0:
        text = ToJson(RandomClaim(rng, ascii)).dump();
        break;
      case 1:
        text = ToJson(RandomComplete(rng, ascii)).dump();
        break;
      default:
        text = ToJson(RandomStart(rng, ascii)).dump();
        break;
    }
    for (int edits = static_cast<int>(rng() % 3); edits > 0 && !text.empty(); --edits) {
      const size_t at = rng() % text.size();
      const char c = alphabet[rng() % alphabet.size()];
      switch (rng() % 4) {
        case 0:
          text[at] = c;
          break;
        case 1:
          text.insert(text.begin() + static_cast<std::ptrdiff_t>(at), c);
          break;
        case 2:
          text.erase(at, 1);
          break;
        default:
          text.insert(at, "99999999999999999999");
          break;
      }
    }
    CAPTURE(text);
    const int t = Judge(text);
    CHECK(t <= 1);  // the three messages' required keys differ: no text is two of them
    (t ? taken : left)++;
  }
  // Both kinds occur, so the comparison above is exercised.
  CHECK(taken > 2000);
  CHECK(left > 2000);
}
