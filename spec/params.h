// Sweep parameters: parsing their values ("1:100", "0:1:0.25", "[1,5,10]",
// "['adam','sgd']", scalars) and enumerating their combinations.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "spec/template.h"

namespace torc::spec {

/// A named parameter with its values in order.
struct Parameter {
  std::string name;
  std::vector<ParamValue> values;
};

/// How several parameters combine: every combination, or element-wise.
enum class ParameterMode { kProduct, kZip };

/// A single scalar as written: integer, then float, else string.
ParamValue ScalarValue(std::string_view text);

/// Parses a parameter's text form. Ranges are inclusive of both ends. Refuses
/// (before expanding) a range or list with more than `max_values` values.
bool ParseParameterText(std::string_view text, uint64_t max_values, std::vector<ParamValue>* out,
                        std::string* error);

/// The values of a parameter file (a value written `"@path"`): one value per line, each line
/// trimmed, blank lines and lines starting with '#' skipped, each value read as ScalarValue
/// reads it. Refuses a file with no values, or with more than `max_values`; *error then says
/// why.
bool ParseParameterFile(std::string_view contents, uint64_t max_values,
                        std::vector<ParamValue>* out, std::string* error);

/// Number of combinations; false with *error when zip lengths differ or the
/// count exceeds `limit` (checked without expanding anything).
bool CountCombinations(const std::vector<Parameter>& params, ParameterMode mode, uint64_t limit,
                       uint64_t* count, std::string* error);

/// The k-th combination: values[p] is parameter p's value. In product mode the
/// first parameter varies slowest (as nested loops in declaration order).
void CombinationAt(const std::vector<Parameter>& params, ParameterMode mode, uint64_t k,
                   std::vector<const ParamValue*>* values);

}  // namespace torc::spec
