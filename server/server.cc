#include "server/server.h"

#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <sstream>
#include <thread>
#include <vector>

#include <unistd.h>

#include "server/action_runner.h"
#include "server/advertise.h"
#include "server/api/api.h"
#include "server/util/clock.h"
#include "server/util/data_dir.h"
#include "server/tls/tls.h"
#include "server/util/small_files.h"
#include "server/http/http.h"
#include "server/users.h"
#include "server/api/metrics.h"

namespace torc::server {
namespace {

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop = true; }

double Now() { return util::WallClockNow(); }

int PortFromUrl(const std::string& url) {
  size_t colon = url.rfind(':');
  if (colon == std::string::npos || url.find(']', colon) != std::string::npos) return -1;
  try {
    return std::stoi(url.substr(colon + 1));
  } catch (...) {
    return -1;
  }
}

/// The users file of a multi-user server, created empty (0600) if absent.
bool OpenUsers(const std::string& dir, std::shared_ptr<UserDirectory>* users, std::string* error) {
  std::string path = dir + "/users";
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) close(fd);
  *users = std::make_shared<UserDirectory>(path);
  return (*users)->Load(error);
}

/// The name of the Unix user the server runs as.
std::string ServerUserName() {
  struct passwd* pw = getpwuid(geteuid());
  return pw ? pw->pw_name : std::to_string(geteuid());
}

/// Whether the server serves HTTPS; false with *error for flags that contradict each other.
bool UsesTls(const ServerOptions& options, bool* tls, std::string* error) {
  const bool site = !options.tls_cert.empty() || !options.tls_key.empty();
  if (site && (options.tls_cert.empty() || options.tls_key.empty())) {
    *error = "--tls-cert and --tls-key go together (the certificate and its key)";
    return false;
  }
  if (options.tls == ServerOptions::Tls::kOff) {
    if (site) {
      *error = "--no-tls contradicts --tls-cert/--tls-key";
      return false;
    }
    if (!IsLoopbackHost(options.host)) {
      *error = "--no-tls serves plain HTTP, and on --host " + options.host +
               " the access token and every workflow would cross the network in clear text; " +
               "--no-tls is for a server that listens on loopback only (--host 127.0.0.1). " +
               "Leave it out: the server then serves HTTPS, and clients trust its certificate " +
               "from the data directory (docs/security.md)";
      return false;
    }
    *tls = false;
    return true;
  }
  *tls = site || options.tls == ServerOptions::Tls::kOn || !IsLoopbackHost(options.host);
  return true;
}

/// Refuses, before anything is opened, what the server could not listen on or advertise.
bool CheckListenOptions(const ServerOptions& options, bool* tls) {
  if (options.host.find(':') != std::string::npos) {
    std::fprintf(stderr,
                 "torc server: --host '%s': IPv6 addresses are not supported (the HTTP transport "
                 "cannot listen on them); use 0.0.0.0, or an IPv4 address of this host\n",
                 options.host.c_str());
    return false;
  }
  std::string url, note, error;
  if (!UsesTls(options, tls, &error) ||
      !AdvertisedUrl(options.host, 1, options.advertise_url, HostFacts{}, &url, &note, &error,
                     *tls)) {
    std::fprintf(stderr, "torc server: %s\n", error.c_str());
    return false;
  }
  return true;
}

/// Every name and address clients may use for this server: the advertised host, the host
/// listened on, this host's names and addresses, and loopback.
std::vector<std::string> CertificateNames(const ServerOptions& options, const HostFacts& facts) {
  std::vector<std::string> names;
  std::string url, note, error;
  if (AdvertisedUrl(options.host, 1, options.advertise_url, facts, &url, &note, &error, true))
    names.push_back(UrlHost(url));
  if (!IsWildcardHost(options.host)) names.push_back(options.host);
  if (!facts.fqdn.empty()) {
    names.push_back(facts.fqdn);
    names.push_back(facts.fqdn.substr(0, facts.fqdn.find('.')));
  }
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) == 0 && host[0] != '\0') names.push_back(host);
  for (const auto& a : facts.fqdn_addresses) names.push_back(a);
  for (const auto& a : facts.interface_addresses) names.push_back(a);
  for (const char* loopback : {"localhost", "127.0.0.1", "::1"}) names.push_back(loopback);
  return names;
}

/// Sets up HTTPS in `http`: the site's certificate, or the data directory's self-signed one
/// (made or named anew as needed). False after printing why not.
bool PrepareTls(const ServerOptions& options, const std::string& dir, const HostFacts& facts,
                HttpServerOptions* http) {
  std::string error, note;
  if (!options.tls_cert.empty()) {
    if (!tls::InstallSiteCertificate(dir, options.tls_cert, options.tls_key, &error)) {
      std::fprintf(stderr, "torc server: %s\n", error.c_str());
      return false;
    }
    http->tls_cert_file = options.tls_cert;
    http->tls_key_file = options.tls_key;
    return true;
  }
  if (!tls::EnsureSelfSignedCertificate(dir, CertificateNames(options, facts), &note, &error)) {
    std::fprintf(stderr, "torc server: %s\n", error.c_str());
    return false;
  }
  if (!note.empty()) std::fprintf(stderr, "torc server: %s\n", note.c_str());
  http->tls_cert_file = dir + "/" + tls::kCertificateFile;
  http->tls_key_file = dir + "/" + tls::kKeyFile;
  return true;
}

