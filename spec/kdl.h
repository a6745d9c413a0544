// KDL (https://kdl.dev): a document of nodes, each a name with positional values, key=value
// properties and an optional { } block of child nodes. Torc writes many of its examples in it
// (version 2: `#true`, `#false`, `#null`; version 1's bare `true`, `false`, `null` and `r"raw"`
// strings are read too). No KDL library is packaged in Debian, so this is a small reader of our
// own (fuzzed with the workflow reader: tests/fuzz/spec_fuzz.cc). What the nodes of a workflow
// mean is spec/kdl_workflow.h's business.
#pragma once

#include <string>
#include <vector>

#include "spec/diagnostics.h"

namespace torc::spec {

/// Where and why a KDL text is not valid, or does not describe a workflow (1-based line and
/// column; the column counts bytes).
struct KdlError {
  int line = 0, column = 0;
  std::string message;
};

/// One value of a node: a positional argument or the value of a property.
struct KdlValue {
  enum class Type { kString, kNumber, kBool, kNull };
  Type type = Type::kNull;
  /// kString: the decoded string. kNumber: plain decimal ("-12", "1.5e3"; hex, octal and binary
  /// integers converted, '_' and '+' dropped) or ".inf", "-.inf", ".nan". kBool: "true"/"false".
  std::string text;
  Loc loc;  // of the value itself (after a type annotation)
};

/// A `key=value` entry of a node.
struct KdlProperty {
  std::string key;
  Loc key_loc;
  KdlValue value;
};

/// A node: `name arg... key=value... { children }`. Type annotations `(type)` are read and
/// dropped; slash-dashed (`/-`) parts are not here.
struct KdlNode {
  std::string name;
  Loc loc;  // of the name
  std::vector<KdlValue> args;
  std::vector<KdlProperty> properties;
  bool has_children = false;  // a { } block was written (maybe empty)
  Loc children_loc;           // of its '{'
  std::vector<KdlNode> children;
};

/// Parses a KDL document into its top-level nodes. False with *error ("invalid KDL: ...") at
/// the first thing that is not KDL. `max_depth` bounds the nesting of { } blocks (and of /* */
/// comments).
bool ParseKdl(const std::string& text, std::vector<KdlNode>* nodes, KdlError* error,
              int max_depth = 512);

}  // namespace torc::spec
