#pragma once

#include <cstdint>
#include <vector>

#include <Eigen/Dense>

#include "aimc/common/rng.h"
#include "aimc/device/card.h"

namespace aimc::mapping {

/// A ternary weight on a differential pair (the paper's Fig. 9):
///   +1 = (G+ = ON, G- = OFF), 0 = (OFF, OFF), -1 = (OFF, ON),
/// read as w = (G+ - G-) / dG with dG = mu_ON - mu_OFF (mu_GP - mu_GAP for an MTJ).
struct PairStates {
  device::State plus;
  device::State minus;
};
PairStates StatesOf(int weight);

/// Mean and standard deviation of each weight level, in units of the unit weight.
/// Index 0 is w = -1, 1 is w = 0, 2 is w = +1.
struct WeightSpread {
  double mean[3] = {-1.0, 0.0, 1.0};
  double sigma[3] = {0.0, 0.0, 0.0};
  double dg_s = 0.0;  // mu_ON - mu_OFF
  double sigma_minus1() const { return sigma[0]; }
  double sigma_0() const { return sigma[1]; }
  double sigma_plus1() const { return sigma[2]; }
  /// The largest of the three: the sigma_w a network must tolerate.
  double sigma_max() const;
};

/// Fig. 10, analytically: sigma_0 = sqrt(2) sigma_OFF / dG,
/// sigma_+-1 = sqrt(sigma_ON^2 + sigma_OFF^2) / dG (devices independent). Throws aimc::Error
/// naming the member for a mean that is not > 0 or a standard deviation that is not >= 0 (both
/// finite), and where the spread is not finite (dG too small beside the deviations).
WeightSpread AnalyticSpread(const device::StateStats& stats);

/// Fig. 10 by Monte Carlo: `pairs` pairs per level drawn from the card with `seed`, as drawn (the
/// card's physics left out: ReadSpread of its static part at low bias, right after programming).
WeightSpread MonteCarloSpread(const device::DeviceCard& card, std::int64_t pairs,
                              std::uint64_t seed);

/// Fig. 10 as the pairs are read in use: each pair is programmed, aged to `conditions.time_s`
/// at `conditions.temperature_k` (stuck-at faults, retention flips, drift, relaxation:
/// DeviceCard::Age), and read once at conditions.read_voltage_v with the card's I-V and read
/// noise (relative, 1/f and shot noise of the device's current; shot noise needs a read voltage
/// > 0 and is left out in the low-bias limit). w = (I+ - I-) / (V dG(V)) with dG(V) =
/// DeviceCard::UnitWeightSiemens(V); a card without physics gives the sigmas of its draws at any
/// conditions.
/// Without drift compensation a drifted level's mean moves away from -1, 0, +1: `sigma` is the
/// spread around the level's own mean, `rms_error` (below) around the ideal value. With
/// `drift_compensation` every read is scaled by one factor, the summed conductance of all the
/// pairs' devices as programmed over the same sum as read (one global gain, as a periphery that
/// reads a reference at time 0 and at time t applies per array).
WeightSpread ReadSpread(const device::DeviceCard& card, const device::ReadConditions& conditions,
                        std::int64_t pairs, std::uint64_t seed, double rms_error[3] = nullptr,
                        bool drift_compensation = false);

/// Fig. 10 for K-level weights (K = 2M + 1) on a multi-level card, analytically: for each weight
/// level m = 0..M (-m mirrors +m), the mean and standard deviation of (G+ - G-) / dG with G+ at
/// the card's level m of M and G- OFF (Program's pairs), devices independent:
///   mean_m = (E[G_m] - E[G_0]) / dG (m / M),  sigma_m = sqrt(sigma(G_m)^2 + sigma(G_0)^2) / dG,
/// in units of the full-scale weight dG = mu_ON - mu_OFF, as sigma_w is for ternary weights
/// (M = 1 gives AnalyticSpread's sigma_0 and sigma_+1). Needs card.levels() > M.
struct LevelSpread {
  double mean = 0.0;
  double sigma = 0.0;
};
std::vector<LevelSpread> MultiLevelSpread(const device::DeviceCard& card, int max_level);

/// Fig. 11, inverse: the largest relative spread (sigma/mu) of the conductance states that keeps
/// a level's weight spread at `sigma_w`, for an on/off ratio 1 + TMR.
struct AllowedSpread {
  double zero_cv_off = 0.0;      // weight 0: limit on sigma/mu of OFF (AP), both devices OFF
  double pm1_equal_cv = 0.0;     // weights +-1: same sigma/mu in both states
  double pm1_on_only_cv = 0.0;   // weights +-1: ON (P) spread alone, OFF exact
  double pm1_off_only_cv = 0.0;  // weights +-1: OFF (AP) spread alone, ON exact
};
/// Throws aimc::Error naming the argument unless sigma_w is in [0, kMaxRelativeSpread] and tmr in
/// [kMinTmr, kMaxTmr].
AllowedSpread AllowedSpreadFor(double sigma_w, double tmr);

/// The arguments Fig. 11's relations take: a TMR (on/off ratio - 1) from 1e-6 (below, ON and OFF
/// are one state) to 1e15 (the widest ratio of devices within kMinDeviceOhm to kMaxDeviceOhm),
/// and relative spreads (sigma/mu of a state, sigma_w of a weight) up to 100.
inline constexpr double kMinTmr = 1e-6;
inline constexpr double kMaxTmr = 1e15;
inline constexpr double kMaxRelativeSpread = 100.0;

/// The forward relations of Fig. 11 in terms of relative spreads, for the inverse's tests:
/// weight spread of level 0 and of +-1 given sigma/mu of ON and OFF and the TMR. Arguments as
/// AllowedSpreadFor's (sigma/mu in [0, kMaxRelativeSpread]).
double Sigma0FromCv(double cv_off, double tmr);
double SigmaPm1FromCv(double cv_on, double cv_off, double tmr);

/// One chip's programmed conductances for a weight matrix of levels in [-L, L] (L = max_level;
/// 1: ternary, entries -1, 0, +1), each device drawn independently from the card. Level +l is
/// the pair (G+ at the card's level l of L, G- OFF), -l its mirror, 0 both OFF
/// (DeviceCard::SampleLevel), so w = L (G+ - G-) / dG in level steps; L > 1 needs a card with
/// more than L conductance levels.
struct ProgrammedPairs {
  Eigen::MatrixXd g_plus;   // siemens
  Eigen::MatrixXd g_minus;  // siemens
  double dg_s = 0.0;        // E[G_on] - E[G_off]: L level steps
};
ProgrammedPairs Program(const Eigen::MatrixXi& weights, const device::DeviceCard& card, Rng& rng,
                        int max_level = 1);

/// One chip's conductances for continuous weights w in [-1, 1] (fractions of full scale): w > 0
/// is the pair (G+ at the fraction w of the way from OFF to ON, G- OFF), w < 0 its mirror, so
/// that E[G+ - G-] = w dG; each device drawn from the card at its target (the card's spread as
/// the programming error, DeviceCard::SampleFraction). Throws aimc::Error naming the card unless
/// it has analog states (a two-state card, an MTJ, holds no weight between its levels), and
/// naming the entry for a weight outside [-1, 1].
ProgrammedPairs ProgramContinuous(const Eigen::MatrixXd& weights, const device::DeviceCard& card,
                                  Rng& rng);

}  // namespace aimc::mapping