/// Creates the data directory if needed (refusing one that others may write in), reads (or
/// creates) the token and, for a multi-user server, the users file, and takes others' access
/// away from the server's files. False after printing why not.
bool PrepareDataDir(const std::string& dir, bool multi_user, std::string* token,
                    std::shared_ptr<UserDirectory>* users) {
  std::string error, note;
  if (!util::EnsureDataDir(dir, &error)) {
    std::fprintf(stderr, "torc server: %s\n", error.c_str());
    return false;
  }
  if (!util::LoadOrCreateToken(dir, token, &error, &note)) {
    std::fprintf(stderr, "torc server: %s\n", error.c_str());
    return false;
  }
  if (!note.empty()) std::fprintf(stderr, "torc server: %s\n", note.c_str());
  for (const std::string& change : util::MakeDataFilesPrivate(dir))
    std::fprintf(stderr, "torc server: %s\n", change.c_str());
  if (multi_user && !OpenUsers(dir, users, &error)) {
    std::fprintf(stderr, "torc server: %s\n", error.c_str());
    return false;
  }
  return true;
}

/// Opens the database and loads every workflow from it; null after printing why not.
std::unique_ptr<Service> OpenService(const ServerOptions& options, const std::string& dir) {
  StoreStatus st;
  StoreOptions store_options = options.store;
  // Written only after a start got this far: an empty torc.db beside them was emptied.
  store_options.history_files = {dir + "/server.port", dir + "/server.url"};
  // A new database (and SQLite's journals, which take its mode) is private, whatever the
  // umask. No other thread runs yet.
  mode_t umask_before = umask(077);
  auto store = Store::Open(dir + "/torc.db", store_options, &st);
  umask(umask_before);
  if (!store) {
    std::fprintf(stderr, "torc server: cannot open %s/torc.db: %s\n", dir.c_str(),
                 st.message.c_str());
    return nullptr;
  }
  ServiceStatus ss;
  auto service = Service::Open(std::move(store), options.service, Now(), &ss);
  if (!service) {
    std::fprintf(stderr, "torc server: cannot load the workflows: %s\n", ss.message.c_str());
    return nullptr;
  }
  return service;
}

/// The port to listen on: the one asked for, else the one listened on last time.
int ListenPort(const ServerOptions& options, const std::string& dir) {
  if (options.port >= 0) return options.port;
  // Come back where the workers look for us: the port listened on last time (server.port;
  // the advertised URL may name a proxy's port), else the one in server.url.
  // Files that cannot be read (or trusted) are written anew once the server listens.
  int previous = -1;
  std::string text, url, ignored;
  if (util::ReadSmallFile(dir + "/server.port", util::kMaxAddressFileBytes, "server port", &text,
                          &ignored))
    std::istringstream(text) >> previous;
  if (previous <= 0 && util::ReadServerUrl(dir, &url, &ignored)) previous = PortFromUrl(url);
  return previous > 0 ? previous : 8080;
}

/// Chooses the URL compute nodes are told (a wildcard address is no address they can use).
/// False after printing why not.
bool ChooseAdvertisedUrl(const ServerOptions& options, int port, bool tls, const HostFacts& facts,
                         std::string* url) {
  std::string note, error;
  if (!AdvertisedUrl(options.host, port, options.advertise_url, facts, url, &note, &error,
                     tls)) {
    std::fprintf(stderr, "torc server: %s\n", error.c_str());
    return false;
  }
  if (!note.empty()) std::fprintf(stderr, "torc server: WARNING: %s\n", note.c_str());
  return true;
}

/// Records the URL and the port in the data directory, for clients and the next start. Each
/// file is replaced whole; a full disk does not stop the server: they are written when space
/// returns (tried every 2 s, and said on stderr).
std::unique_ptr<util::RetryingFileWriter> RecordAddress(const std::string& dir, int port,
                                                        const std::string& url) {
  return std::make_unique<util::RetryingFileWriter>(
      util::RetryingFileWriter::Files{{dir + "/server.port", std::to_string(port) + "\n"},
                                      {dir + "/server.url", url + "\n"}},
      std::chrono::seconds(2),
      [](const std::string& m) { std::fprintf(stderr, "torc server: %s\n", m.c_str()); });
}

/// What the action runner tells batch scripts (this binary, the URL, the data directory) and,
/// on a multi-user server, whose workflows it acts for.
ActionRunnerOptions RunnerOptions(const ServerOptions& options, const std::string& dir,
                                  const std::string& url) {
  char self[4096] = {};
  ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
  ActionRunnerOptions ro;
  ro.torc_binary = len > 0 ? std::string(self, static_cast<size_t>(len)) : "torc";
  ro.api_url = url;
  ro.data_dir = dir;
  if (options.multi_user) ro.only_owner = ServerUserName();
  return ro;
}

