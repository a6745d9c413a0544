#include "spec/kdl_workflow.h"

#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string_view>
#include <utility>

namespace torc::spec {
namespace {

/// How the nodes inside one kind of node become the keys of its YAML mapping. A child node
/// `key value` is `key: value` (several values: a list; a { } block or key=value properties: a
/// mapping), except for the children named here.
struct Shape {
  const char* what;  // in messages: "'job'"
  /// The node's first value is the entry's `name` (`job "a" { ... }`).
  bool named = false;
  /// Child node name -> list key: every such child adds its values to one list
  /// (`depends_on_job "a"` twice is `depends_on: [a, b]`).
  std::vector<std::pair<std::string_view, std::string_view>> lists = {};
  /// Child node name -> (list key, shape): every such child is one entry of a list of mappings
  /// (`job "a" { ... }` at the top level is an entry of `jobs`).
  struct Entries {
    std::string_view node, key;
    const Shape* shape;
  };
  std::vector<Entries> entries = {};
  /// `data` holds JSON text, as Torc reads it (`data "{\"k\": 1}"`).
  bool json_data = false;
};

const Shape kGeneric{.what = "a block"};
const Shape kJob{.what = "'job'",
                 .named = true,
                 .lists = {{"depends_on_job", "depends_on"},
                           {"depends_on", "depends_on"},
                           {"depends_on_regexes", "depends_on_regexes"},
                           {"input_file", "input_files"},
                           {"input_files", "input_files"},
                           {"input_file_regexes", "input_file_regexes"},
                           {"output_file", "output_files"},
                           {"output_files", "output_files"},
                           {"output_file_regexes", "output_file_regexes"},
                           {"input_user_data", "input_user_data"},
                           {"input_user_data_regexes", "input_user_data_regexes"},
                           {"output_user_data", "output_user_data"},
                           {"output_user_data_regexes", "output_user_data_regexes"},
                           {"use_parameters", "use_parameters"}}};
const Shape kFile{.what = "'file'", .named = true, .lists = {{"use_parameters", "use_parameters"}}};
const Shape kUserData{.what = "'user_data'",
                      .named = true,
                      .lists = {{"use_parameters", "use_parameters"}},
                      .json_data = true};
const Shape kRequirements{.what = "'resource_requirements'", .named = true};
const Shape kScheduler{.what = "'slurm_scheduler'", .named = true};
const Shape kAction{.what = "'action'",
                    .lists = {{"job", "jobs"},
                              {"jobs", "jobs"},
                              {"job_name_regexes", "job_name_regexes"},
                              {"command", "commands"},
                              {"commands", "commands"}}};
const Shape kRule{.what = "'rule'",
                  .lists = {{"exit_codes", "exit_codes"}, {"reasons", "reasons"}}};
const Shape kFailureHandler{
    .what = "'failure_handler'", .named = true, .entries = {{"rule", "rules", &kRule}}};
const Shape kWorkflow{
    .what = "the workflow",
    .entries = {{"job", "jobs", &kJob},
                {"file", "files", &kFile},
                {"user_data", "user_data", &kUserData},
                {"resource_requirements", "resource_requirements", &kRequirements},
                {"slurm_scheduler", "slurm_schedulers", &kScheduler},
                {"action", "actions", &kAction},
                {"failure_handler", "failure_handlers", &kFailureHandler}}};

/// The parts joined, built piecewise (g++ -O3 warns falsely on long `"x" + s + ...` chains).
std::string Join(std::initializer_list<std::string_view> parts) {
  std::string text;
  for (std::string_view part : parts) text += part;
  return text;
}

/// Writes YAML flow text, every name and value on a line of its own, and records where in the
/// KDL file each line's content came from.
class YamlFlowWriter {
 public:
  YamlFlowWriter(std::string* out, std::vector<Loc>* origins) : out_(out), origins_(origins) {
    out_->clear();
    origins_->clear();
  }

  void Open(char bracket, Loc from) {
    Begin(from);
    *out_ += bracket;
    first_.push_back(true);
  }
  void Close(char bracket) {
    *out_ += bracket;
    first_.pop_back();
  }
  void Key(std::string_view key, Loc from) {
    Begin(from);
    // An explicit key ("? key", then ": value" on the value's line): YAML limits implicit keys
    // to 1024 characters, KDL names have no limit.
    *out_ += "? ";
    *out_ += Quoted(key);
    key_pending_ = true;
  }
  void Scalar(std::string_view yaml, Loc from) {
    Begin(from);
    *out_ += yaml;
  }

  static std::string Quoted(std::string_view s) {
    return nlohmann::json(std::string(s))
        .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }

