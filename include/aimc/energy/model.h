#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "aimc/common/fields.h"
#include "aimc/common/toml_reader.h"
#include "aimc/device/physics.h"

// The energy, area and latency of an inference on an analog chip (docs/energy.md): the array
// read energy comes exactly from the circuit (experiment::Chip::MeasureCost), the periphery from
// the models here, each with its parameters, their source, and "assumed" where none is cited.

namespace aimc::energy {

/// "assumed" for an empty source, the source otherwise: what a report prints beside a model.
std::string SourceOrAssumed(const std::string& source);

/// Row drivers: a DAC per row converts the activation to the read voltage; the row line is
/// charged to it on every read.
struct DacOptions {
  /// One conversion of a 1-bit driver (fJ); a b-bit conversion costs (2^b - 1) times it (a
  /// b-bit DAC switches up to 2^b - 1 unit elements).
  double energy_1bit_fj = 2.0;
  /// Row-line capacitance per crosspoint it passes (fF): wire over one cell pitch plus the
  /// access transistors' junctions. The line is charged to V_i on every read: C V_i^2.
  double line_cap_ff_per_cell = 0.2;
  double area_um2 = 2.0;  // one driver with its DAC
  /// A b-bit input of the first layer (the image) when the layer does not quantize it.
  int image_bits = 8;
  std::string source = "assumed: 2 fJ per 1-bit conversion; 0.2 fF per cell pitch of 22 nm wire "
                       "and junctions; 2 um^2 per driver";

  /// Energy of one b-bit conversion (J).
  double ConversionJ(int bits) const;
};

/// Sense amplifier / integrator of a summation line: it holds the line at virtual ground and
/// integrates its current over the read.
struct SenseOptions {
  double energy_fj = 20.0;  // per read and summation line
  double area_um2 = 10.0;
  std::string source = "assumed: an integrator of 2 uW over a 10 ns read; 10 um^2";
};

/// The ADC of each weight column (after the differential sense), from a figure of merit:
///   Walden:   E = FoM_W 2^ENOB                        (fJ per conversion step)
///   Schreier: E = 10^((SNDR - FoM_S) / 10) / 2, SNDR = 6.02 ENOB + 1.76 dB
///             (FoM_S = SNDR + 10 log10(f_s / 2 / P), in dB).
/// ENOB is the resolution in bits minus `enob_loss_bits`.
struct AdcOptions {
  enum class Fom { kWalden, kSchreier };
  Fom fom = Fom::kWalden;
  double walden_fj_per_step = 5.0;
  double schreier_db = 175.0;
  double enob_loss_bits = 0.5;
  /// Resolution when the chip itself does not quantize (ChipOptions::adc_bits = 0).
  int bits = 8;
  double sample_rate_hz = 1e8;
  /// Weight columns sharing one ADC through a multiplexer (converted one after another).
  int columns_per_adc = 8;
  double area_um2 = 500.0;  // one ADC
  std::string source = "Walden FoM 5 fJ/step and Schreier FoM 175 dB: of the order of SAR ADCs at "
                       "10-100 MS/s in B. Murmann, ADC Performance Survey 1997-2023; 100 MS/s, "
                       "8 columns per ADC and 500 um^2: assumed";

  /// Energy of one conversion at `bits` bits (J).
  double ConversionJ(int bits) const;
  std::string FomName() const;  // "walden", "schreier"
};

/// Digital operations at a stated node: the scale, bias and BatchNorm after each layer, the
/// activation quantizer, pooling, residual additions, partial-sum accumulation of row-split
/// tiles, layers kept digital, and the activation buffer.
struct DigitalOptions {
  double add_pj = 0.1;    // 32-bit integer add (accumulation, residual, pooling comparisons)
  double mul_pj = 1.1;    // 16-bit float multiply (scale, BatchNorm, quantizer)
  double fadd_pj = 0.4;   // 16-bit float add (bias, BatchNorm, MACs of digital layers)
  double sram_pj_per_byte = 1.25;  // activation buffer, an 8 KB SRAM: 10 pJ per 64-bit access
  /// Every digital energy is multiplied by this (e.g. 0.3 for a scaled node: assumed).
  double node_scale = 1.0;
  std::string node = "45 nm";
  std::string source = "M. Horowitz, 'Computing's energy problem', ISSCC 2014 (45 nm): 32-bit add "
                       "0.1 pJ, 16-bit FP mult 1.1 pJ and add 0.4 pJ, 8 KB SRAM 10 pJ per 64 bits";
};

/// Everything the cost of an inference depends on besides the chip and the network.
struct EnergyOptions {
  DacOptions dac;
  SenseOptions sense;
  AdcOptions adc;
  DigitalOptions digital;
  /// How long the devices conduct per read (s): 0 takes the card's read time
  /// (read_noise.read_time_s) where its physics states noise, else 10 ns.
  double read_time_s = 0.0;
  /// Tiles of a layer read at once (their own drivers and ADCs) or one after another.
  bool tiles_parallel = true;
  /// Test images the energy is averaged over (the first N; 0: all).
  std::int64_t images = 100;
  /// Per layer, MVMs solved in full to split the array energy into devices and parasitics
  /// (wires, drivers, sense, access transistors); 0: no split.
  int split_mvms = 4;

