#pragma once

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "aimc/common/enum_names.h"
#include "aimc/common/error.h"
#include "aimc/common/toml_reader.h"

namespace aimc {

/// How an option's value is written in a file and on a command line.
/// kDoubles: a list of numbers; kObject: a nested options struct (a JSON object, a TOML table);
/// kJson: any JSON value, stored as it is (not settable from TOML or a command line).
enum class FieldKind { kDouble, kInt, kString, kBool, kEnum, kDoubles, kObject, kJson };

/// One option of an options struct T, described once: its name (the JSON and TOML key and the
/// Python keyword; the command-line flag is --name with '-' for '_'), unit, help text, allowed
/// range and how it is written. A FieldTable<T> of them gives T's range checks, JSON and TOML
/// reading and writing, command-line flags and documentation, so that a new option is one entry.
template <typename T>
struct Field {
  std::string name;
  std::string unit;  // "ohm", "V", "s", "K"; empty for a count or a name
  std::string help;
  FieldKind kind = FieldKind::kDouble;
  std::vector<std::string> choices;  // kEnum: the names a file or flag may give
  /// Earlier command-line spellings (without the dashes) that still work and say which name
  /// replaced them.
  std::vector<std::string> aliases;
  /// Written to JSON only when it differs from T{}'s value, so that results keyed on the JSON
  /// of options that existed before this one keep their keys.
  bool omit_when_default = false;
  /// A TOML table must give it (ReadToml): "key 'x': missing, a number is required".
  bool required = false;
  /// Written to JSON only when this is false (e.g. a pair of keys written only together).
  std::function<bool(const T&)> omit;
  std::function<nlohmann::json(const T&)> get;
  /// Takes a value of the field's kind (a double, an integer, a string, a bool); throws
  /// aimc::Error when it does not fit the member's type.
  std::function<void(T&, const nlohmann::json&)> set;
  /// The range rule: empty when `value` is allowed, else what it must be ("must be > 0").
  std::function<std::string(const nlohmann::json&)> check;
  /// kObject: the nested table's Validate and ReadToml, its fields' names after `prefix`.
  std::function<void(const T&, const std::string& prefix)> validate;
  std::function<void(const TomlReader&, T&)> read_toml;

  std::string flag() const { return "--" + Kebab(name); }
  static std::string Kebab(std::string s) {
    std::replace(s.begin(), s.end(), '_', '-');
    return s;
  }
};

/// "a, b or c".
inline std::string OrList(const std::vector<std::string>& names) {
  if (names.size() <= 1) return names.empty() ? std::string() : names[0];
  std::vector<std::string> head(names.begin(), names.end() - 1);
  return fmt::format("{} or {}", fmt::join(head, ", "), names.back());
}

/// Range rules for Field::check (doubles must also be finite, which the table checks).
namespace range {
inline std::function<std::string(const nlohmann::json&)> Any() {
  return [](const nlohmann::json&) { return std::string(); };
}
inline std::function<std::string(const nlohmann::json&)> AtLeast(double low,
                                                                 std::string what = {}) {
  return [low, what](const nlohmann::json& v) {
    return v.get<double>() >= low ? std::string()
                                  : fmt::format("must be >= {}{}", low, what);
  };
}
inline std::function<std::string(const nlohmann::json&)> Above(double low, std::string what = {}) {
  return [low, what](const nlohmann::json& v) {
    return v.get<double>() > low ? std::string() : fmt::format("must be > {}{}", low, what);
  };
}
inline std::function<std::string(const nlohmann::json&)> Below(double high) {
  return [high](const nlohmann::json& v) {
    return v.get<double>() < high ? std::string() : fmt::format("must be < {}", high);
  };
}
/// [low, high] with the text of the rule as given ("in [1, 1000] K").
inline std::function<std::string(const nlohmann::json&)> Within(double low, double high,
                                                                std::string text) {
  return [low, high, text](const nlohmann::json& v) {
    const double x = v.get<double>();
    return x >= low && x <= high ? std::string() : "must be " + text;
  };
}
/// Every rule of `rules` in turn (the first broken one is reported).
inline std::function<std::string(const nlohmann::json&)> All(
    std::vector<std::function<std::string(const nlohmann::json&)>> rules) {
  return [rules](const nlohmann::json& v) {
    for (const auto& rule : rules)
      if (std::string broken = rule(v); !broken.empty()) return broken;
    return std::string();
  };
}
/// An integer in [low, high] ("must be in 1..10000").
inline std::function<std::string(const nlohmann::json&)> Between(std::int64_t low,
                                                                 std::int64_t high,
                                                                 std::string what = {}) {
  return [low, high, what](const nlohmann::json& v) {
    const double x = v.get<double>();
    return x >= static_cast<double>(low) && x <= static_cast<double>(high)
               ? std::string()
               : fmt::format("must be in {}..{}{}", low, high, what);
  };
}
}  // namespace range

template <typename T>
class FieldTable {
 public:
  using Check = std::function<std::string(const nlohmann::json&)>;

