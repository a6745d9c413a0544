// Request bodies as the API takes them: JSON held to what workflow files are held to
// (api_internal.h, ParseBody), parsed when the route reads c.body, or later by the handlers that
// read their own body (ReadsOwnBody).
#include <set>
#include <string>
#include <vector>

#include "server/api/api_internal.h"

namespace torc::server::api {
namespace {

/// True when the JSON text nests arrays/objects deeper than `limit`. nlohmann::json parses any
/// depth, but dump() recurses, so a deep value echoed in an error message (or stored, like a
/// worker's resources) would overflow the stack and crash the server.
bool NestedTooDeep(const std::string& text, int limit) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char ch : text) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (ch == '\\')
        escaped = true;
      else if (ch == '"')
        in_string = false;
    } else if (ch == '"') {
      in_string = true;
    } else if (ch == '[' || ch == '{') {
      if (++depth > limit) return true;
    } else if (ch == ']' || ch == '}') {
      --depth;
    }
  }
  return false;
}

}  // namespace

nlohmann::json ParseBody(const std::string& text) {
  if (size_t nul = text.find('\0'); nul != std::string::npos)
    throw ApiError(400, "the request body has a NUL byte at offset " + std::to_string(nul) +
                            "; JSON text has none (is something appended to it?)");
  constexpr int kMaxDepth = 256;
  if (NestedTooDeep(text, kMaxDepth))
    throw ApiError(400, "the request body is nested too deeply (more than " +
                            std::to_string(kMaxDepth) + " levels)");
  using Event = nlohmann::json::parse_event_t;
  // Keys are counted per object as it is parsed: an object with fewer members than keys had
  // one twice. Only then is the body parsed again to name it.
  std::vector<size_t> keys;
  bool twice = false;
  nlohmann::json body = nlohmann::json::parse(
      text,
      [&](int, Event event, nlohmann::json& parsed) {
        if (event == Event::object_start) keys.push_back(0);
        if (event == Event::key) ++keys.back();
        if (event == Event::object_end) {
          twice = twice || parsed.size() != keys.back();
          keys.pop_back();
        }
        return true;
      },
      /*allow_exceptions=*/false);
  if (body.is_discarded()) throw ApiError(400, "the request body is not valid JSON");
  if (!twice) return body;
  std::vector<std::set<std::string>> seen;
  std::string key;
  nlohmann::json again = nlohmann::json::parse(
      text,
      [&](int, Event event, nlohmann::json& parsed) {
        if (event == Event::object_start) seen.emplace_back();
        if (event == Event::key && !seen.back().insert(parsed.get<std::string>()).second &&
            key.empty())
          key = parsed.get<std::string>();
        if (event == Event::object_end) seen.pop_back();
        return true;
      },
      false);
  if (key.size() > 200) key = key.substr(0, 200) + "...";
  throw ApiError(400, "the request body has the key '" + key + "' twice in one object");
}

const nlohmann::json& Body(Call& c) {
  if (c.body.is_null() && !c.http.body.empty()) c.body = ParseBody(c.http.body);
  return c.body;
}

}  // namespace torc::server::api