/// The lines `torc server run` prints on standard output once it is ready.
void PrintReady(const ServerOptions& options, int port, const std::string& url,
                const std::string& dir, const std::string& token) {
  std::string bound = options.host + ":" + std::to_string(port);
  if (url == "http://" + bound || url == "https://" + bound)
    std::printf("torc server listening on %s (data in %s)\n", url.c_str(), dir.c_str());
  else
    std::printf("torc server listening on %s, advertised as %s (data in %s)\n", bound.c_str(),
                url.c_str(), dir.c_str());
  // The fragment stays in the browser (docs/dashboard.md): the page reads the token from it.
  std::printf("dashboard: %s/#token=%s\n", url.c_str(), token.c_str());
  std::string pem, fingerprint, error;
  if (url.rfind("https://", 0) == 0 &&
      util::ReadSmallFile(dir + "/" + tls::kCertificateFile, tls::kMaxPemFileBytes, "certificate",
                          &pem, &error) &&
      tls::PublicKeyFingerprint(pem, &fingerprint, &error))
    std::printf("TLS key %s (certificate %s/%s)\n", fingerprint.c_str(), dir.c_str(),
                tls::kCertificateFile);
  std::fflush(stdout);
}

/// Runs the timers until SIGTERM or SIGINT: lease expiry on this thread, actions on their own.
void RunUntilSignaled(Service* service, ActionRunner* actions) {
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  // Actions (sbatch, run_commands) on their own thread: a slow command must
  // not hold up lease expiry.
  // It wakes at once when a commit makes an action due (a workflow's
  // on_workflow_start sbatch is submitted milliseconds after `torc submit`),
  // and polls every 200 ms for the slow timers (squeue reconciliation).
  Wakeup wakeup;
  service->SetActionWakeup([&wakeup] { wakeup.Notify(); });
  std::thread action_thread([&] {
    while (!g_stop) {
      actions->Tick(Now());
      wakeup.Wait(std::chrono::milliseconds(200));
    }
  });
  while (!g_stop) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    service->ExpireAll(Now());
  }
  wakeup.Close();
  action_thread.join();
  service->SetActionWakeup(nullptr);
}

}  // namespace

int RunServer(const ServerOptions& options) {
  std::string dir = util::ResolveDataDir(options.data_dir), error;
  bool tls = false;
  if (!CheckListenOptions(options, &tls)) return 1;
  std::string token;
  std::shared_ptr<UserDirectory> users;
  // A file size limit (ulimit -f) must give a full-disk 503, not kill the server.
  signal(SIGXFSZ, SIG_IGN);
  if (!PrepareDataDir(dir, options.multi_user, &token, &users)) return 1;
  std::unique_ptr<Service> service = OpenService(options, dir);
  if (!service) return 1;
  HttpServerOptions http;
  http.host = options.host;
  http.max_body_bytes = options.max_body_bytes;
  http.max_header_bytes = options.max_header_bytes;
  http.max_connections_per_client = options.max_connections_per_client;
  http.port = ListenPort(options, dir);
  const HostFacts facts = ReadHostFacts();
  if (tls && !PrepareTls(options, dir, facts, &http)) return 1;
  if (!IsLoopbackHost(options.host))
    std::fprintf(stderr,
                 "torc server: listening on %s, not loopback: other machines can reach the API "
                 "(over HTTPS; the token guards it)\n",
                 options.host.c_str());
  ServerMetrics metrics(Now());
  service->SetCommitObserver([&metrics](const ChangeBatch& b) { metrics.ObserveBatch(b); });
  ApiOptions api{token, Now, &metrics};
  api.users = users;
  auto server = StartHttpServer(http, MakeApiHandler(service.get(), api), &error);
  if (!server) {
    std::fprintf(stderr, "torc server: cannot listen on %s:%d: %s\n", options.host.c_str(),
                 http.port, error.c_str());
    return 1;
  }
  // Claims held waiting (docs/api.md, wait_seconds) are answered as soon as a job is ready.
  HttpServer* held = server.get();
  service->SetClaimWakeup([held] { held->WakeWaiting(); });
  std::string url;
  if (!ChooseAdvertisedUrl(options, server->port(), tls, facts, &url)) {
    service->SetClaimWakeup(nullptr);
    return 1;
  }
  auto address_files = RecordAddress(dir, server->port(), url);
  SlurmClient slurm(SlurmPaths::FromEnvironment(), SbatchRetry{}, [](const std::string& m) {
    std::fprintf(stderr, "torc server: %s\n", m.c_str());
  });
  ActionRunner actions(service.get(), std::move(slurm), RunnerOptions(options, dir, url));
  PrintReady(options, server->port(), url, dir, token);
  RunUntilSignaled(service.get(), &actions);
  server->Stop();
  service->SetClaimWakeup(nullptr);
  std::fprintf(stderr, "torc server: stopped\n");
  return 0;
}

}  // namespace torc::server