  /// Throws aimc::Error naming the field ("energy.adc.walden_fj_per_step") and the range.
  void Validate() const;
  nlohmann::json ToJson() const;
  /// The read time for a card with this physics.
  double ReadTimeS(const device::Physics& physics) const;
};

/// Reads an [energy] table over `defaults`: the keys of EnergyOptions::ToJson (read_time_s,
/// tiles_parallel, images, split_mvms) and its sub-tables [energy.dac], [energy.sense],
/// [energy.adc] (fom = "walden" | "schreier"), [energy.digital]. Validated; errors name the file
/// and the key.
EnergyOptions ReadEnergyOptions(const TomlReader& table, EnergyOptions defaults);

/// The fields of EnergyOptions, its periphery's options as sub-tables ("dac", "sense", "adc",
/// "digital"): ranges, JSON (a source left empty is written "assumed") and TOML.
const FieldTable<EnergyOptions>& EnergyOptionsFields();
const EnumNames<AdcOptions::Fom>& AdcFomNames();

/// One tile as counted over the measured images, per inference.
struct TileCount {
  std::int64_t rows = 0, cols = 0;            // weights
  std::int64_t lines_rows = 0, lines_cols = 0;  // the array's lines (pairs: 2 per weight)
  double sum_v2 = 0.0;       // sum over reads and the tile's rows of V_i^2 (V^2)
  double array_j = 0.0;      // read energy the row drivers deliver (exact), J
  double devices_j = -1.0;   // of which dissipated in the devices; < 0: not split
};

/// One weight layer as counted per inference.
struct LayerCount {
  std::string name;
  bool analog = true;
  std::int64_t rows = 0, cols = 0;  // the layer's matrix (im2col rows x outputs)
  double mvms = 0.0;                // products per inference (conv: output positions)
  int input_bits = 0;               // DAC resolution
  double input_elements = 0.0;      // activations read per inference (quantized once)
  std::vector<TileCount> tiles;     // analog layers
  std::int64_t row_blocks = 1;      // tiles along the rows (partial sums added digitally)
};

/// Digital work per inference outside the weight layers (pooling, residual additions, the
/// global average), from the network's structure.
struct OtherOps {
  double adds = 0.0;
  double compares = 0.0;
  /// Multiply-accumulates of weight products outside the weight layers (an imported network's
  /// float convolutions that no crossbar layer takes): a float multiply and add each, 2 ops.
  double float_macs = 0.0;
};

/// What the accounting needs of the chip.
struct ChipGeometry {
  int lines_per_weight_row = 1, lines_per_weight_col = 2;  // pair layout
  int adc_bits = 0;            // the chip's ADC (0: none, the model's bits are used)
  double read_voltage_v = 0.2;
  double read_time_s = 10e-9;
};

struct EnergyBreakdown {  // joules per inference
  double array_j = 0.0;        // what the row drivers deliver to the arrays (exact)
  double devices_j = -1.0;     // part of array_j in the devices; < 0: not split
  double lines_j = 0.0;        // charging the row lines
  double dac_j = 0.0;
  double sense_j = 0.0;
  double adc_j = 0.0;
  double accumulate_j = 0.0;   // partial sums of row-split tiles
  double digital_j = 0.0;      // scale, BatchNorm, quantizers, pooling, residuals, digital layers
  double buffer_j = 0.0;       // activation buffer reads and writes
  double Total() const;
  double parasitics_j() const { return devices_j < 0 ? -1.0 : array_j - devices_j; }
};

struct AreaBreakdown {  // um^2
  double cells_um2 = 0.0;  // the arrays as built; < 0 when the card states no cell area
  double dac_um2 = 0.0;
  double sense_um2 = 0.0;
  double adc_um2 = 0.0;
  std::int64_t tiles = 0;
  double Total() const;  // < 0 when the cell area is unknown
};

struct WriteCost {
  std::int64_t devices = 0;
  double energy_j = -1.0;  // < 0: the card states no write cost
  double time_s = -1.0;    // one device at a time per array; arrays in parallel when tiles are
};

struct LayerCost {
  std::string name;
  bool analog = true;
  double energy_j = 0.0;
  double latency_s = 0.0;
  double ops = 0.0;
};

/// The cost of one inference.
struct InferenceCost {
  EnergyBreakdown energy;
  AreaBreakdown area;
  WriteCost write;
  std::vector<LayerCost> layers;
  double ops = 0.0;          // 2 x MACs per inference (analog and digital layers)
  double analog_ops = 0.0;
  double latency_s = 0.0;    // layers one after another
  double mvm_s = 0.0;        // one read of one tile: read time plus its ADC conversions
  double images = 0.0;       // images the counts were averaged over
  double accuracy = -1.0;    // of the network on those images (< 0: not measured)
  double TopsPerW() const;   // ops / energy / 1e12
  double Tops() const;       // ops / latency / 1e12
  /// Inferences per second with the layers pipelined (the slowest layer sets the pace).
  double PipelinedPerS() const;
  nlohmann::json ToJson() const;
};

/// The accounting (docs/energy.md): array energies as counted, periphery from the models,
/// latency per MVM = read time + ceil(cols / columns_per_adc) conversions (digital work is not
/// timed), area of the arrays as simulated (each tile its weights' size) with their periphery,
/// write cost from the card's cell.
InferenceCost Account(const std::vector<LayerCount>& layers, const OtherOps& other,
                      const ChipGeometry& chip, const EnergyOptions& options,
                      const device::CellCost& cell, double write_voltage_v);

}  // namespace aimc::energy
