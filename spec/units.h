// Parsers for the quantities a workflow file writes as strings: memory sizes,
// ISO-8601 durations and Slurm walltimes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace torc::spec {

/// "512m", "32g", "1.5G", "100k", "2t", "1024" (bytes). Units are binary
/// (k = 1024) and case-insensitive; a trailing "b"/"ib" is accepted ("4GB", "4GiB").
/// Returns false and sets *error on bad input.
bool ParseMemory(std::string_view text, int64_t* bytes, std::string* error);

/// ISO-8601 durations: "PT30M", "P0DT1M", "P1DT2H", "PT1H30M", "PT0.5S", "P2W".
/// Years and months are refused (their length is ambiguous).
bool ParseIsoDuration(std::string_view text, int64_t* seconds, std::string* error);

/// Slurm's --time forms: "MM", "MM:SS", "HH:MM:SS", "D-HH", "D-HH:MM", "D-HH:MM:SS".
bool ParseSlurmWalltime(std::string_view text, int64_t* seconds, std::string* error);

/// Formats seconds back as Slurm's "D-HH:MM:SS" (or "HH:MM:SS" under a day).
std::string FormatSlurmWalltime(int64_t seconds);

}  // namespace torc::spec
