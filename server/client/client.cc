#include "server/client/client.h"

#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <exception>

#include "server/client/http_client.h"
#include "server/tls/tls.h"
#include "server/util/data_dir.h"
#include "server/util/small_files.h"

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
  c->data_dir_ = util::ResolveDataDir(options.data_dir);
  c->timeout_ = options.timeout;
  c->ca_file_ = options.ca_file;
  if (c->ca_file_.empty())
    if (const char* env = std::getenv("TORC_CA_FILE"); env && *env) c->ca_file_ = env;
  const std::string& dir = c->data_dir_;
  std::string url = options.url, url_source = "--url";
  if (url.empty()) {
    if (const char* env = std::getenv("TORC_API_URL"); env && *env) {
      url = env;
      url_source = "TORC_API_URL=" + url;
    }
  }
  if (url.empty()) {
    // Checked before it is trusted: the token goes wherever it points.
    if (!util::ReadServerUrl(dir, &url, error)) return nullptr;
    url_source = dir + "/server.url";
    c->follows_ = true;
  }
  if (url.empty()) {
    *error = "no torc server found: " + dir +
             "/server.url does not exist; start one with 'torc server run', or set TORC_API_URL";
    return nullptr;
  }
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
  c->endpoint_ = c->MakeEndpoint(url, url_source, error);
  if (!c->endpoint_) return nullptr;
  return c;
}

std::shared_ptr<const ApiClient::Endpoint> ApiClient::MakeEndpoint(const std::string& raw_url,
                                                                   const std::string& url_source,
                                                                   std::string* error) const {
  auto e = std::make_shared<Endpoint>();
  e->url = raw_url;
  while (!e->url.empty() && e->url.back() == '/') e->url.pop_back();
  e->url_source = url_source;
  TlsTrust trust;
  if (e->url.rfind("https://", 0) == 0) {
    if (!ca_file_.empty()) {
      std::string ignored;
      if (!util::ReadSmallFile(ca_file_, tls::kMaxPemFileBytes, "CA", &ignored, error)) {
        *error += " (--ca-file or TORC_CA_FILE)";
        return nullptr;
      }
      trust.ca_file = ca_file_;
    } else {
      const std::string path = data_dir_ + "/" + tls::kCertificateFile;
      std::string pem;
      if (access(path.c_str(), F_OK) != 0) {
        *error = "the server at " + e->url + " (" + url_source + ") speaks HTTPS, and there is " +
                 "no certificate to trust: " + path + " does not exist (the server writes it " +
                 "in its data directory); set TORC_DATA_DIR to the server's data directory, or " +
                 "TORC_CA_FILE to your site's CA certificates";
        return nullptr;
      }
      if (!util::ReadSmallFile(path, tls::kMaxPemFileBytes, "server certificate", &pem, error))
        return nullptr;
      if (!tls::PublicKeyFingerprint(pem, &trust.pinned_key, error)) {
        *error = "the server certificate " + path + " cannot be used: " + *error;
        return nullptr;
      }
      trust.pinned_from = path;
      e->pinned_key = trust.pinned_key;
    }
  }
  e->http = MakeHttpClient(e->url, token_, timeout_, trust);
  return e;
}

std::shared_ptr<const ApiClient::Endpoint> ApiClient::endpoint() const {
  std::lock_guard lock(mu_);
  return endpoint_;
}

std::string ApiClient::url() const { return endpoint()->url; }

void ApiClient::FollowServerUrl(const std::shared_ptr<const Endpoint>& failed) {
  std::string url, error;
  if (!util::ReadServerUrl(data_dir_, &url, &error) || url.empty()) return;
  while (!url.empty() && url.back() == '/') url.pop_back();
  std::string pinned;
  if (url.rfind("https://", 0) == 0 && ca_file_.empty()) {
    std::string pem;
    if (!util::ReadSmallFile(data_dir_ + "/" + tls::kCertificateFile, tls::kMaxPemFileBytes,
                             "server certificate", &pem, &error) ||
        !tls::PublicKeyFingerprint(pem, &pinned, &error))
      return;
  }
  if (url == failed->url && pinned == failed->pinned_key) return;
  auto next = MakeEndpoint(url, data_dir_ + "/server.url", &error);
  if (!next) return;
  std::lock_guard lock(mu_);
  if (endpoint_ == failed) endpoint_ = std::move(next);
}

std::unique_ptr<ApiClient> ApiClient::OverTransport(const std::string& url,
                                                    std::unique_ptr<HttpClient> http) {
  std::unique_ptr<ApiClient> c(new ApiClient());
  auto e = std::make_shared<Endpoint>();
  e->url = url;
  e->url_source = "a test transport";
  e->http = std::move(http);
  c->endpoint_ = std::move(e);
  return c;
}

std::unique_ptr<ApiClient> ApiClient::WithTimeout(std::chrono::milliseconds timeout) const {
  std::unique_ptr<ApiClient> c(new ApiClient());
  c->token_ = token_;
  c->data_dir_ = data_dir_;
  c->ca_file_ = ca_file_;
  c->follows_ = follows_;
  c->timeout_ = timeout;
  auto current = endpoint();
  auto e = std::make_shared<Endpoint>(*current);
  TlsTrust trust;
  if (!e->pinned_key.empty()) {
    trust.pinned_key = e->pinned_key;
    trust.pinned_from = data_dir_ + "/" + tls::kCertificateFile;
  } else if (e->url.rfind("https://", 0) == 0) {
    trust.ca_file = ca_file_;
  }
  e->http = MakeHttpClient(e->url, token_, timeout, trust);
  c->endpoint_ = std::move(e);
  return c;
}

ApiResult ApiClient::Call(const std::string& method, const std::string& path,
                          const nlohmann::json& body) {
  const std::shared_ptr<const Endpoint> e = endpoint();
  return Answer(e, e->http->Request(method, "/api/v1" + path,
                                    body.is_null() ? "" : body.dump()));
}

ApiResult ApiClient::Answer(const std::shared_ptr<const Endpoint>& e, const HttpResult& h) {
  ApiResult r;
  r.status = h.status;
  if (!h.transport_ok()) {
    r.error = h.error;
    r.untrusted = h.untrusted;
    // Not sent again here (it may have arrived): callers retry, and the retry goes where
    // server.url now says.
    if (follows_) FollowServerUrl(e);
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

ApiAnswer<Acknowledged> ApiClient::HealthWithin(std::chrono::milliseconds within) {
  const std::shared_ptr<const Endpoint> e = endpoint();
  return Decoded<Acknowledged>(*this, Answer(e, e->http->RequestWithin("GET", "/api/v1/health", within)),
                               "health answer", AnyAnswer);
}

std::string ApiClient::Describe(const ApiResult& r) const {
  if (r.status == 0) {
    const auto e = endpoint();
    if (r.untrusted)
      return "no trusted connection to " + e->url + ": " + r.error + " (" + e->url_source + ")";
    return "cannot reach server at " + e->url + ": " + r.error +
           " — is 'torc server run' running? (" + e->url_source + ")";
  }
  if (r.status == 401) return "the server refused the access token: " + r.error;
  return r.error;
}

}  // namespace torc::server
