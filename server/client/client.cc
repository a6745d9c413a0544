#include "server/client/client.h"

#include <cctype>
#include <cstdlib>
#include <exception>

#include "server/util/data_dir.h"
#include "server/client/http_client.h"

namespace torc::server {
namespace {

// The typed answer of a call: `decode` applied to a successful answer's body. A decoder's
// complaint (protocol::FieldError, or anything else it throws) becomes the answer's error.
template <typename T, typename Decode>
ApiAnswer<T> Decoded(const ApiClient& client, const ApiResult& r, const char* what,
                     Decode decode) {
  ApiAnswer<T> a;
  a.status = r.status;
  if (!r.ok()) {
    a.error = client.Describe(r);
    return a;
  }
  try {
    a.value = decode(r.body);
  } catch (const std::exception& e) {
    a.error = std::string("the server's ") + what + " is malformed: " + e.what();
  }
  return a;
}

Acknowledged AnyAnswer(const nlohmann::json&) { return {}; }

std::string WorkflowPath(int64_t workflow_id) {
  return "/workflows/" + std::to_string(workflow_id);
}

std::string WorkerPath(int64_t workflow_id, int64_t worker_id) {
  return WorkflowPath(workflow_id) + "/workers/" + std::to_string(worker_id);
}

}  // namespace

std::string UrlEncode(const std::string& value) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

ApiClient::~ApiClient() = default;

std::unique_ptr<ApiClient> ApiClient::Connect(const ClientOptions& options, std::string* error) {
  std::unique_ptr<ApiClient> c(new ApiClient());
  std::string dir = util::ResolveDataDir(options.data_dir);
  c->url_ = options.url;
  c->url_source_ = "--url";
  if (c->url_.empty()) {
    if (const char* env = std::getenv("TORC_API_URL"); env && *env) {
      c->url_ = env;
      c->url_source_ = "TORC_API_URL=" + c->url_;
    }
  }
  if (c->url_.empty()) {
    // Checked before it is trusted: the token goes wherever it points.
    if (!util::ReadServerUrl(dir, &c->url_, error)) return nullptr;
    c->url_source_ = dir + "/server.url";
  }
  if (c->url_.empty()) {
    *error = "no torc server found: " + dir +
             "/server.url does not exist; start one with 'torc server run', or set TORC_API_URL";
    return nullptr;
  }
  while (!c->url_.empty() && c->url_.back() == '/') c->url_.pop_back();
  std::string token = options.token;
  if (token.empty())
    if (const char* env = std::getenv("TORC_TOKEN"); env && *env) token = env;
  std::string token_file = options.token_file;
  if (token_file.empty())
    if (const char* env = std::getenv("TORC_TOKEN_FILE"); env && *env) token_file = env;
  if (token.empty() && !token_file.empty() && !util::ReadTokenFile(token_file, &token, error)) {
    *error += " (TORC_TOKEN_FILE)";
    return nullptr;
  }
  if (token.empty() && !util::ReadToken(dir, &token, error)) {
    *error += " (set TORC_TOKEN, or TORC_DATA_DIR to the server's data directory)";
    return nullptr;
  }
  c->token_ = token;
  c->http_ = MakeHttpClient(c->url_, token, options.timeout);
  return c;
}

std::unique_ptr<ApiClient> ApiClient::OverTransport(const std::string& url,
                                                    std::unique_ptr<HttpClient> http) {
  std::unique_ptr<ApiClient> c(new ApiClient());
  c->url_ = url;
  c->url_source_ = "a test transport";
  c->http_ = std::move(http);
  return c;
}

std::unique_ptr<ApiClient> ApiClient::WithTimeout(std::chrono::milliseconds timeout) const {
  std::unique_ptr<ApiClient> c(new ApiClient());
  c->url_ = url_;
  c->url_source_ = url_source_;
  c->token_ = token_;
  c->http_ = MakeHttpClient(url_, token_, timeout);
  return c;
}

ApiResult ApiClient::Call(const std::string& method, const std::string& path,
                          const nlohmann::json& body) {
  ApiResult r;
  HttpResult h = http_->Request(method, "/api/v1" + path, body.is_null() ? "" : body.dump());
  r.status = h.status;
  if (!h.transport_ok()) {
    r.error = h.error;
    return r;
  }
  r.body = nlohmann::json::parse(h.body, nullptr, false);
  if (r.body.is_discarded()) r.body = nullptr;
  if (!r.ok()) {
    if (r.body.is_object() && r.body.contains("error") && r.body["error"].is_string()) {
      r.error = r.body["error"].get<std::string>();
    } else if (h.status == 404) {
      // Every torc error carries a JSON {"error"}. A bare 404 comes from cpprestsdk itself
      // in the moment a server starts: it accepts connections a little before it routes
      // them to the server's handler (seen when a worker hammered a restarting server).
      // Not an answer: callers retry it as they retry a server that is not up yet.
      r.status = 503;
      r.error = "the server is starting (HTTP 404 before its API answered)";
    } else {
      r.error = "HTTP " + std::to_string(h.status) + ": " + h.body.substr(0, 200);
    }
  }
  return r;
}

ApiAnswer<protocol::RegistrationAnswer> ApiClient::RegisterWorker(
    int64_t workflow_id, const protocol::Registration& m) {
  return Decoded<protocol::RegistrationAnswer>(
      *this, Call("POST", WorkflowPath(workflow_id) + "/workers", protocol::ToJson(m)),
      "registration answer", protocol::RegistrationAnswerFromJson);
}

ApiAnswer<protocol::ClaimAnswer> ApiClient::Claim(int64_t workflow_id,
                                                  const protocol::ClaimRequest& m) {
  return Decoded<protocol::ClaimAnswer>(
      *this, Call("POST", WorkflowPath(workflow_id) + "/claim", protocol::ToJson(m)),
      "claim answer", protocol::ClaimAnswerFromJson);
}

ApiAnswer<protocol::StartAnswer> ApiClient::StartJobs(int64_t workflow_id,
                                                      const protocol::StartRequest& m) {
  return Decoded<protocol::StartAnswer>(
      *this, Call("POST", WorkflowPath(workflow_id) + "/start", protocol::ToJson(m)),
      "start answer", protocol::StartAnswerFromJson);
}

ApiAnswer<protocol::CompleteAnswer> ApiClient::CompleteJobs(int64_t workflow_id,
                                                            const protocol::CompleteRequest& m) {
  ApiResult r = Call("POST", WorkflowPath(workflow_id) + "/complete", protocol::ToJson(m));
  auto a = Decoded<protocol::CompleteAnswer>(*this, r, "complete answer",
                                             protocol::CompleteAnswerFromJson);
  // 409: the others were recorded; say which were not, and why, for the worker's log.
  if (r.status == 409 && r.body.is_object()) {
    try {
      for (const auto& x : protocol::CompleteAnswerFromJson(r.body).rejected)
        a.error += "; job " + std::to_string(x.id) + " attempt " + std::to_string(x.attempt) +
                   ": " + x.reason;
    } catch (const std::exception&) {  // no list: the error alone says enough
    }
  }
  return a;
}

ApiAnswer<protocol::HeartbeatAnswer> ApiClient::Heartbeat(int64_t workflow_id,
                                                          int64_t worker_id) {
  return Decoded<protocol::HeartbeatAnswer>(
      *this, Call("POST", WorkerPath(workflow_id, worker_id) + "/heartbeat"), "heartbeat answer",
      protocol::HeartbeatAnswerFromJson);
}

ApiAnswer<protocol::HeldJobs> ApiClient::HeldJobs(int64_t workflow_id, int64_t worker_id) {
  return Decoded<protocol::HeldJobs>(*this,
                                     Call("GET", WorkerPath(workflow_id, worker_id) + "/jobs"),
                                     "held jobs answer", protocol::HeldJobsFromJson);
}

ApiAnswer<Acknowledged> ApiClient::UnregisterWorker(int64_t workflow_id, int64_t worker_id,
                                                    const protocol::LeaveNotice& m) {
  return Decoded<Acknowledged>(
      *this, Call("DELETE", WorkerPath(workflow_id, worker_id), protocol::ToJson(m)),
      "unregister answer", AnyAnswer);
}

ApiAnswer<Acknowledged> ApiClient::Health() {
  return Decoded<Acknowledged>(*this, Call("GET", "/health"), "health answer", AnyAnswer);
}

std::string ApiClient::Describe(const ApiResult& r) const {
  if (r.status == 0)
    return "cannot reach server at " + url_ + ": " + r.error +
           " — is 'torc server run' running? (" + url_source_ + ")";
  if (r.status == 401) return "the server refused the access token: " + r.error;
  return r.error;
}

}  // namespace torc::server
