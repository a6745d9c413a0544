#include <doctest/doctest.h>

#include "spec/params.h"

using namespace torc::spec;

namespace {
std::vector<std::string> Values(const char* text) {
  std::vector<ParamValue> v;
  std::string err;
  REQUIRE_MESSAGE(ParseParameterText(text, 1'000'000, &v, &err), text, ": ", err);
  std::vector<std::string> out;
  for (const auto& x : v) out.push_back(x.ToString());
  return out;
}
std::string Error(const char* text, uint64_t limit = 1'000'000) {
  std::vector<ParamValue> v;
  std::string err;
  CHECK_FALSE(ParseParameterText(text, limit, &v, &err));
  return err;
}
using S = std::vector<std::string>;
}  // namespace

TEST_CASE("integer ranges are inclusive, with optional and negative steps") {
  CHECK(Values("1:5") == S{"1", "2", "3", "4", "5"});
  CHECK(Values("0:100:25") == S{"0", "25", "50", "75", "100"});
  CHECK(Values("0:10:4") == S{"0", "4", "8"});
  CHECK(Values("10:1:-3") == S{"10", "7", "4", "1"});
  CHECK(Values("-2:2") == S{"-2", "-1", "0", "1", "2"});
  CHECK(Values("3:3") == S{"3"});
  CHECK(Values("1:100").size() == 100);
}

TEST_CASE("float ranges are computed as start + k*step, without drift") {
  CHECK(Values("0.0:1.0:0.25") == S{"0", "0.25", "0.5", "0.75", "1"});
  CHECK(Values("0:0.3:0.1") == S{"0", "0.1", "0.2", "0.3"});
  CHECK(Values("1:0:-0.5") == S{"1", "0.5", "0"});
}

TEST_CASE("lists of numbers and quoted strings") {
  CHECK(Values("[1,5,10]") == S{"1", "5", "10"});
  CHECK(Values("['adam','sgd']") == S{"adam", "sgd"});
  CHECK(Values("[\"a b\", 'c,d', e]") == S{"a b", "c,d", "e"});
  CHECK(Values("[0.1, 0.01]") == S{"0.1", "0.01"});
  CHECK(Values("[1,2,]") == S{"1", "2"});
  CHECK(Values("42") == S{"42"});
  CHECK(Values("resnet") == S{"resnet"});
}

TEST_CASE("scalar values keep their type") {
  CHECK(ScalarValue("5").kind == ParamValue::Kind::kInt);
  CHECK(ScalarValue("5.5").kind == ParamValue::Kind::kFloat);
  CHECK(ScalarValue("-0.5").kind == ParamValue::Kind::kFloat);
  CHECK(ScalarValue("adam").kind == ParamValue::Kind::kString);
  CHECK(ScalarValue("inf").kind == ParamValue::Kind::kString);
  CHECK(ScalarValue("1e3").kind == ParamValue::Kind::kFloat);
}

TEST_CASE("bad ranges and lists") {
  CHECK(Error("1:").find("start and end must be numbers") != std::string::npos);
  CHECK(Error("a:b").find("start and end must be numbers") != std::string::npos);
  CHECK(Error("1:10:0").find("the step is zero") != std::string::npos);
  CHECK(Error("5:1").find("it is empty (start > end; use a negative step") != std::string::npos);
  CHECK(Error("1:5:-1").find("it is empty") != std::string::npos);
  CHECK(Error("1:2:3:4").find("too many ':'") != std::string::npos);
  CHECK(Error("[]") == "the list '[]' is empty");
  CHECK(Error("['a','b]").find("unterminated quote") != std::string::npos);
  CHECK(Error("[a,,b]").find("empty item") != std::string::npos);
}

TEST_CASE("huge sweeps are refused before anything is expanded") {
  CHECK(Error("1:1000000000000", 1000).find("1000000000000 values, more than the limit of 1000") !=
        std::string::npos);
  CHECK(Error("0:1:0.0000001", 1000).find("more values than the limit") != std::string::npos);
  std::vector<Parameter> params(4);
  for (int k = 0; k < 4; ++k) {
    params[k].name = "p" + std::to_string(k);
    for (int v = 0; v < 1000; ++v) params[k].values.push_back(ParamValue::Int(v));
  }
  uint64_t count = 0;
  std::string err;
  CHECK_FALSE(CountCombinations(params, ParameterMode::kProduct, 10'000'000, &count, &err));
  CHECK(err.find("1000 x 1000 x 1000 x 1000") != std::string::npos);
}

TEST_CASE("product varies the last parameter fastest; zip pairs elements") {
  std::vector<Parameter> params = {{"a", {ParamValue::Int(1), ParamValue::Int(2)}},
                                   {"b", {ParamValue::String("x"), ParamValue::String("y"),
                                          ParamValue::String("z")}}};
  uint64_t count = 0;
  std::string err;
  REQUIRE(CountCombinations(params, ParameterMode::kProduct, 100, &count, &err));
  CHECK(count == 6);
  std::vector<const ParamValue*> v;
  std::vector<std::string> seen;
  for (uint64_t k = 0; k < count; ++k) {
    CombinationAt(params, ParameterMode::kProduct, k, &v);
    seen.push_back(v[0]->ToString() + v[1]->ToString());
  }
  CHECK(seen == std::vector<std::string>{"1x", "1y", "1z", "2x", "2y", "2z"});
  CHECK_FALSE(CountCombinations(params, ParameterMode::kZip, 100, &count, &err));
  CHECK(err == "parameter_mode zip needs parameters of equal length, but 'a' has 2 values and 'b' "
               "has 3");
  params[1].values.pop_back();
  REQUIRE(CountCombinations(params, ParameterMode::kZip, 100, &count, &err));
  CHECK(count == 2);
  CombinationAt(params, ParameterMode::kZip, 1, &v);
  CHECK(v[0]->ToString() + v[1]->ToString() == "2y");
}
