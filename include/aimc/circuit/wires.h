#pragma once

#include <string>

namespace aimc::circuit {

/// A wire technology: the geometry of one cell and the sheet resistance of its lines, from which
/// the resistance of one row-line and one column-line segment follows.
struct WirePreset {
  std::string name;
  std::string source;              // where the numbers come from
  double sheet_ohm_per_square = 0.0;
  double line_width_nm = 0.0;
  double column_pitch_nm = 0.0;    // length of a row-line segment
  double row_pitch_nm = 0.0;       // length of a column-line segment

  double row_segment_ohm() const;  // R_sheet * column_pitch / width
  double col_segment_ohm() const;  // R_sheet * row_pitch / width
};

/// An estimate of the paper's 22 nm layout (Fig. 9b): a ternary compute cell (one differential
/// pair in adjacent columns) of 0.076 um^2, taken square, so 275.7 nm row pitch and 137.8 nm
/// column pitch; lines of 40 nm width and 80 nm height in copper with an effective resistivity
/// of 4.5 uOhm cm (bulk 1.7 plus barrier and size effects at this width), i.e. 0.5625 Ohm/sq.
/// Gives 1.94 Ohm per row segment and 3.88 Ohm per column segment. The paper does not state the
/// extracted value; this is our estimate, see docs/xbar.md.
WirePreset Layout22nm();

/// A preset by name ("layout22nm"); throws aimc::Error listing the names otherwise.
WirePreset WirePresetByName(const std::string& name);

}  // namespace aimc::circuit
