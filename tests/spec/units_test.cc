#include <doctest/doctest.h>

#include "spec/units.h"

using namespace torc::spec;

namespace {
int64_t Mem(const char* s) {
  int64_t b = -1;
  std::string err;
  REQUIRE_MESSAGE(ParseMemory(s, &b, &err), s, ": ", err);
  return b;
}
int64_t Iso(const char* s) {
  int64_t v = -1;
  std::string err;
  REQUIRE_MESSAGE(ParseIsoDuration(s, &v, &err), s, ": ", err);
  return v;
}
int64_t Wall(const char* s) {
  int64_t v = -1;
  std::string err;
  REQUIRE_MESSAGE(ParseSlurmWalltime(s, &v, &err), s, ": ", err);
  return v;
}
std::string MemError(const char* s) {
  int64_t b = 0;
  std::string err;
  CHECK_FALSE(ParseMemory(s, &b, &err));
  return err;
}
}  // namespace

TEST_CASE("memory sizes use binary units, any case, optional b/ib suffix") {
  CHECK(Mem("512m") == 512LL << 20);
  CHECK(Mem("32g") == 32LL << 30);
  CHECK(Mem("32G") == 32LL << 30);
  CHECK(Mem("8GB") == 8LL << 30);
  CHECK(Mem("8GiB") == 8LL << 30);
  CHECK(Mem("100k") == 100 * 1024);
  CHECK(Mem("2t") == 2LL << 40);
  CHECK(Mem("1.5g") == 3LL << 29);
  CHECK(Mem("1024") == 1024);
  CHECK(Mem(" 4g ") == 4LL << 30);
  CHECK(Mem("16 GB") == 16LL << 30);
}

TEST_CASE("bad memory sizes say what is wrong") {
  CHECK(MemError("12q") == "invalid memory unit 'q' in '12q': use k, m, g or t (e.g. 512m, 32g)");
  CHECK(MemError("g").find("expected a number") != std::string::npos);
  CHECK(MemError("").find("expected a number") != std::string::npos);
  CHECK(MemError("-5g").find("expected a number") != std::string::npos);
  CHECK(MemError("1.2.3g").find("expected a number") != std::string::npos);
  CHECK(MemError("99999999999t").find("too large") != std::string::npos);
}

TEST_CASE("ISO-8601 durations") {
  CHECK(Iso("PT30M") == 1800);
  CHECK(Iso("P0DT1M") == 60);
  CHECK(Iso("P1DT2H") == 93600);
  CHECK(Iso("PT1H30M") == 5400);
  CHECK(Iso("PT8H") == 28800);
  CHECK(Iso("PT0.5S") == 1);
  CHECK(Iso("PT90S") == 90);
  CHECK(Iso("P2W") == 14 * 86400);
  CHECK(Iso("P1D") == 86400);
  CHECK(Iso("pt15m") == 900);
}

TEST_CASE("bad durations are refused with a reason") {
  int64_t v = 0;
  std::string err;
  for (const char* bad : {"", "P", "PT", "1h", "PT-5M", "PT5", "P1M", "P1Y", "PT1H1H", "P1H",
                          "PT1D", "PTT1M", "P1DT"}) {
    CAPTURE(bad);
    CHECK_FALSE(ParseIsoDuration(bad, &v, &err));
    CHECK(err.find("invalid duration") == 0);
  }
  ParseIsoDuration("P1M", &v, &err);
  CHECK(err.find("months are not supported (use PT..M for minutes)") != std::string::npos);
}

TEST_CASE("Slurm walltimes in all of Slurm's forms") {
  CHECK(Wall("12:00:00") == 12 * 3600);
  CHECK(Wall("00:10:00") == 600);
  CHECK(Wall("1-00:00:00") == 86400);
  CHECK(Wall("2-12") == 2 * 86400 + 12 * 3600);
  CHECK(Wall("2-12:30") == 2 * 86400 + 12 * 3600 + 1800);
  CHECK(Wall("90") == 90 * 60);
  CHECK(Wall("90:30") == 90 * 60 + 30);
}

TEST_CASE("bad walltimes") {
  int64_t v = 0;
  std::string err;
  for (const char* bad : {"", "abc", "25:99:00", "1:2:3:4", "1-2-3", "-5", "00:00:00", "10:60",
                          "1-", ":10"}) {
    CAPTURE(bad);
    CHECK_FALSE(ParseSlurmWalltime(bad, &v, &err));
  }
}

TEST_CASE("walltime formatting round-trips") {
  CHECK(FormatSlurmWalltime(3600) == "01:00:00");
  CHECK(FormatSlurmWalltime(86400 + 61) == "1-00:01:01");
  CHECK(Wall(FormatSlurmWalltime(200000).c_str()) == 200000);
}
