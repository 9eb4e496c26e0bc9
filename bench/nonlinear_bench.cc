// Newton DC solve of a crossbar with non-linear devices against the linear solve of the same
// array, R = C in {256, 1024}: MTJ arrays (R_P = 6 MOhm, TMR 1.5, half the cells AP) on the
// 22 nm layout's wires, inputs uniform in [0, 0.5] V, with the AP cells' TMR falling with bias
// (V_h = 0.5 V) or every device following a sinh law (V0 = 0.25 V). Each iteration is one
// whole solve of one input: the linear one a factorization and a solve; the Newton one its
// symbolic analysis (once per solver, part of the time here), the linear start and the steps.

#include <benchmark/benchmark.h>

#include "aimc/circuit/crossbar.h"
#include "aimc/circuit/dc_solver.h"
#include "aimc/circuit/nonlinear.h"
#include "aimc/circuit/wires.h"
#include "aimc/common/rng.h"

namespace {

using aimc::circuit::Crossbar;
using aimc::circuit::NonlinearCrossbar;
using aimc::device::IvShape;

constexpr double kRpOhm = 6e6;
constexpr double kTmr = 1.5;

Crossbar MakeArray(int n) {
  aimc::Rng rng(static_cast<std::uint64_t>(n));
  Eigen::MatrixXd g(n, n);
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < n; ++i)
      g(i, j) = rng.Uniform() < 0.5 ? 1.0 / kRpOhm : 1.0 / (kRpOhm * (1 + kTmr));
  aimc::circuit::CrossbarOptions o;
  o.UseWires(aimc::circuit::Layout22nm());
  return Crossbar(std::move(g), o);
}

Eigen::VectorXd Inputs(int n) {
  aimc::Rng rng(99);
  Eigen::VectorXd v(n);
  for (int i = 0; i < n; ++i) v(i) = 0.5 * rng.Uniform();
  return v;
}

void BM_LinearSolve(benchmark::State& state) {
  const Crossbar xbar = MakeArray(static_cast<int>(state.range(0)));
  const Eigen::VectorXd v = Inputs(xbar.rows());
  for (auto _ : state) {
    const aimc::circuit::DcSolver solver(xbar);
    benchmark::DoNotOptimize(solver.ColumnCurrents(v).data());
  }
  state.counters["iterations"] = 0;
  state.counters["residual_rel"] = 0;
  state.counters["analyze_s"] = 0;
  state.counters["factorize_s"] = 0;
}

// range(1): 0 tmr_bias (AP cells), 1 sinh (every cell).
void BM_NewtonSolve(benchmark::State& state) {
  Crossbar xbar = MakeArray(static_cast<int>(state.range(0)));
  const NonlinearCrossbar array =
      state.range(1) == 0
          ? aimc::circuit::WithTmrBias(std::move(xbar), kTmr, 0.5)
          : NonlinearCrossbar(std::move(xbar), IvShape::Sinh(0.25));
  const Eigen::VectorXd v = Inputs(array.crossbar().rows());
  aimc::circuit::NonlinearSummary last;
  aimc::circuit::FactorSummary factor;
  for (auto _ : state) {
    aimc::circuit::NonlinearSolver solver(array);
    const aimc::circuit::NonlinearSolution s = solver.Solve(v);
    benchmark::DoNotOptimize(s.voltages.column_current_a.data());
    last = s.summary;
    factor = solver.factor_summary();
  }
  state.SetLabel(state.range(1) == 0 ? "tmr_bias" : "sinh");
  state.counters["iterations"] = last.iterations;
  state.counters["residual_rel"] = last.residual_rel;
  state.counters["analyze_s"] = factor.analyze_seconds;
  state.counters["factorize_s"] = factor.factorize_seconds;  // all numeric factorizations
}

BENCHMARK(BM_LinearSolve)->Arg(256)->Arg(1024)->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_NewtonSolve)
    ->Args({256, 0})
    ->Args({256, 1})
    ->Args({1024, 0})
    ->Args({1024, 1})
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
