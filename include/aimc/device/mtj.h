#pragma once

#include <memory>
#include <string>

#include "aimc/common/fields.h"
#include "aimc/device/card.h"

namespace aimc::device {

/// A magnetic tunnel junction population (SOT- or STT-MRAM read path).
///   RA(t_MgO) = ra0 * exp(t_MgO / t0)                     (paper Fig. 4)
///   R_P = RA / (pi r^2),  r ~ Normal(eCD/2, sigma_r) cut at r > 0   (Fig. 8c)
///   R_AP = R_P * (1 + TMR)
/// so G_P = pi r^2 / RA and G_AP = G_P / (1 + TMR) are exact functions of r.
struct MtjOptions {
  std::string name = "SOT-MRAM";
  std::string source;
  /// Operating RA product; if t_mgo_nm > 0 it is computed from the thickness instead.
  double ra_ohm_um2 = 20e3;
  /// MgO thickness; 0 means "use ra_ohm_um2".
  double t_mgo_nm = 0.0;
  /// Fit of RA vs MgO thickness: RA = ra0_ohm_um2 * exp(t_mgo_nm / t0_nm).
  double ra0_ohm_um2 = 0.0;
  double t0_nm = 0.0;
  /// Range of RA the stack is made at (sets the R_ON range the card can produce).
  double ra_min_ohm_um2 = 5e3;
  double ra_max_ohm_um2 = 50e3;
  double nominal_cd_nm = 80.0;
  /// Electrical CD: the diameter that sets the resistance (smaller than nominal).
  double electrical_cd_nm = 65.0;
  double sigma_radius_nm = 3.0;
  /// Tunnel magnetoresistance ratio (R_AP - R_P) / R_P; 1.5 = 150 %.
  double tmr = 1.5;
  double write_voltage_v = 0.8;

  /// Throws aimc::Error naming the first bad field, its value and the allowed range.
  void Validate() const;
  /// The RA product in use (from t_mgo_nm when it is set).
  double EffectiveRa() const;
};

/// The fields of MtjOptions: the keys of an MTJ card file and of its JSON (ra_ohm_um2 as in use,
/// EffectiveRa; no source), their ranges (the rules between fields are MtjOptions::Validate's).
const FieldTable<MtjOptions>& MtjOptionsFields();

/// The fit of Fig. 4 (RA exponential in MgO thickness) through RA = 5 kOhm um^2 at 1.80 nm and
/// 50 kOhm um^2 at 2.10 nm: one decade per 0.3 nm, a slope typical of MgO barriers. The paper gives
/// the RA range (5-50 kOhm um^2) but not the thicknesses in its text; these are our assumption.
void FitRaThickness(double ra_low_ohm_um2, double t_low_nm, double ra_high_ohm_um2,
                    double t_high_nm, double* ra0_ohm_um2, double* t0_nm);

/// SOT-MRAM of the paper: nCD 80 nm, RA 20 kOhm um^2, TMR 150 %, sigma_r 3 nm (Fig. 8c),
/// eCD such that R_P = 6 MOhm (Table I), write < 1 V (Table I).
MtjOptions SotMramPreset();

/// Moments of the truncated normal radius: E[r^k], k = 0..4, for r ~ N(mu, sigma) cut at r > 0.
void TruncatedNormalMoments(double mu, double sigma, double moments[5]);

class MtjCard : public DeviceCard {
 public:
  explicit MtjCard(MtjOptions options);

  std::string name() const override { return options_.name; }
  std::string source() const override { return options_.source; }
  StateStats Stats() const override;
  double Sample(State state, Rng& rng) const override;
  /// One device drawn once, read in both states: (G_P, G_AP).
  std::pair<double, double> SampleBoth(Rng& rng) const;
  double write_voltage_v() const override { return options_.write_voltage_v; }
  std::pair<double, double> r_on_range_ohm() const override;
  std::unique_ptr<DeviceCard> WithRon(double r_on_ohm) const override;
  std::unique_ptr<DeviceCard> WithOnOffRatio(double ratio) const override;
  nlohmann::json ToJson() const override;

  const MtjOptions& options() const { return options_; }
  /// A radius draw in nm (redrawn until positive).
  double SampleRadiusNm(Rng& rng) const;
  /// G_P of a pillar of radius r.
  double ConductanceP(double radius_nm) const;

 protected:
  /// The same pillar in the other state: G_AP = G_P / (1 + TMR).
  double Flip(State from, double g_s, Rng& rng) const override;

 private:
  MtjOptions options_;
};

}  // namespace aimc::device
