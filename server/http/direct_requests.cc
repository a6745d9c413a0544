// The worker protocol's requests the guard answers itself (direct_requests.h).
#include "server/http/direct_requests.h"

#include <algorithm>
#include <cctype>

#include "server/http/request_framer.h"

namespace torc::server::http_internal {
namespace {

/// Takes "<digits>/" or "<digits>" at the end from the front of *path: an id.
bool TakeId(std::string_view* path) {
  size_t n = 0;
  while (n < path->size() && n < 19 && (*path)[n] >= '0' && (*path)[n] <= '9') ++n;
  if (n == 0 || (n < path->size() && (*path)[n] != '/')) return false;
  path->remove_prefix(n);
  return true;
}

bool TakePrefix(std::string_view* s, std::string_view prefix) {
  if (s->substr(0, prefix.size()) != prefix) return false;
  s->remove_prefix(prefix.size());
  return true;
}

const char* ReasonPhrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 413: return "Content Too Large";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return status < 400 ? "OK" : "Error";
  }
}

}  // namespace

bool IsWorkerRequest(std::string_view method, std::string_view path) {
  if (!TakePrefix(&path, "/api/v1/")) return false;
  if (path == "health") return method == "GET";
  if (!TakePrefix(&path, "workflows/") || !TakeId(&path)) return false;
  if (method == "POST" &&
      (path == "/claim" || path == "/start" || path == "/complete" || path == "/workers"))
    return true;
  if (!TakePrefix(&path, "/workers/") || !TakeId(&path)) return false;
  return (method == "POST" && path == "/heartbeat") || (method == "GET" && path == "/jobs") ||
         (method == "DELETE" && path.empty());
}

bool ParseDirectHead(std::string_view head, size_t max_body_bytes, DirectHead* out) {
  *out = DirectHead();
  size_t end = head.find("\r\n");
  if (end == std::string_view::npos) return false;
  const std::string_view line = head.substr(0, end);
  head.remove_prefix(end + 2);
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.substr(sp2 + 1) != "HTTP/1.1") return false;
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  // Worker paths are plain ASCII: nothing to decode. A query or an escape goes to cpprestsdk.
  if (target.find_first_of("?%#") != std::string_view::npos || !IsWorkerRequest(method, target))
    return false;
  out->method = std::string(method);
  out->path = std::string(target);
  bool has_authorization = false;
  while (!head.empty()) {
    end = head.find("\r\n");
    if (end == std::string_view::npos) return false;
    const std::string_view header = head.substr(0, end);
    head.remove_prefix(end + 2);
    if (header.empty()) break;
    const size_t colon = header.find(':');
    if (colon == std::string_view::npos) return false;
    const std::string_view name = header.substr(0, colon);
    const std::string_view value = TrimSpaces(header.substr(colon + 1));
    if (EqualsIgnoringCase(name, "content-length")) {
      // (the framer accepts one, of at most 18 digits)
      uint64_t length = 0;
      for (char c : value) length = length * 10 + static_cast<uint64_t>(c - '0');
      if (length > max_body_bytes) return false;  // cpprestsdk's side answers 413
      out->content_length = length;
    } else if (EqualsIgnoringCase(name, "authorization")) {
      if (has_authorization) return false;
      has_authorization = true;
      out->authorization = std::string(value);
    } else if (EqualsIgnoringCase(name, "connection")) {
      std::string lower(value);
      std::transform(lower.begin(), lower.end(), lower.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      if (lower.find("close") != std::string::npos) out->close = true;
    } else if (EqualsIgnoringCase(name, "transfer-encoding") ||
               EqualsIgnoringCase(name, "expect")) {
      return false;
    }
  }
  return true;
}

std::string SerializeResponse(const HttpResponse& response, bool close) {
  std::string out;
  out.reserve(128 + response.body.size());
  out.append("HTTP/1.1 ").append(std::to_string(response.status)).append(" ");
  out.append(ReasonPhrase(response.status)).append("\r\n");
  if (!response.content_type.empty())
    out.append("Content-Type: ").append(response.content_type).append("\r\n");
  out.append("Content-Length: ").append(std::to_string(response.body.size())).append("\r\n");
  if (close) out.append("Connection: close\r\n");
  out.append("\r\n").append(response.body);
  return out;
}

}  // namespace torc::server::http_internal
