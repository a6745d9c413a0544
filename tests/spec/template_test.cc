#include <doctest/doctest.h>

#include "spec/template.h"

using namespace torc::spec;

namespace {
std::string Fmt(const ParamValue& v, const char* spec) {
  FormatSpec fs;
  std::string err, out;
  REQUIRE_MESSAGE(ParseFormatSpec(spec, &fs, &err), err);
  REQUIRE_MESSAGE(FormatValue(v, fs, &out, &err), err);
  return out;
}
std::string Render(const char* text, std::vector<std::string> names,
                   std::vector<ParamValue> values) {
  Template t;
  std::string err, unknown, out;
  REQUIRE(t.Compile(text, &err));
  REQUIRE_MESSAGE(t.Bind(names, &unknown), unknown);
  std::vector<const ParamValue*> ptrs;
  for (auto& v : values) ptrs.push_back(&v);
  REQUIRE_MESSAGE(t.RenderTo(ptrs, &out, &err), err);
  return out;
}
}  // namespace

TEST_CASE("Python format specs") {
  CHECK(Fmt(ParamValue::Int(7), "03d") == "007");
  CHECK(Fmt(ParamValue::Int(-7), "04d") == "-007");
  CHECK(Fmt(ParamValue::Int(7), ">5") == "    7");
  CHECK(Fmt(ParamValue::Int(7), "<5") == "7    ");
  CHECK(Fmt(ParamValue::Int(7), "^5") == "  7  ");
  CHECK(Fmt(ParamValue::Int(7), "*>4") == "***7");
  CHECK(Fmt(ParamValue::Int(7), "+d") == "+7");
  CHECK(Fmt(ParamValue::Int(255), "x") == "ff");
  CHECK(Fmt(ParamValue::Int(255), "#X") == "0XFF");
  CHECK(Fmt(ParamValue::Int(5), "b") == "101");
  CHECK(Fmt(ParamValue::Int(1234567), ",") == "1,234,567");
  CHECK(Fmt(ParamValue::Float(0.001), ".4f") == "0.0010");
  CHECK(Fmt(ParamValue::Float(3.14159), ".2f") == "3.14");
  CHECK(Fmt(ParamValue::Float(0.5), "08.3f") == "0000.500");
  CHECK(Fmt(ParamValue::Float(1e-5), ".2e") == "1.00e-05");
  CHECK(Fmt(ParamValue::Float(0.25), ".0%") == "25%");
  CHECK(Fmt(ParamValue::Int(3), ".2f") == "3.00");
  CHECK(Fmt(ParamValue::String("adam"), ">6") == "  adam");
  CHECK(Fmt(ParamValue::String("adam"), "<6") == "adam  ");
  CHECK(Fmt(ParamValue::String("adam"), ".2") == "ad");
  CHECK(Fmt(ParamValue::String("adam"), "s") == "adam");
}

TEST_CASE("format specs that do not fit the value are errors") {
  FormatSpec fs;
  std::string err, out;
  REQUIRE(ParseFormatSpec("d", &fs, &err));
  CHECK_FALSE(FormatValue(ParamValue::String("adam"), fs, &out, &err));
  CHECK(err == "format 'd' needs a number, but the value is 'adam'");
  CHECK_FALSE(FormatValue(ParamValue::Float(0.5), fs, &out, &err));
  CHECK_FALSE(ParseFormatSpec("03q", &fs, &err));
  CHECK_FALSE(ParseFormatSpec(".f", &fs, &err));
  CHECK_FALSE(ParseFormatSpec("99999d", &fs, &err));
}

TEST_CASE("plain values print as Torc does: shortest float form") {
  CHECK(ParamValue::Float(1.0).ToString() == "1");
  CHECK(ParamValue::Float(0.25).ToString() == "0.25");
  CHECK(ParamValue::Float(0.1).ToString() == "0.1");
  CHECK(ParamValue::Int(-3).ToString() == "-3");
}

TEST_CASE("templates substitute {name} and {name:spec}, and leave the shell's braces alone") {
  CHECK(Render("job_{i:03d}", {"i"}, {ParamValue::Int(5)}) == "job_005");
  CHECK(Render("run --lr {lr:.4f} --opt {opt}", {"lr", "opt"},
               {ParamValue::Float(0.01), ParamValue::String("sgd")}) ==
        "run --lr 0.0100 --opt sgd");
  CHECK(Render("echo ${HOME} $i {i} ${i}", {"i"}, {ParamValue::Int(2)}) ==
        "echo ${HOME} $i 2 ${i}");
  CHECK(Render("awk '{print $1}' {x}", {"x"}, {ParamValue::Int(1)}) == "awk '{print $1}' 1");
  CHECK(Render("{a,b} {1..3} {}", {"a"}, {ParamValue::Int(1)}) == "{a,b} {1..3} {}");
  CHECK(Render("${files.input.model_{i}}", {"i"}, {ParamValue::Int(3)}) ==
        "${files.input.model_3}");
  CHECK(Render("{i}{i}", {"i"}, {ParamValue::Int(4)}) == "44");
}

TEST_CASE("a placeholder naming no parameter is reported by Bind") {
  Template t;
  std::string err, unknown;
  REQUIRE(t.Compile("run {i} {j}", &err));
  CHECK_FALSE(t.Bind({"i"}, &unknown));
  CHECK(unknown == "j");
  CHECK(t.Names() == std::vector<std::string>{"i", "j"});
}
