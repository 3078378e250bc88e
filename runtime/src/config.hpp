// Reading and checking attnrt_config: environment variables and values given
// in code. Every bad value is an error that names its variable.
#pragma once

#include <attnrt/attnrt.h>

#include <string>

namespace attnrt::rt {

// Fills `c` from the ATTNRT_* environment variables; throws Failure
// (ATTNRT_CONFIG_ERROR) naming the variable on a bad value.
void config_from_env(attnrt_config& c);

// Checks a config given in code (same rules, naming config fields).
void check_config(const attnrt_config& c);

// What an error about a setting should name: the environment variable when
// the value is the one it holds, else the config field (set in code).
const char* setting_name(const char* value, const char* env_var, const char* field);
const char* setting_name(int value, const char* env_var, const char* field);

// Parses a domain list ("0-3", "1,3", "0,2-3") into a bit mask; throws
// Failure naming `what` on bad syntax.
unsigned long long parse_domains(const char* what, const std::string& text);

}  // namespace attnrt::rt