  /// A double member, reached through `ref` (which may reach into a nested struct).
  FieldTable& Double(std::string name, std::string unit, std::string help,
                     std::function<double&(T&)> ref, Check check = range::Any()) {
    Field<T> f = Make(std::move(name), std::move(unit), std::move(help), FieldKind::kDouble,
                      std::move(check));
    f.get = [ref](const T& t) { return nlohmann::json(ref(const_cast<T&>(t))); };
    f.set = [ref](T& t, const nlohmann::json& v) { ref(t) = v.get<double>(); };
    return Add(std::move(f));
  }
  /// An integer member of type I (int, std::int64_t, std::uint64_t).
  template <typename I>
  FieldTable& Integer(std::string name, std::string unit, std::string help,
                      std::function<I&(T&)> ref, Check check = range::Any()) {
    Field<T> f = Make(std::move(name), std::move(unit), std::move(help), FieldKind::kInt,
                      std::move(check));
    f.get = [ref](const T& t) { return nlohmann::json(ref(const_cast<T&>(t))); };
    const std::string field = f.name;
    f.set = [ref, field](T& t, const nlohmann::json& v) {
      if (v.is_number_unsigned()) {
        const auto u = v.get<std::uint64_t>();
        Require(u <= static_cast<std::uint64_t>(std::numeric_limits<I>::max()),
                "{} = {} does not fit {}", field, u, TypeName<I>());
        ref(t) = static_cast<I>(u);
        return;
      }
      const auto s = v.get<std::int64_t>();
      Require(s >= 0 || std::numeric_limits<I>::is_signed, "{} must be >= 0, got {}", field, s);
      Require(std::cmp_greater_equal(s, std::numeric_limits<I>::min()) &&
                  std::cmp_less_equal(s, std::numeric_limits<I>::max()),
              "{} = {} does not fit {}", field, s, TypeName<I>());
      ref(t) = static_cast<I>(s);
    };
    return Add(std::move(f));
  }
  FieldTable& String(std::string name, std::string help, std::function<std::string&(T&)> ref,
                     Check check = range::Any()) {
    Field<T> f = Make(std::move(name), "", std::move(help), FieldKind::kString, std::move(check));
    f.get = [ref](const T& t) { return nlohmann::json(ref(const_cast<T&>(t))); };
    f.set = [ref](T& t, const nlohmann::json& v) { ref(t) = v.get<std::string>(); };
    return Add(std::move(f));
  }
  /// A path member, written as its text.
  FieldTable& Path(std::string name, std::string help,
                   std::function<std::filesystem::path&(T&)> ref) {
    Field<T> f = Make(std::move(name), "", std::move(help), FieldKind::kString, range::Any());
    f.get = [ref](const T& t) { return nlohmann::json(ref(const_cast<T&>(t)).string()); };
    f.set = [ref](T& t, const nlohmann::json& v) { ref(t) = v.get<std::string>(); };
    return Add(std::move(f));
  }
  /// A list of doubles; `check` applies to every element, and the list may not be empty.
  FieldTable& Doubles(std::string name, std::string unit, std::string help,
                      std::function<std::vector<double>&(T&)> ref, Check check = range::Any()) {
    Field<T> f = Make(std::move(name), std::move(unit), std::move(help), FieldKind::kDoubles,
                      [check](const nlohmann::json& v) {
                        if (v.empty()) return std::string("must have at least one value");
                        for (const auto& x : v) {
                          if (!std::isfinite(x.get<double>()))
                            return std::string("must hold finite numbers only");
                          if (std::string broken = check(x); !broken.empty())
                            return "values " + broken;
                        }
                        return std::string();
                      });
    f.get = [ref](const T& t) { return nlohmann::json(ref(const_cast<T&>(t))); };
    f.set = [ref](T& t, const nlohmann::json& v) { ref(t) = v.get<std::vector<double>>(); };
    return Add(std::move(f));
  }
  /// Any JSON value, kept as it is (the struct's own Validate checks it).
  FieldTable& Json(std::string name, std::string help, std::function<nlohmann::json&(T&)> ref) {
    Field<T> f = Make(std::move(name), "", std::move(help), FieldKind::kJson, range::Any());
    f.get = [ref](const T& t) { return ref(const_cast<T&>(t)); };
    f.set = [ref](T& t, const nlohmann::json& v) { ref(t) = v; };
    return Add(std::move(f));
  }
  /// A member of any other type, written and read by `get` and `set` as JSON of `kind`.
  FieldTable& Custom(std::string name, std::string unit, std::string help, FieldKind kind,
                     std::function<nlohmann::json(const T&)> get,
                     std::function<void(T&, const nlohmann::json&)> set) {
    Field<T> f = Make(std::move(name), std::move(unit), std::move(help), kind, range::Any());
    f.get = std::move(get);
    f.set = std::move(set);
    return Add(std::move(f));
  }
  /// A nested options struct N under its own key: a JSON object, a TOML table, and its fields'
  /// names in messages after "name." ("dac.area_um2 must be ...").
  template <typename N>
  FieldTable& Sub(std::string name, std::string help, const FieldTable<N>& nested,
                  std::function<N&(T&)> ref) {
    Field<T> f = Make(std::move(name), "", std::move(help), FieldKind::kObject, range::Any());
    const std::string key = f.name;
    f.get = [ref, &nested](const T& t) { return nested.ToJson(ref(const_cast<T&>(t))); };
    f.set = [ref, &nested, key](T& t, const nlohmann::json& v) {
      nested.FromJson(v, ref(t), key + ": ");
    };
    f.validate = [ref, &nested, key](const T& t, const std::string& prefix) {
      nested.Validate(ref(const_cast<T&>(t)), prefix + key + ".");
    };
    f.read_toml = [ref, &nested, key](const TomlReader& table, T& t) {
      nested.ReadToml(table.Table(key), ref(t));
    };
    return Add(std::move(f));
  }
  FieldTable& Bool(std::string name, std::string help, std::function<bool&(T&)> ref) {
    Field<T> f = Make(std::move(name), "", std::move(help), FieldKind::kBool, range::Any());
    f.get = [ref](const T& t) { return nlohmann::json(ref(const_cast<T&>(t))); };
    f.set = [ref](T& t, const nlohmann::json& v) { ref(t) = v.get<bool>(); };
    return Add(std::move(f));
  }
  /// An enum member E, written as its name (EnumNames<E>, which must outlive the table: the
  /// enums' tables are static).
  template <typename E>
  FieldTable& Enum(std::string name, std::string help, const EnumNames<E>& names,
                   std::function<E&(T&)> ref) {
    Field<T> f = Make(std::move(name), "", std::move(help), FieldKind::kEnum, range::Any());
    f.choices = names.Names();
    f.get = [ref, &names](const T& t) {
      return nlohmann::json(names.Name(ref(const_cast<T&>(t))));
    };
    const std::string field = f.name;
    f.set = [ref, &names, field](T& t, const nlohmann::json& v) {
      const std::string s = v.get<std::string>();
      const std::vector<std::string> choices = names.Names();
      Require(std::find(choices.begin(), choices.end(), s) != choices.end(),
              "{} must be {}, got '{}'", field, names.List(), s);
      ref(t) = names.Parse(s);
    };
    return Add(std::move(f));
  }
  /// The fields of a nested options struct N (reached by `ref`), as fields of T.
  template <typename N>
  FieldTable& Nest(const FieldTable<N>& nested, std::function<N&(T&)> ref) {
    for (const Field<N>& n : nested.fields()) {
      Field<T> f;
      f.name = n.name;
      f.unit = n.unit;
      f.help = n.help;
      f.kind = n.kind;
      f.choices = n.choices;
      f.aliases = n.aliases;
      f.omit_when_default = n.omit_when_default;
      f.required = n.required;
      if (n.omit) f.omit = [ref, omit = n.omit](const T& t) { return omit(ref(const_cast<T&>(t))); };
      if (n.validate)
        f.validate = [ref, validate = n.validate](const T& t, const std::string& prefix) {
          validate(ref(const_cast<T&>(t)), prefix);
        };
      if (n.read_toml)
        f.read_toml = [ref, read = n.read_toml](const TomlReader& table, T& t) {
          read(table, ref(t));
        };
      f.check = n.check;
      f.get = [ref, get = n.get](const T& t) { return get(ref(const_cast<T&>(t))); };
      f.set = [ref, set = n.set](T& t, const nlohmann::json& v) { set(ref(t), v); };
      Add(std::move(f));
    }
    return *this;
  }
  /// Modifiers of the field added last.
  FieldTable& Alias(std::string old_flag) {
    fields_.back().aliases.push_back(std::move(old_flag));
    return *this;
  }
  FieldTable& OmitWhenDefault() {
    fields_.back().omit_when_default = true;
    return *this;
  }
  FieldTable& Required() {
    fields_.back().required = true;
    return *this;
  }
  FieldTable& OmitWhen(std::function<bool(const T&)> omit) {
    fields_.back().omit = std::move(omit);
    return *this;
  }

