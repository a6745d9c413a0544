// A workflow text a test needs to be valid: parsed, or the test stops with every error in it.
#pragma once

#include <doctest/doctest.h>

#include <string>
#include <utility>

#include "spec/plan.h"

namespace torc::test {

inline spec::Plan ParseOk(const std::string& text, const std::string& name = "t.yaml",
                          spec::Format format = spec::Format::kAuto) {
  spec::LoadResult r = spec::ParsePlan(text, name, format);
  std::string errors;
  for (const auto& e : r.errors) errors += e.ToString() + "\n";
  REQUIRE_MESSAGE(r.ok(), errors);
  return std::move(*r.plan);
}

}  // namespace torc::test
