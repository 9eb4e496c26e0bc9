#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace aimc {

/// Writes `key` into `j` only when `value` differs from `default_value`: the rule for an option
/// added after results were keyed on a struct's JSON (model hashes, study and sweep caches). At
/// its default the JSON, hence the key, is what it was before the option existed, so earlier
/// results stay valid. Field tables apply the same rule (Field::omit_when_default).
template <typename V>
void SetUnlessDefault(nlohmann::json& j, const std::string& key, const V& value,
                      const V& default_value) {
  if (!(value == default_value)) j[key] = value;
}

}  // namespace aimc
