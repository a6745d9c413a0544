// The dashboard's static page, embedded in the binary at build time from
// server/api/web/dashboard.html (server/api/web/embed.cmake), so the server needs no
// files besides itself and the browser no network besides the server.
#pragma once

#include <string>

namespace torc::server {

/// The dashboard: one HTML page with its CSS and JavaScript inline. It holds no
/// data; it reads everything from the API with the token the user gives it.
const std::string& DashboardHtml();

}  // namespace torc::server
