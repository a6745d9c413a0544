#include <doctest/doctest.h>

#include "spec/units.h"

using namespace torc::spec;

TEST_CASE("memory sizes") {
  int64_t b = 0;
  std::string err;
  CHECK(ParseMemory("512m", &b, &err));
  CHECK(b == 512LL << 20);
}
