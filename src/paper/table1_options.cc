#include "aimc/paper/table1.h"

#include <nlohmann/json.hpp>

#include <cmath>

#include "aimc/common/error.h"
#include "aimc/device/card.h"
#include "aimc/common/toml_reader.h"

namespace aimc::paper {

Table1Options::Table1Options() : cards(device::PresetCardNames()) {}

void Table1Options::Validate() const {
  Require(!cards.empty(), "cards: the list has no cards");
  Require(std::isfinite(error_budget_pct) && error_budget_pct > 0,
          "error_budget_pct must be > 0, got {}", error_budget_pct);
  Require(std::isfinite(sigma_train) && sigma_train >= 0 && sigma_train < 2,
          "sigma_train must be in [0, 2), got {}", sigma_train);
  Require(std::isfinite(sigma_w_max) && sigma_w_max > 0 && sigma_w_max < 2,
          "sigma_w_max must be in (0, 2), got {}", sigma_w_max);
  Require(std::isfinite(wire_scale) && wire_scale >= 0, "wire_scale must be >= 0, got {}",
          wire_scale);
  Require(std::isfinite(r_on_min_ohm) && r_on_min_ohm > 0, "r_on_min_ohm must be > 0, got {}",
          r_on_min_ohm);
  Require(std::isfinite(r_on_max_ohm) && r_on_max_ohm > r_on_min_ohm,
          "r_on_max_ohm must be > r_on_min_ohm ({}), got {}", r_on_min_ohm, r_on_max_ohm);
  Require(std::isnan(tmr) || (std::isfinite(tmr) && tmr > 0), "tmr must be > 0, got {}", tmr);
  Require(bisection_steps >= 1 && bisection_steps <= 30, "bisection_steps must be in 1..30, got {}",
          bisection_steps);
  Require(chips >= 1, "chips must be >= 1, got {}", chips);
  Require(std::isfinite(max_write_voltage_v) && max_write_voltage_v > 0,
          "max_write_voltage_v must be > 0, got {}", max_write_voltage_v);
  Require(std::isfinite(read_voltage_v) && read_voltage_v > 0 && read_voltage_v <= 10,
          "read_voltage_v must be in (0, 10] V, got {}", read_voltage_v);
  Require(std::isfinite(lifetime_s) && lifetime_s > 0 && lifetime_s <= 3.2e10,
          "lifetime_s must be in (0, 3.2e10] s, got {}", lifetime_s);
  Require(std::isfinite(hot_temperature_c) && hot_temperature_c >= -272 &&
              hot_temperature_c <= 726,
          "hot_temperature_c must be in [-272, 726] C, got {}", hot_temperature_c);
  Require(spread_pairs >= 100 && spread_pairs <= 100000000,
          "spread_pairs must be in 100..1e8, got {}", spread_pairs);
}

nlohmann::json Table1Options::ToJson() const {
  return {{"cards", cards},
          {"error_budget_pct", error_budget_pct},
          {"sigma_train", sigma_train},
          {"sigma_w_max", sigma_w_max},
          {"wire_scale", wire_scale},
          {"r_on_min_ohm", r_on_min_ohm},
          {"r_on_max_ohm", r_on_max_ohm},
          {"tmr", std::isnan(tmr) ? nlohmann::json(nullptr) : nlohmann::json(tmr)},
          {"bisection_steps", bisection_steps},
          {"chips", chips},
          {"max_write_voltage_v", max_write_voltage_v},
          {"read_voltage_v", read_voltage_v},
          {"lifetime_s", lifetime_s},
          {"hot_temperature_c", hot_temperature_c},
          {"spread_pairs", spread_pairs}};
}

Table1Options LoadTable1Options(const std::filesystem::path& path) {
  const TomlReader t = TomlReader::FromFile(path);
  Table1Options o;
  try {
    if (t.Has("cards")) o.cards = t.Strings("cards");
    o.error_budget_pct = t.Double("error_budget_pct", o.error_budget_pct);
    o.sigma_train = t.Double("sigma_train", o.sigma_train);
    o.sigma_w_max = t.Double("sigma_w_max", o.sigma_w_max);
    o.wire_scale = t.Double("wire_scale", o.wire_scale);
    o.r_on_min_ohm = t.Double("r_on_min_ohm", o.r_on_min_ohm);
    o.r_on_max_ohm = t.Double("r_on_max_ohm", o.r_on_max_ohm);
    if (t.Has("tmr")) o.tmr = t.Double("tmr");
    o.bisection_steps = t.Integer<int>("bisection_steps", o.bisection_steps);
    o.chips = t.Integer<int>("chips", o.chips);
    o.max_write_voltage_v = t.Double("max_write_voltage_v", o.max_write_voltage_v);
    o.read_voltage_v = t.Double("read_voltage_v", o.read_voltage_v);
    o.lifetime_s = t.Double("lifetime_s", o.lifetime_s);
    o.hot_temperature_c = t.Double("hot_temperature_c", o.hot_temperature_c);
    o.spread_pairs = t.Integer<std::int64_t>("spread_pairs", o.spread_pairs);
    t.RejectUnknown();
    o.Validate();
  } catch (const Error& e) {
    RethrowNamingFile(e, path.string());
  }
  return o;
}

}  // namespace aimc::paper
