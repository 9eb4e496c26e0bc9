#include "aimc/circuit/wires.h"

#include <cmath>

#include "aimc/circuit/crossbar.h"
#include "aimc/common/error.h"

namespace aimc::circuit {

double WirePreset::row_segment_ohm() const {
  return SegmentResistanceOhm(sheet_ohm_per_square, column_pitch_nm, line_width_nm);
}

double WirePreset::col_segment_ohm() const {
  return SegmentResistanceOhm(sheet_ohm_per_square, row_pitch_nm, line_width_nm);
}

WirePreset Layout22nm() {
  constexpr double kCellAreaNm2 = 0.076e6;          // Fig. 9 caption: 0.076 um^2 per pair
  constexpr double kResistivityOhmNm = 4.5e-8 * 1e9;  // 4.5 uOhm cm, in ohm nm
  constexpr double kThicknessNm = 80.0;
  const double side_nm = std::sqrt(kCellAreaNm2);
  WirePreset p;
  p.name = "layout22nm";
  p.source =
      "estimate for the 22 nm layout of Fig. 9b (SOT-MRAM AiMC paper): square 0.076 um^2 "
      "ternary cell, 40 nm x 80 nm Cu lines at 4.5 uOhm cm";
  p.sheet_ohm_per_square = kResistivityOhmNm / kThicknessNm;
  p.line_width_nm = 40.0;
  p.row_pitch_nm = side_nm;
  p.column_pitch_nm = side_nm / 2.0;  // two devices (G+, G-) side by side per ternary cell
  return p;
}

WirePreset WirePresetByName(const std::string& name) {
  if (name == "layout22nm") return Layout22nm();
  Fail("unknown wire preset '{}' (presets: layout22nm)", name);
}

}  // namespace aimc::circuit
