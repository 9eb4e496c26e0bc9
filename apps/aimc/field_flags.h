#pragma once

// Command-line flags from an options struct's field table (aimc::FieldTable): one flag per field,
// --<prefix><name with '-' for '_'>, with the field's help, unit and the current value as its
// default; earlier spellings stay as hidden aliases that say which flag replaced them.

#include <algorithm>
#include <cstdlib>
#include <cctype>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "aimc/common/fields.h"
#include "aimc/common/rng.h"

namespace aimc::cli {

struct FieldFlagsOptions {
  std::string prefix;                // "ir-aware-": --ir-aware-wire-ohm
  std::string help_prefix;           // "With --card: "
  std::vector<std::string> only;     // these fields (empty: all)
  std::vector<std::string> exclude;  // not these
};

/// A flag's text as a number: the whole text must be one (range checks, such as a subnormal or a
/// nan, are the option's own).
inline double NumberFlag(const std::string& flag, const std::string& text) {
  char* end = nullptr;
  const double x = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size())
    throw Error(flag + " must be a number, got '" + text + "'");
  return x;
}

/// --seed into `seed` (which must outlive the command): the whole text an integer in
/// [0, 2^64 - 1] (ParseSeed); -1 or 2^64 is refused, not wrapped or saturated.
inline CLI::Option* AddSeedFlag(CLI::App* cmd, std::uint64_t& seed, const std::string& help) {
  return cmd
      ->add_option_function<std::string>(
          "--seed", [&seed](const std::string& text) { seed = ParseSeed(text, "--seed"); }, help)
      ->type_name("UINT")
      ->default_str(std::to_string(seed));
}

/// An earlier spelling of a flag: still taken, hidden from the help, and says which flag
/// replaced it (and, where the unit changed, `set` converts).
inline void AddRenamedFlag(CLI::App* cmd, const std::string& old_flag, const std::string& new_flag,
                           std::function<void(const std::string&)> set,
                           const std::string& note = "") {
  cmd->add_option_function<std::string>(
         old_flag,
         [old_flag, new_flag, note, set](const std::string& text) {
           spdlog::warn("{} is now {}{} (the old name still works)", old_flag, new_flag, note);
           set(text);
         },
         "Old name of " + new_flag)
      ->group("");  // hidden from the help
}

/// Registers the fields of `table` as flags of `cmd` that set `target` (which must outlive the
/// command). A bad value is refused while parsing, naming the flag.
template <typename T>
void AddFieldFlags(CLI::App* cmd, const FieldTable<T>& table, T& target,
                   const FieldFlagsOptions& options = {}) {
  for (const Field<T>& f : table.fields()) {
    const auto listed = [&f](const std::vector<std::string>& names) {
      return std::find(names.begin(), names.end(), f.name) != names.end();
    };
    if ((!options.only.empty() && !listed(options.only)) || listed(options.exclude)) continue;
    const std::string flag = "--" + options.prefix + Field<T>::Kebab(f.name);
    std::string help = f.help;
    if (!f.unit.empty()) help += fmt::format(" ({})", f.unit);
    if (!f.choices.empty()) help += ": " + OrList(f.choices);
    if (!options.help_prefix.empty()) {
      help[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(help[0])));
      help = options.help_prefix + help;
    } else {
      help[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(help[0])));
    }
    help += fmt::format(" [{}]", FieldTable<T>::Show(f.get(target)));
    const Field<T>* field = &f;  // the table is static: its fields outlive the command
    const auto set = [&table, &target, field, flag](const std::string& text) {
      try {
        table.SetFromText(target, *field, text);
      } catch (const Error& e) {
        // A user error like any other (exit 2), naming the flag.
        throw Error(fmt::format("{}: {}", flag, e.what()));
      }
    };
    if (f.kind == FieldKind::kBool) {
      cmd->add_flag_function(
          flag, [set](std::int64_t n) { set(n > 0 ? "true" : "false"); }, help);
    } else {
      cmd->add_option_function<std::string>(flag, set, help)->type_name(
          f.kind == FieldKind::kDouble || f.kind == FieldKind::kInt ? "NUMBER" : "TEXT");
    }
    for (const std::string& alias : f.aliases)
      AddRenamedFlag(cmd, "--" + options.prefix + alias, flag, set);
  }
}

}  // namespace aimc::cli
