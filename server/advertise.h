// The URL the server tells others to use (server.url, the batch scripts'
// TORC_API_URL, the "listening on" line). Listening on a wildcard address
// (0.0.0.0, ::) says nothing about how compute nodes reach this machine, so a
// name or address they can use is chosen here; docs/slurm.md explains the rule.
#pragma once

#include <string>
#include <vector>

namespace torc::server {

/// What the machine says about itself, read once at start (ReadHostFacts), so that the
/// choice below is a pure function tested with made-up facts.
struct HostFacts {
  std::string fqdn;                             // canonical name of gethostname(), "" if unknown
  std::vector<std::string> fqdn_addresses;      // what that name resolves to
  std::vector<std::string> interface_addresses; // every interface's address, in getifaddrs order
};

/// Reads the host name, resolves it, and lists the interfaces' addresses.
HostFacts ReadHostFacts();

/// True for 127.0.0.0/8, ::1, "localhost" and IPv4-mapped loopback.
bool IsLoopbackHost(const std::string& host);
/// True for 0.0.0.0, ::, "*" and "": listen on every interface.
bool IsWildcardHost(const std::string& host);

/// The advertised URL of a server listening on `host`:`port`.
/// - `advertise_url` given: that URL, with ":<port>" appended when it names no port;
///   an unusable one (not http(s)://HOST[:PORT][/]) is false with *error.
/// - `host` a wildcard: http://<fqdn>:port when the FQDN resolves to a non-loopback address,
///   else the first non-loopback interface address (IPv4 first for 0.0.0.0), else 127.0.0.1;
///   *note says which was chosen and why (the caller prints it as a warning).
/// - otherwise http://<host>:port (an IPv6 literal in brackets).
/// With `tls` every URL is https:// (an advertise_url saying http:// is refused).
bool AdvertisedUrl(const std::string& host, int port, const std::string& advertise_url,
                   const HostFacts& facts, std::string* url, std::string* note,
                   std::string* error, bool tls = false);

/// The host part of an http(s) URL ("" when it has none); brackets of an IPv6 literal removed.
std::string UrlHost(const std::string& url);

}  // namespace torc::server