 private:
  // A new line for a key, a value or an opening bracket: after a ',' when it is not the first
  // entry of its mapping or list, or as ": value" after its key.
  void Begin(Loc from) {
    const bool value = key_pending_;
    key_pending_ = false;
    if (!value && !first_.empty()) {
      if (!first_.back()) *out_ += ',';
      first_.back() = false;
    }
    if (!origins_->empty()) *out_ += '\n';
    origins_->push_back(from);
    if (value) *out_ += ": ";
  }

  std::string* out_;
  std::vector<Loc>* origins_;
  std::vector<bool> first_;
  bool key_pending_ = false;
};

/// Turns the KDL nodes into YAML with a YamlFlowWriter, following the Shapes above.
class KdlWorkflowWriter {
 public:
  KdlWorkflowWriter(std::string* yaml, std::vector<Loc>* origins, KdlError* error, int max_depth)
      : w_(yaml, origins), error_(error), max_depth_(max_depth) {}

  bool Workflow(const std::vector<KdlNode>& nodes) {
    w_.Open('{', {1, 1});
    if (!Members(nodes, kWorkflow, 0)) return false;
    w_.Close('}');
    return true;
  }

 private:
  bool Fail(Loc at, std::string message) {
    error_->line = at.line;
    error_->column = at.column;
    error_->message = std::move(message);
    return false;
  }

  /// One key of a mapping: a single child, or all the children that fill one list.
  struct Member {
    std::string_view key;
    Loc loc;
    const KdlNode* node = nullptr;             // a plain child
    std::vector<const KdlValue*> values = {};  // a list of values
    std::vector<const KdlNode*> entries = {};  // a list of entries
    const Shape* shape = nullptr;              // of the entries
  };

  // The mapping of a node's name (for a named shape), properties and children.
  bool Object(const KdlNode& node, const Shape& shape, int depth) {
    if (depth > max_depth_)
      return Fail(node.loc,
                  "invalid KDL: nested deeper than " + std::to_string(max_depth_) + " levels");
    if (!node.args.empty() && !shape.named)
      return Fail(
          node.args[0].loc,
          Join({"'", node.name, "' takes no value here: write its settings in its { } block"}));
    if (node.args.size() > 1)
      return Fail(node.args[1].loc,
                  Join({"'", node.name,
                        "' takes one value, its name: write its other settings in "
                        "its { } block or as key=value"}));
    w_.Open('{', node.loc);
    if (!node.args.empty()) {
      w_.Key("name", node.args[0].loc);
      w_.Scalar(ScalarYaml(node.args[0]), node.args[0].loc);
    }
    for (const auto& p : node.properties) {
      w_.Key(p.key, p.key_loc);
      if (!Value(p.key, p.value, shape)) return false;
    }
    if (!Members(node.children, shape, depth)) return false;
    w_.Close('}');
    return true;
  }

  bool Members(const std::vector<KdlNode>& children, const Shape& shape, int depth) {
    std::vector<Member> members;
    auto member_for = [&](std::string_view key, Loc loc) -> Member& {
      for (auto& m : members)
        if (m.key == key && (!m.values.empty() || !m.entries.empty())) return m;
      members.push_back({.key = key, .loc = loc});
      return members.back();
    };
    for (const KdlNode& child : children) {
      if (const Shape::Entries* e = EntriesOf(shape, child.name)) {
        Member& m = member_for(e->key, child.loc);
        m.shape = e->shape;
        m.entries.push_back(&child);
        continue;
      }
      const Shape::Entries* wrapper = WrapperOf(shape, child);
      if (wrapper && !child.children.empty()) {
        // `jobs { job "a" { ... } ... }`: a block of entries (`jobs { }` is an empty list).
        Member& m = member_for(wrapper->key, child.loc);
        m.shape = wrapper->shape;
        for (const KdlNode& entry : child.children) {
          if (entry.name != wrapper->node)
            return Fail(entry.loc, Join({"'", wrapper->key, "' { } holds '", wrapper->node,
                                         "' nodes, not '", entry.name, "'"}));
          m.entries.push_back(&entry);
        }
        continue;
      }
      if (std::string_view key = ListKeyOf(shape, child.name); !key.empty()) {
        if (child.has_children || !child.properties.empty())
          return Fail(child.has_children ? child.children_loc : child.properties[0].key_loc,
                      Join({"'", child.name, "' takes values, not a { } block or key=value"}));
        if (child.args.empty())
          return Fail(child.loc, Join({"'", child.name, "' needs at least one value"}));
        Member& m = member_for(key, child.loc);
        for (const KdlValue& v : child.args) m.values.push_back(&v);
        continue;
      }
      members.push_back({.key = child.name, .loc = child.loc, .node = &child});
    }
    for (const Member& m : members) {
      w_.Key(m.key, m.loc);
      if (m.node) {
        if (!Child(*m.node, shape, depth)) return false;
      } else if (!m.entries.empty()) {
        w_.Open('[', m.loc);
        for (const KdlNode* entry : m.entries)
          if (!Object(*entry, *m.shape, depth + 1)) return false;
        w_.Close(']');
      } else {
        w_.Open('[', m.loc);
        for (const KdlValue* v : m.values) w_.Scalar(ScalarYaml(*v), v->loc);
        w_.Close(']');
      }
    }
    return true;
  }