  const std::vector<Field<T>>& fields() const { return fields_; }
  bool Has(const std::string& name) const { return Find(name) != nullptr; }
  const Field<T>& at(const std::string& name) const {
    const Field<T>* f = Find(name);
    Require(f != nullptr, "no option named '{}' (options: {})", name, Names());
    return *f;
  }
  std::string Names() const {
    std::vector<std::string> names;
    for (const auto& f : fields_) names.push_back(f.name);
    return fmt::format("{}", fmt::join(names, ", "));
  }

  /// Throws aimc::Error for the first field out of its range: "read_voltage_v must be > 0, got
  /// -1" (the name after `prefix`). Pure: reads no file.
  void Validate(const T& t, const std::string& prefix = {}) const {
    for (const Field<T>& f : fields_) {
      if (f.validate) {
        f.validate(t, prefix);
        continue;
      }
      const nlohmann::json v = f.get(t);
      if (f.kind == FieldKind::kDouble)
        Require(std::isfinite(v.get<double>()), "{}{} must be a finite number, got {}", prefix,
                f.name, v.get<double>());
      const std::string rule = f.check(v);
      Require(rule.empty(), "{}{} {}, got {}", prefix, f.name, rule, Show(v));
    }
  }
  /// Every field (those marked omit_when_default only where they differ from T{}).
  nlohmann::json ToJson(const T& t) const {
    const T defaults{};
    nlohmann::json j = nlohmann::json::object();
    for (const Field<T>& f : fields_) {
      const nlohmann::json v = f.get(t);
      if (f.omit_when_default && v == f.get(defaults)) continue;
      if (f.omit && f.omit(t)) continue;
      j[f.name] = v;
    }
    return j;
  }
  /// Reads the fields `j` states onto `t` (the rest keep their values); an unknown key or a
  /// value of the wrong type is an error naming it.
  /// `what` starts every message ("training options: ").
  void FromJson(const nlohmann::json& j, T& t, const std::string& what = {}) const {
    Require(j.is_object(), "{}expected a JSON object of options, got {}", what, j.dump());
    for (const auto& [key, value] : j.items()) {
      const Field<T>* f = Find(key);
      Require(f != nullptr, "{}unknown option '{}' (options: {})", what, key, Names());
      try {
        SetValue(t, *f, value);
      } catch (const Error& e) {
        if (what.empty()) throw;
        Fail("{}{}", what, e.what());
      }
    }
  }
  /// Sets one field from a JSON value of any number type (Python and JSON hand them so).
  void SetValue(T& t, const Field<T>& f, const nlohmann::json& value) const {
    const bool ok = (f.kind == FieldKind::kDouble && value.is_number()) ||
                    (f.kind == FieldKind::kInt && value.is_number_integer()) ||
                    ((f.kind == FieldKind::kString || f.kind == FieldKind::kEnum) &&
                     value.is_string()) ||
                    (f.kind == FieldKind::kBool && value.is_boolean()) ||
                    (f.kind == FieldKind::kDoubles && value.is_array() &&
                     std::all_of(value.begin(), value.end(),
                                 [](const nlohmann::json& x) { return x.is_number(); })) ||
                    (f.kind == FieldKind::kObject && value.is_object()) ||
                    f.kind == FieldKind::kJson;
    Require(ok, "{} must be {}, got {}", f.name, KindName(f.kind), value.dump());
    f.set(t, f.kind == FieldKind::kDouble ? nlohmann::json(value.get<double>()) : value);
  }
  /// Reads the keys of `table` that name fields (all of them, or those in `only`); the reader
  /// records them as read, so that its RejectUnknown() names the rest. Errors name file and key.
  void ReadToml(const TomlReader& table, T& t, const std::vector<std::string>& only = {}) const {
    for (const Field<T>& f : fields_) {
      if (!only.empty() && std::find(only.begin(), only.end(), f.name) == only.end()) continue;
      if (!table.Has(f.name)) {
        Require(!f.required, "{}: missing, {} is required", table.Where(f.name),
                KindName(f.kind));
        continue;
      }
      if (f.read_toml) {
        f.read_toml(table, t);
        continue;
      }
      try {
        switch (f.kind) {
          case FieldKind::kDouble: f.set(t, table.Double(f.name)); break;
          case FieldKind::kInt: f.set(t, table.Int(f.name)); break;
          case FieldKind::kBool: f.set(t, table.Bool(f.name, false)); break;
          case FieldKind::kString:
          case FieldKind::kEnum: f.set(t, table.String(f.name)); break;
          case FieldKind::kDoubles: f.set(t, table.Doubles(f.name)); break;
          case FieldKind::kObject:
          case FieldKind::kJson: Fail("{} cannot be set in a TOML file", f.name);
        }
      } catch (const Error& e) {
        const std::string where = table.Where(f.name);
        const std::string message = e.what();
        if (message.find(table.source()) != std::string::npos) throw;
        Fail("{}: {}", where, message);
      }
    }
  }
  /// Sets a field from command-line text ("0.2", "1e3", "column"): the whole text must be a
  /// number of the field's kind.
  void SetFromText(T& t, const Field<T>& f, const std::string& text) const {
    switch (f.kind) {
      case FieldKind::kDouble: {
        char* end = nullptr;
        errno = 0;
        const double x = std::strtod(text.c_str(), &end);
        Require(!text.empty() && end == text.c_str() + text.size(),
                "{} must be a number, got '{}'", f.name, text);
        Require(std::isfinite(x) && errno != ERANGE, "{} must be a finite number, got '{}'",
                f.name, text);
        f.set(t, x);
        break;
      }
      case FieldKind::kInt: {
        char* end = nullptr;
        errno = 0;
        const bool negative = !text.empty() && text[0] == '-';
        Require(!text.empty() && text.find_first_not_of("+-0123456789") == std::string::npos,
                "{} must be an integer, got '{}'", f.name, text);
        if (negative) {
          const long long x = std::strtoll(text.c_str(), &end, 10);
          Require(end == text.c_str() + text.size(), "{} must be an integer, got '{}'", f.name,
                  text);
          Require(errno != ERANGE, "{} = {} does not fit a 64-bit integer", f.name, text);
          f.set(t, static_cast<std::int64_t>(x));
        } else {
          const unsigned long long x = std::strtoull(text.c_str(), &end, 10);
          Require(end == text.c_str() + text.size(), "{} must be an integer, got '{}'", f.name,
                  text);
          Require(errno != ERANGE, "{} = {} does not fit a 64-bit integer", f.name, text);
          f.set(t, static_cast<std::uint64_t>(x));
        }
        break;
      }
      case FieldKind::kBool:
        Require(text == "true" || text == "false", "{} must be true or false, got '{}'", f.name,
                text);
        f.set(t, text == "true");
        break;
      case FieldKind::kString:
      case FieldKind::kEnum: f.set(t, text); break;
      case FieldKind::kDoubles: {
        // "0.3,0.5,0.7": each a whole number.
        std::vector<double> values;
        std::size_t start = 0;
        while (start <= text.size()) {
          const std::size_t comma = std::min(text.find(',', start), text.size());
          const std::string item = text.substr(start, comma - start);
          char* end = nullptr;
          errno = 0;
          const double x = std::strtod(item.c_str(), &end);
          Require(!item.empty() && end == item.c_str() + item.size() && std::isfinite(x) &&
                      errno != ERANGE,
                  "{} must be finite numbers separated by commas, got '{}'", f.name, text);
          values.push_back(x);
          start = comma + 1;
        }
        f.set(t, nlohmann::json(values));
        break;
      }
      case FieldKind::kObject:
      case FieldKind::kJson: Fail("{} cannot be set on a command line", f.name);
    }
  }
  /// A Markdown table of the fields (all, or those in `only`): name, flag, unit, default, help.
  std::string Markdown(const std::vector<std::string>& only = {}) const {
    const T defaults{};
    std::string out = "| key | flag | unit | default | meaning |\n|---|---|---|---|---|\n";
    for (const Field<T>& f : fields_) {
      if (!only.empty() && std::find(only.begin(), only.end(), f.name) == only.end()) continue;
      std::string help = f.help;
      if (!f.choices.empty()) help += fmt::format(" ({})", fmt::join(f.choices, ", "));
      out += fmt::format("| `{}` | `{}` | {} | {} | {} |\n", f.name, f.flag(), f.unit,
                         Show(f.get(defaults)), help);
    }
    return out;
  }
  /// A value as a message shows it: numbers as they are, strings quoted.
  static std::string Show(const nlohmann::json& v) {
    if (v.is_string()) return fmt::format("'{}'", v.get<std::string>());
    if (v.is_number_float()) return fmt::format("{}", v.get<double>());
    return v.dump();
  }

