# Writes OUTPUT, a C++ file defining torc::server::DashboardHtml() that returns
# the contents of INPUT (run as `cmake -DINPUT=... -DOUTPUT=... -P embed.cmake`).
file(READ "${INPUT}" content)
string(FIND "${content}" ")torc_web\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw string delimiter )torc_web\"")
endif()
file(WRITE "${OUTPUT}.tmp"
  "// Generated from server/api/web/dashboard.html by server/api/web/embed.cmake. Do not edit.\n"
  "#include \"server/api/web_assets.h\"\n\n"
  "namespace torc::server {\n\n"
  "const std::string& DashboardHtml() {\n"
  "  static const std::string kPage = R\"torc_web(${content})torc_web\";\n"
  "  return kPage;\n"
  "}\n\n"
  "}  // namespace torc::server\n")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
