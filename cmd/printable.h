// How torc shows text that comes from users (workflow and job names, commands, failure
// reasons, server messages) in its human output: with control characters escaped, so that
// a name cannot clear the screen, set the terminal's title or cut a line (docs/cli.md,
// "Control characters in output"). --json output is exact: JSON escapes them itself.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace torc::cmd {

/// `text` with every control character escaped: `\n`, `\r`, `\t`, `\xHH` for the other C0
/// controls and DEL (`\x1b` for ESC, `\x00` for NUL), `\u0080`..`\u009f` for the C1 controls,
/// and `\xHH` for each byte that is not part of valid UTF-8. Everything else, backslashes
/// included, is kept, so Printable(Printable(s)) == Printable(s).
std::string Printable(std::string_view text);

/// A copy of `value` in which every string and object key is Printable: what a command's
/// human output prints from an API answer (its --json output prints the answer itself).
nlohmann::json PrintableCopy(const nlohmann::json& value);

}  // namespace torc::cmd
