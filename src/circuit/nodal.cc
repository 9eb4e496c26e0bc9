#include "nodal.h"

#include <algorithm>

#include <fmt/format.h>

#include "aimc/common/error.h"
#include "assembly.h"

namespace aimc::circuit::internal {

NodalSystem::NodalSystem(const Crossbar& xbar, bool assemble)
    : rows(xbar.rows()), cols(xbar.cols()), g(xbar.CellConductances()) {
  const CrossbarOptions& o = xbar.options();
  const bool both_drive = o.drive == DriveSide::kBoth;
  const bool both_sense = o.sense == SenseSide::kBoth;

  // Row lines: a chain of C nodes (or one node when the wire is ideal, or none when the driver
  // is ideal too). End links carry the driver resistance in series with the end segment.
  if (o.wire_row_ohm > 0.0) {
    row_lines = LineNodes::kChain;
    row_wire_g = 1.0 / o.wire_row_ohm;
    unknowns = std::int64_t(rows) * cols;
  } else if (o.driver_ohm > 0.0) {
    row_lines = LineNodes::kMerged;
    unknowns = rows;
  }
  for (int i = 0; row_lines != LineNodes::kFixed && i < rows; ++i) {
    if (row_lines == LineNodes::kChain) {
      const double g_end = 1.0 / (o.driver_ohm + o.wire_row_ohm);
      row_ends.push_back({i, RowNode(i, 0), g_end});
      if (both_drive) row_ends.push_back({i, RowNode(i, cols - 1), g_end});
    } else {
      row_ends.push_back({i, RowNode(i, 0), (both_drive ? 2 : 1) / o.driver_ohm});
    }
  }
  col_base = unknowns;
  if (o.wire_col_ohm > 0.0) {
    col_lines = LineNodes::kChain;
    col_wire_g = 1.0 / o.wire_col_ohm;
    unknowns += std::int64_t(rows) * cols;
  } else if (o.sense_ohm > 0.0) {
    col_lines = LineNodes::kMerged;
    unknowns += cols;
  }
  for (int j = 0; col_lines != LineNodes::kFixed && j < cols; ++j) {
    if (col_lines == LineNodes::kChain) {
      const double g_end = 1.0 / (o.sense_ohm + o.wire_col_ohm);
      col_ends.push_back({j, ColNode(rows - 1, j), g_end});
      if (both_sense) col_ends.push_back({j, ColNode(0, j), g_end});
    } else {
      col_ends.push_back({j, ColNode(0, j), (both_sense ? 2 : 1) / o.sense_ohm});
    }
  }
  if (!assemble) return;
  const LowerColumns k =
      AssembleLower(unknowns, nullptr, [this](auto&& emit) { ForEachEntry(emit); });
  k_lower = ToSparse(k, unknowns, unknowns);
}

Eigen::MatrixXd NodalSystem::Rhs(const Eigen::MatrixXd& v) const {
  Eigen::MatrixXd b = Eigen::MatrixXd::Zero(unknowns, v.cols());
  for (Eigen::Index n = 0; n < v.cols(); ++n) {
    for (int i = 0; i < rows; ++i) {
      const double vi = v(i, n);
      if (vi == 0.0) continue;
      for (int j = 0; j < cols; ++j) {
        const double current = g(i, j) * vi;
        if (const auto a = RowNode(i, j); a >= 0) b(a, n) -= current;
        if (const auto c = ColNode(i, j); c >= 0) b(c, n) += current;
      }
    }
  }
  return b;
}

Eigen::MatrixXd NodalSystem::Currents(const Eigen::MatrixXd& v, const Eigen::MatrixXd& x) const {
  Eigen::MatrixXd currents = g.transpose() * v;
  for (Eigen::Index n = 0; n < v.cols(); ++n) {
    for (int j = 0; j < cols; ++j) {
      double correction = 0.0;
      for (int i = 0; i < rows; ++i) {
        const auto a = RowNode(i, j);
        const auto c = ColNode(i, j);
        const double drop = (a >= 0 ? x(a, n) : 0.0) - (c >= 0 ? x(c, n) : 0.0);
        correction += g(i, j) * drop;
      }
      currents(j, n) += correction;
    }
  }
  return currents;
}

Eigen::MatrixXd NodalSystem::SourceCurrents(const Eigen::MatrixXd& x,
                                            const Eigen::MatrixXd& cell_current) const {
  if (row_lines == LineNodes::kFixed) return cell_current;
  Eigen::MatrixXd out = Eigen::MatrixXd::Zero(rows, x.cols());
  for (Eigen::Index n = 0; n < x.cols(); ++n) {
    for (const EndLink& l : row_ends) out(l.line, n) -= l.g * x(l.node, n);
  }
  return out;
}

Eigen::MatrixXd NodalSystem::RowCellCurrents(const Eigen::MatrixXd& v,
                                             const Eigen::MatrixXd& x) const {
  Eigen::MatrixXd out = Eigen::MatrixXd::Zero(rows, v.cols());
  for (Eigen::Index n = 0; n < v.cols(); ++n) {
    for (int i = 0; i < rows; ++i) {
      double sum = 0.0;
      for (int j = 0; j < cols; ++j) {
        const auto a = RowNode(i, j);
        const auto c = ColNode(i, j);
        sum += g(i, j) * (v(i, n) + (a >= 0 ? x(a, n) : 0.0) - (c >= 0 ? x(c, n) : 0.0));
      }
      out(i, n) = sum;
    }
  }
  return out;
}

namespace {

// Coordinates doubled to stay integral: row node (i, j) at (2j, 2i + 1), column node at
// (2j + 1, 2i).
struct Point {
  std::int64_t node;
  int x2;
  int y2;
};

void Dissect(std::vector<Point>::iterator begin, std::vector<Point>::iterator end,
             std::vector<std::int64_t>& order) {
  constexpr std::ptrdiff_t kLeaf = 64;
  if (end - begin <= kLeaf) {
    for (auto it = begin; it != end; ++it) order.push_back(it->node);
    return;
  }
  int x_lo = begin->x2, x_hi = begin->x2, y_lo = begin->y2, y_hi = begin->y2;
  for (auto it = begin; it != end; ++it) {
    x_lo = std::min(x_lo, it->x2);
    x_hi = std::max(x_hi, it->x2);
    y_lo = std::min(y_lo, it->y2);
    y_hi = std::max(y_hi, it->y2);
  }
  // Cut across the longer side, on an even (integer) coordinate near its middle.
  const bool cut_x = (x_hi - x_lo) >= (y_hi - y_lo);
  const int lo = cut_x ? x_lo : y_lo;
  const int hi = cut_x ? x_hi : y_hi;
  int mid = (lo + hi) / 2;
  if (mid % 2 != 0) ++mid;
  if (mid <= lo || mid >= hi) {  // a line of nodes: nothing left to cut
    for (auto it = begin; it != end; ++it) order.push_back(it->node);
    return;
  }
  const auto coord = [cut_x](const Point& p) { return cut_x ? p.x2 : p.y2; };
  const auto first_end = std::partition(begin, end, [&](const Point& p) { return coord(p) < mid; });
  const auto second_end =
      std::partition(first_end, end, [&](const Point& p) { return coord(p) > mid; });
  Dissect(begin, first_end, order);
  Dissect(first_end, second_end, order);
  for (auto it = second_end; it != end; ++it) order.push_back(it->node);
}

}  // namespace

std::vector<std::int64_t> NodalSystem::GeometricOrdering() const {
  const std::size_t cells = std::size_t(rows) * cols;
  if (unknowns != std::int64_t(2 * cells)) return {};
  std::vector<Point> points;
  points.reserve(2 * cells);
  for (int i = 0; i < rows; ++i) {
    for (int j = 0; j < cols; ++j) {
      points.push_back({RowNode(i, j), 2 * j, 2 * i + 1});
      points.push_back({ColNode(i, j), 2 * j + 1, 2 * i});
    }
  }
  std::vector<std::int64_t> order;
  order.reserve(points.size());
  Dissect(points.begin(), points.end(), order);
  return order;
}

std::string NodalSystem::NodeName(std::int64_t unknown) const {
  for (int i = 0; i < rows; ++i) {
    for (int j = 0; j < cols; ++j) {
      if (RowNode(i, j) == unknown) {
        return fmt::format("row line node (row {}, column {})", i, j);
      }
      if (ColNode(i, j) == unknown) {
        return fmt::format("column line node (row {}, column {})", i, j);
      }
    }
  }
  return fmt::format("unknown {}", unknown);
}

}  // namespace aimc::circuit::internal