  // The value of `key value...`, `key { ... }` or `key k=v ...`.
  bool Child(const KdlNode& child, const Shape& shape, int depth) {
    if (child.has_children || !child.properties.empty()) {
      if (child.has_children && child.children.empty() && child.properties.empty() &&
          child.args.empty() && WrapperOf(shape, child)) {
        w_.Open('[', child.children_loc);  // `jobs { }`
        w_.Close(']');
        return true;
      }
      return Object(child, kGeneric, depth + 1);
    }
    if (child.args.empty()) {
      w_.Scalar("null", child.loc);
      return true;
    }
    if (child.args.size() == 1) return Value(child.name, child.args[0], shape);
    w_.Open('[', child.args[0].loc);
    for (const KdlValue& v : child.args) w_.Scalar(ScalarYaml(v), v.loc);
    w_.Close(']');
    return true;
  }

  bool Value(std::string_view key, const KdlValue& v, const Shape& shape) {
    if (shape.json_data && key == "data" && v.type == KdlValue::Type::kString) return JsonData(v);
    w_.Scalar(ScalarYaml(v), v.loc);
    return true;
  }

  // User data's `data "<JSON text>"`: the JSON value, on one line.
  bool JsonData(const KdlValue& v) {
    bool too_deep = false;
    nlohmann::json::parser_callback_t limit = [&](int depth, nlohmann::json::parse_event_t,
                                                  nlohmann::json&) {
      if (depth > max_depth_) too_deep = true;
      return !too_deep;
    };
    nlohmann::json data;
    try {
      data = nlohmann::json::parse(v.text, limit);
    } catch (const nlohmann::json::parse_error& e) {
      return Fail(v.loc,
                  "'data' of user_data is a string of JSON text (as Torc reads it), and "
                  "this one is not JSON (byte " +
                      std::to_string(e.byte) + ")");
    } catch (const nlohmann::json::exception&) {  // e.g. a number out of range
      return Fail(v.loc,
                  "'data' of user_data is a string of JSON text (as Torc reads it), and "
                  "this one holds a value JSON cannot keep (a number out of range)");
    }
    if (too_deep)
      return Fail(
          v.loc, "'data' of user_data nests deeper than " + std::to_string(max_depth_) + " levels");
    w_.Scalar(data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), v.loc);
    return true;
  }

  static std::string ScalarYaml(const KdlValue& v) {
    switch (v.type) {
      case KdlValue::Type::kString:
        return YamlFlowWriter::Quoted(v.text);
      case KdlValue::Type::kNumber:
      case KdlValue::Type::kBool:
        return v.text;
      case KdlValue::Type::kNull:
        return "null";
    }
    return "null";
  }

  static const Shape::Entries* EntriesOf(const Shape& shape, std::string_view name) {
    for (const auto& e : shape.entries)
      if (e.node == name) return &e;
    return nullptr;
  }

  // `jobs { job ... }`: a node named like a list of entries whose entries have another name.
  static const Shape::Entries* WrapperOf(const Shape& shape, const KdlNode& node) {
    if (!node.has_children || !node.args.empty() || !node.properties.empty()) return nullptr;
    for (const auto& e : shape.entries)
      if (e.key == node.name && e.key != e.node) return &e;
    return nullptr;
  }

  static std::string_view ListKeyOf(const Shape& shape, std::string_view name) {
    for (const auto& [node, key] : shape.lists)
      if (node == name) return key;
    return {};
  }

  YamlFlowWriter w_;
  KdlError* error_;
  const int max_depth_;
};

}  // namespace

bool KdlWorkflowToYaml(const std::string& text, std::string* yaml, std::vector<Loc>* origins,
                       KdlError* error, int max_depth) {
  std::vector<KdlNode> nodes;
  if (!ParseKdl(text, &nodes, error, max_depth)) return false;
  return KdlWorkflowWriter(yaml, origins, error, max_depth).Workflow(nodes);
}

}  // namespace torc::spec