 private:
  static Field<T> Make(std::string name, std::string unit, std::string help, FieldKind kind,
                       Check check) {
    Field<T> f;
    f.name = std::move(name);
    f.unit = std::move(unit);
    f.help = std::move(help);
    f.kind = kind;
    f.check = std::move(check);
    return f;
  }
  FieldTable& Add(Field<T> f) {
    Require(Find(f.name) == nullptr, "option '{}' is declared twice", f.name);
    fields_.push_back(std::move(f));
    return *this;
  }
  const Field<T>* Find(const std::string& name) const {
    for (const auto& f : fields_)
      if (f.name == name) return &f;
    return nullptr;
  }
  template <typename I>
  static const char* TypeName() {
    if constexpr (std::is_same_v<I, int>) return "a 32-bit int";
    if constexpr (std::is_same_v<I, std::uint64_t>) return "a 64-bit unsigned integer";
    return "a 64-bit integer";
  }
  static const char* KindName(FieldKind kind) {
    switch (kind) {
      case FieldKind::kDouble: return "a number";
      case FieldKind::kInt: return "an integer";
      case FieldKind::kBool: return "true or false";
      case FieldKind::kString:
      case FieldKind::kEnum: return "a string";
      case FieldKind::kDoubles: return "a list of numbers";
      case FieldKind::kObject: return "a table of options";
      case FieldKind::kJson: return "a JSON value";
    }
    return "a value";
  }

  std::vector<Field<T>> fields_;
};

}  // namespace aimc
