#include "aimc/device/two_state.h"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "aimc/common/csv.h"
#include "aimc/common/error.h"
#include "aimc/device/mtj.h"

namespace aimc::device {

const EnumNames<Spread>& SpreadNames() {
  static const EnumNames<Spread> names("spread", {{Spread::kNormal, "normal"},
                                                  {Spread::kLognormal, "lognormal"}});
  return names;
}

std::string ToString(Spread spread) { return SpreadNames().Name(spread); }

Spread ParseSpread(const std::string& name, const std::string& where) {
  return SpreadNames().Parse(name, where);
}

namespace {

void RequireDeviceOhm(double value, const char* field) {
  Require(value >= kMinDeviceOhm && value <= kMaxDeviceOhm,
          "{} must be within [{:g}, {:g}] ohm, got {}", field, kMinDeviceOhm, kMaxDeviceOhm, value);
}

}  // namespace

std::function<std::string(const nlohmann::json&)> DeviceOhmRule() {
  return range::Within(kMinDeviceOhm, kMaxDeviceOhm,
                       fmt::format("within [{:g}, {:g}] ohm", kMinDeviceOhm, kMaxDeviceOhm));
}

const FieldTable<TwoStateOptions>& TwoStateOptionsFields() {
  static const FieldTable<TwoStateOptions> table = [] {
    using O = TwoStateOptions;
    FieldTable<O> t;
    t.String("name", "the card's name", [](O& o) -> std::string& { return o.name; },
             [](const nlohmann::json& v) {
               return v.get<std::string>().empty() ? std::string("must not be empty")
                                                   : std::string();
             })
        .Required();
    // Where the numbers come from: shown with results, not part of what defines a device.
    t.String("source", "where the numbers come from",
             [](O& o) -> std::string& { return o.source; })
        .OmitWhen([](const O&) { return true; });
    t.Double("r_on_ohm", "ohm", "mean resistance of the ON (low-resistance) state",
             [](O& o) -> double& { return o.r_on_ohm; }, DeviceOhmRule())
        .Required();
    t.Double("on_off_ratio", "", "R_OFF / R_ON", [](O& o) -> double& { return o.on_off_ratio; },
             range::Above(1, " (ON conducts more than OFF)"))
        .Required();
    // The bound of a normal spread is tighter (TwoStateOptions::Validate).
    t.Double("cv_on", "", "coefficient of variation of the ON conductance",
             [](O& o) -> double& { return o.cv_on; }, range::Within(0, 10, "in [0, 10]"))
        .Required();
    t.Double("cv_off", "", "coefficient of variation of the OFF conductance",
             [](O& o) -> double& { return o.cv_off; }, range::Within(0, 10, "in [0, 10]"))
        .Required();
    t.Enum<Spread>("spread", "distribution of a state's conductance", SpreadNames(),
                   [](O& o) -> Spread& { return o.spread; });
    t.Double("write_voltage_v", "V", "programming voltage",
             [](O& o) -> double& { return o.write_voltage_v; }, range::Above(0))
        .Required();
    t.Double("r_on_min_ohm", "ohm", "lowest R_ON the technology makes (default: r_on_ohm)",
             [](O& o) -> double& { return o.r_on_min_ohm; }, DeviceOhmRule());
    t.Double("r_on_max_ohm", "ohm", "highest R_ON the technology makes (default: r_on_ohm)",
             [](O& o) -> double& { return o.r_on_max_ohm; }, DeviceOhmRule());
    // Two levels is the default: two-state cards keep the JSON (and the result caches keyed by
    // it).
    t.Integer<int>("levels", "", "conductance levels a device holds (2: ON and OFF)",
                   [](O& o) -> int& { return o.levels; },
                   range::Within(2, kMaxCardLevels, fmt::format("in [2, {}]", kMaxCardLevels)))
        .OmitWhenDefault();
    // false is the default, for the same reason.
    t.Bool("analog", "a device takes any conductance between OFF and ON (continuous weights)",
           [](O& o) -> bool& { return o.analog; })
        .OmitWhenDefault();
    return t;
  }();
  return table;
}

void TwoStateOptions::Validate() const {
  TwoStateOptionsFields().Validate(*this);
  Require(r_on_ohm * on_off_ratio <= kMaxDeviceOhm,
          "on_off_ratio x r_on_ohm (R_OFF) must be <= {:g} ohm, got {} x {} = {:g}", kMaxDeviceOhm,
          on_off_ratio, r_on_ohm, on_off_ratio * r_on_ohm);
  // A normal spread beyond 1/3 puts more than 0.1 % of devices at G <= 0, where the cut
  // distorts the moments; a lognormal has no such limit.
  const double cv_max = spread == Spread::kNormal ? 1.0 / 3.0 : 10.0;
  Require(cv_on <= cv_max, "cv_on must be in [0, {:.4g}] for a {} spread, got {}", cv_max,
          ToString(spread), cv_on);
  Require(cv_off <= cv_max, "cv_off must be in [0, {:.4g}] for a {} spread, got {}", cv_max,
          ToString(spread), cv_off);
  Require(r_on_min_ohm <= r_on_max_ohm, "r_on_min_ohm ({}) must be <= r_on_max_ohm ({})",
          r_on_min_ohm, r_on_max_ohm);
  Require(r_on_ohm >= r_on_min_ohm && r_on_ohm <= r_on_max_ohm,
          "r_on_ohm must lie in the card's own range [r_on_min_ohm, r_on_max_ohm] = [{}, {}], "
          "got {}",
          r_on_min_ohm, r_on_max_ohm, r_on_ohm);
}

TwoStateCard::TwoStateCard(TwoStateOptions options) : options_(std::move(options)) {
  options_.Validate();
}

namespace {

// Moments of G for a state of mean `mean` and relative spread `cv`: exact for the lognormal;
// for the normal cut at G > 0, from the truncated-normal moments.
ConductanceStats StateMoments(double mean, double cv, Spread spread) {
  if (spread == Spread::kLognormal || cv == 0.0) return {mean, cv * mean};
  double m[5];
  TruncatedNormalMoments(mean, cv * mean, m);
  return {m[1], std::sqrt(std::max(0.0, m[2] - m[1] * m[1]))};
}

}  // namespace

StateStats TwoStateCard::Stats() const {
  const double g_on = 1.0 / options_.r_on_ohm;
  return {StateMoments(g_on, options_.cv_on, options_.spread),
          StateMoments(g_on / options_.on_off_ratio, options_.cv_off, options_.spread)};
}

double TwoStateCard::SampleState(double mean_s, double cv, Rng& rng) const {
  if (options_.spread == Spread::kLognormal) {
    // ln G ~ N(m, s^2) with E[G] = mean and sigma/mu = cv: s^2 = ln(1 + cv^2), m = ln mean - s^2/2.
    const double s2 = std::log1p(cv * cv);
    return std::exp(rng.Normal(std::log(mean_s) - 0.5 * s2, std::sqrt(s2)));
  }
  for (;;) {
    const double g = rng.Normal(mean_s, cv * mean_s);
    if (g > 0.0) return g;
  }
}

double TwoStateCard::Sample(State state, Rng& rng) const {
  const double g_on = 1.0 / options_.r_on_ohm;
  return state == State::kOn ? SampleState(g_on, options_.cv_on, rng)
                             : SampleState(g_on / options_.on_off_ratio, options_.cv_off, rng);
}

std::pair<double, double> TwoStateCard::BetweenMoments(double fraction) const {
  const double g_on = 1.0 / options_.r_on_ohm;
  const double g_off = g_on / options_.on_off_ratio;
  const double mean = g_off + fraction * (g_on - g_off);
  const double sigma = options_.cv_off * g_off + fraction * (options_.cv_on * g_on - options_.cv_off * g_off);
  return {mean, sigma};
}

double TwoStateCard::SampleBetween(double fraction, Rng& rng) const {
  const auto [mean, sigma] = BetweenMoments(fraction);
  return SampleState(mean, sigma / mean, rng);
}

ConductanceStats TwoStateCard::BetweenStats(double fraction) const {
  const auto [mean, sigma] = BetweenMoments(fraction);
  return StateMoments(mean, sigma / mean, options_.spread);
}

std::unique_ptr<DeviceCard> TwoStateCard::WithRon(double r_on_ohm) const {
  Require(r_on_ohm >= options_.r_on_min_ohm && r_on_ohm <= options_.r_on_max_ohm,
          "card '{}' cannot produce R_ON = {:.4g} ohm: its range is {:.4g}-{:.4g} ohm",
          options_.name, r_on_ohm, options_.r_on_min_ohm, options_.r_on_max_ohm);
  TwoStateOptions o = options_;
  o.r_on_ohm = r_on_ohm;
  return KeepPhysics(std::make_unique<TwoStateCard>(o));
}

std::unique_ptr<DeviceCard> TwoStateCard::WithOnOffRatio(double ratio) const {
  TwoStateOptions o = options_;
  o.on_off_ratio = ratio;
  return KeepPhysics(std::make_unique<TwoStateCard>(o));
}

nlohmann::json TwoStateCard::ToJson() const {
  nlohmann::json j = TwoStateOptionsFields().ToJson(options_);
  j["kind"] = "two_state";
  if (physics().any()) j["physics"] = physics().ToJson();
  if (cell().any()) j["cell"] = cell().ToJson();
  return j;
}

void MeasuredOptions::Validate() const {
  Require(!csv.empty(), "csv must name a file of measured resistances");
  Require(std::isfinite(write_voltage_v) && write_voltage_v > 0,
          "write_voltage_v must be > 0, got {}", write_voltage_v);
  // 0 and 0: no range given, only the measured level.
  if (r_on_min_ohm != 0.0 || r_on_max_ohm != 0.0) {
    RequireDeviceOhm(r_on_min_ohm, "r_on_min_ohm");
    RequireDeviceOhm(r_on_max_ohm, "r_on_max_ohm");
    Require(r_on_min_ohm <= r_on_max_ohm, "r_on_min_ohm ({}) must be <= r_on_max_ohm ({})",
            r_on_min_ohm, r_on_max_ohm);
  }
  Require(std::isfinite(scale) && scale > 0, "scale must be > 0, got {}", scale);
}

namespace {

// Two-pass moments in units of the largest conductance, so that no square underflows whatever
// the resistance level (1/R squared for R = 1e160 ohm is below the smallest double).
ConductanceStats SampleMoments(const std::vector<double>& g) {
  const double unit = *std::max_element(g.begin(), g.end());
  double mean = 0.0;
  for (double x : g) mean += x / unit;
  mean /= static_cast<double>(g.size());
  double var = 0.0;
  for (double x : g) var += (x / unit - mean) * (x / unit - mean);
  var /= static_cast<double>(g.size() > 1 ? g.size() - 1 : 1);
  return {mean * unit, std::sqrt(var) * unit};
}

}  // namespace

MeasuredCard::MeasuredCard(MeasuredOptions options) : options_(std::move(options)) {
  options_.Validate();
  const Table table = ReadCsv(options_.csv);
  const std::string file = options_.csv.string();
  std::size_t c_on = 0;
  std::size_t c_off = 0;
  try {
    c_on = table.Column("r_on_ohm");
    c_off = table.Column("r_off_ohm");
  } catch (const Error& e) {
    Fail("{}: {}; the header must be r_on_ohm,r_off_ohm", file, e.what());
  }
  for (std::size_t i = 0; i < table.rows.size(); ++i) {
    for (const auto& [column, out] : {std::pair{c_on, &g_on_s_}, std::pair{c_off, &g_off_s_}}) {
      const double r = table.rows[i][column];
      if (std::isnan(r)) continue;  // state not measured on this device
      Require(r >= kMinDeviceOhm && r <= kMaxDeviceOhm,
              "{}:{}: column '{}': resistance must be within [{:g}, {:g}] ohm, got {}", file,
              i + 2, table.columns[column], kMinDeviceOhm, kMaxDeviceOhm, r);
      out->push_back(1.0 / (r * options_.scale));
    }
  }
  Require(g_on_s_.size() >= 2 && g_off_s_.size() >= 2,
          "{}: needs at least 2 measured devices per state, got {} ON and {} OFF", file,
          g_on_s_.size(), g_off_s_.size());
  stats_ = {SampleMoments(g_on_s_), SampleMoments(g_off_s_)};
  if (options_.r_on_max_ohm > 0) {
    // The same tolerance as WithRon, which scales a card to the ends of its range.
    const double r_on = 1.0 / stats_.on.mean_s;
    Require(r_on >= options_.r_on_min_ohm * (1 - 1e-12) && r_on <= options_.r_on_max_ohm * (1 + 1e-12),
            "{}: the measured R_ON = 1/E[G_on] = {:.6g} ohm lies outside the card's own range "
            "[r_on_min_ohm, r_on_max_ohm] = [{}, {}]",
            file, r_on, options_.r_on_min_ohm, options_.r_on_max_ohm);
  }
  Require(stats_.on.mean_s > stats_.off.mean_s,
          "{}: r_on_ohm must be the low-resistance state, but its mean conductance {:.4g} S is "
          "not above r_off_ohm's {:.4g} S",
          file, stats_.on.mean_s, stats_.off.mean_s);
}

double MeasuredCard::Sample(State state, Rng& rng) const {
  const auto& g = state == State::kOn ? g_on_s_ : g_off_s_;
  const auto index = static_cast<std::size_t>(rng.Uniform() * static_cast<double>(g.size()));
  return g[std::min(index, g.size() - 1)];
}

std::pair<double, double> MeasuredCard::r_on_range_ohm() const {
  if (options_.r_on_max_ohm > 0) return {options_.r_on_min_ohm, options_.r_on_max_ohm};
  return {r_on_ohm(), r_on_ohm()};
}

std::unique_ptr<DeviceCard> MeasuredCard::WithRon(double r_on_ohm) const {
  const auto [lo, hi] = r_on_range_ohm();
  Require(r_on_ohm >= lo * (1 - 1e-12) && r_on_ohm <= hi * (1 + 1e-12),
          "card '{}' cannot produce R_ON = {:.4g} ohm: its range is {:.4g}-{:.4g} ohm",
          options_.name, r_on_ohm, lo, hi);
  MeasuredOptions o = options_;
  o.scale = options_.scale * r_on_ohm / this->r_on_ohm();
  return KeepPhysics(std::make_unique<MeasuredCard>(o));
}

std::unique_ptr<DeviceCard> MeasuredCard::WithOnOffRatio(double ratio) const {
  Fail("card '{}' holds measured resistances and cannot change its on/off ratio (to {}); use a "
       "two_state card with its statistics instead",
       options_.name, ratio);
}

nlohmann::json MeasuredCard::ToJson() const {
  nlohmann::json j = {{"kind", "measured"},
          {"name", options_.name},
          {"csv", options_.csv.string()},
          {"scale", options_.scale},
          {"devices_on", g_on_s_.size()},
          {"devices_off", g_off_s_.size()},
          {"write_voltage_v", options_.write_voltage_v}};
  if (physics().any()) j["physics"] = physics().ToJson();
  if (cell().any()) j["cell"] = cell().ToJson();
  return j;
}

}  // namespace aimc::device
