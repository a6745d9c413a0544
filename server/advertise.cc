#include "server/advertise.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace torc::server {
namespace {

std::string AddressText(const sockaddr* sa) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (sa->sa_family == AF_INET)
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, buf, sizeof buf);
  else if (sa->sa_family == AF_INET6)
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, buf, sizeof buf);
  return buf;
}

bool IsIpv6(const std::string& host) { return host.find(':') != std::string::npos; }

/// Link-local addresses (169.254/16, fe80::/10) are not routed between machines.
bool IsLinkLocal(const std::string& a) {
  return a.rfind("169.254.", 0) == 0 || a.rfind("fe80:", 0) == 0 || a.rfind("FE80:", 0) == 0;
}

std::string HostForUrl(const std::string& host) {
  return IsIpv6(host) && host.front() != '[' ? "[" + host + "]" : host;
}

}  // namespace

HostFacts ReadHostFacts() {
  HostFacts f;
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) == 0 && name[0]) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_CANONNAME;
    addrinfo* res = nullptr;
    if (getaddrinfo(name, nullptr, &hints, &res) == 0) {
      f.fqdn = res->ai_canonname ? res->ai_canonname : name;
      for (addrinfo* a = res; a; a = a->ai_next) {
        std::string text = AddressText(a->ai_addr);
        if (!text.empty() &&
            std::find(f.fqdn_addresses.begin(), f.fqdn_addresses.end(), text) ==
                f.fqdn_addresses.end())
          f.fqdn_addresses.push_back(text);
      }
      freeaddrinfo(res);
    } else {
      f.fqdn = name;  // a name that does not resolve: no address, so it is never chosen
    }
  }
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) == 0) {
    for (ifaddrs* i = list; i; i = i->ifa_next) {
      if (!i->ifa_addr || !(i->ifa_flags & IFF_UP)) continue;
      std::string text = AddressText(i->ifa_addr);
      if (!text.empty()) f.interface_addresses.push_back(text);
    }
    freeifaddrs(list);
  }
  return f;
}

bool IsLoopbackHost(const std::string& host) {
  std::string h = host;
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  return h == "localhost" || h == "::1" || h.rfind("127.", 0) == 0 ||
         h.rfind("::ffff:127.", 0) == 0;
}

bool IsWildcardHost(const std::string& host) {
  return host.empty() || host == "0.0.0.0" || host == "::" || host == "[::]" || host == "*";
}

std::string UrlHost(const std::string& url) {
  size_t start = url.find("://");
  if (start == std::string::npos) return "";
  start += 3;
  size_t end = url.find('/', start);
  std::string authority = url.substr(start, end == std::string::npos ? end : end - start);
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    return close == std::string::npos ? "" : authority.substr(1, close - 1);
  }
  return authority.substr(0, authority.find(':'));
}

bool AdvertisedUrl(const std::string& host, int port, const std::string& advertise_url,
                   const HostFacts& facts, std::string* url, std::string* note,
                   std::string* error, bool tls) {
  note->clear();
  const std::string port_text = std::to_string(port);
  const std::string scheme = tls ? "https://" : "http://";
  if (!advertise_url.empty()) {
    std::string u = advertise_url;
    while (!u.empty() && u.back() == '/') u.pop_back();
    bool http = u.rfind("http://", 0) == 0, https = u.rfind("https://", 0) == 0;
    std::string authority = u.substr(u.find("://") == std::string::npos ? 0 : u.find("://") + 3);
    if ((!http && !https) || UrlHost(u).empty() || authority.find('/') != std::string::npos) {
      *error = "--advertise-url '" + advertise_url + "' is not a URL of the form " + scheme +
               "HOST[:PORT] (e.g. " + scheme + "login1.cluster:8080)";
      return false;
    }
    // (https:// in front of a plain server is a TLS proxy's address; clients then trust it
    // with TORC_CA_FILE.)
    if (tls && !https) {
      *error = "--advertise-url '" + advertise_url + "' says http://, but the server serves " +
               "HTTPS (TLS); write https://" + authority;
      return false;
    }
    // A port of its own: after the host, or after the closing bracket of an IPv6 literal.
    size_t bracket = authority.rfind(']');
    size_t colon = authority.rfind(':');
    bool has_port = colon != std::string::npos && (bracket == std::string::npos || colon > bracket);
    *url = has_port ? u : u + ":" + port_text;
    return true;
  }
  if (!IsWildcardHost(host)) {
    *url = scheme + HostForUrl(host) + ":" + port_text;
    return true;
  }
  const bool v4_only = host == "0.0.0.0" || host.empty() || host == "*";  // else "::"
  auto usable = [&](const std::string& a) {
    return !IsLoopbackHost(a) && !IsLinkLocal(a) && !(v4_only && IsIpv6(a));
  };
  for (const auto& a : facts.fqdn_addresses) {
    if (!facts.fqdn.empty() && usable(a)) {
      *url = scheme + facts.fqdn + ":" + port_text;
      *note = "listening on " + host + "; advertising " + *url + " (this host's name, which " +
              "resolves to " + a + "); if compute nodes cannot reach it, pass --advertise-url";
      return true;
    }
  }
  for (const auto& a : facts.interface_addresses) {
    if (usable(a)) {
      *url = scheme + HostForUrl(a) + ":" + port_text;
      *note = "listening on " + host + "; advertising " + *url + " (the first non-loopback " +
              "interface address; the host name '" + facts.fqdn + "' does not resolve to a " +
              "non-loopback address); if compute nodes cannot reach it, pass --advertise-url";
      return true;
    }
  }
  *url = scheme + "127.0.0.1:" + port_text;
  *note = "listening on " + host + " but this host has no non-loopback address: advertising " +
          *url + ", which other machines cannot use; pass --advertise-url";
  return true;
}

}  // namespace torc::server
