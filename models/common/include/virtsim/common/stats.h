#pragma once
// Statistics declared once, in the component that updates them (docs/concepts.md).
//
// Kinds: Counter (integer events), Scalar (a real-valued level or total), Histogram
// (fixed-width buckets plus under/overflow and exact sum/min/max), VectorStat (a labelled
// row of counts), MatrixStat (a labelled 2-D grid of counts) and Formula (computed from
// other statistics when read). Updates are inline member operations with no registry
// lookup and no virtual call, so they are cheap on the per-access path.
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "virtsim/common/param.h"
#include "virtsim/common/units.h"

namespace virtsim {

enum class StatKind { Counter, Scalar, Histogram, Vector, Matrix, Formula };
const char* to_string(StatKind kind);

class StatBase {
 public:
  StatBase(const Scope& scope, const std::string& leaf, StatKind kind, std::string unit,
           std::string description);
  StatBase(const StatBase&) = delete;
  StatBase& operator=(const StatBase&) = delete;
  virtual ~StatBase();

  const std::string& name() const { return name_; }
  StatKind kind() const { return kind_; }
  const std::string& unit() const { return unit_; }
  const std::string& description() const { return description_; }

  virtual void reset() = 0;
  // Counter, Scalar and Formula have one value; the others report a summary (the total
  // number of samples or counts) so a timeline can track them.
  virtual double value() const = 0;

 private:
  StatRegistry* registry_;
  std::string name_;
  StatKind kind_;
  std::string unit_;
  std::string description_;
};

class Counter final : public StatBase {
 public:
  Counter(const Scope& scope, const std::string& leaf, std::string unit, std::string description)
      : StatBase(scope, leaf, StatKind::Counter, std::move(unit), std::move(description)) {}
  Counter& operator++() { ++count_; return *this; }
  Counter& operator+=(std::uint64_t n) { count_ += n; return *this; }
  std::uint64_t count() const { return count_; }
  void reset() override { count_ = 0; }
  double value() const override { return static_cast<double>(count_); }

 private:
  std::uint64_t count_ = 0;
};

class Scalar final : public StatBase {
 public:
  Scalar(const Scope& scope, const std::string& leaf, std::string unit, std::string description)
      : StatBase(scope, leaf, StatKind::Scalar, std::move(unit), std::move(description)) {}
  Scalar& operator=(double v) { value_ = v; return *this; }
  Scalar& operator+=(double v) { value_ += v; return *this; }
  void reset() override { value_ = 0.0; }
  double value() const override { return value_; }

 private:
  double value_ = 0.0;
};

// Buckets [low + i*width, low + (i+1)*width) for i in [0, buckets); values below `low`
// count as underflow, values at or above the last edge as overflow.
class Histogram final : public StatBase {
 public:
  Histogram(const Scope& scope, const std::string& leaf, std::string unit, std::string description,
            double low, double width, std::size_t buckets);
  void sample(double v, std::uint64_t n = 1) {
    samples_ += n;
    sum_ += v * static_cast<double>(n);
    if (v < min_) min_ = v;
    if (v > max_) max_ = v;
    if (v < low_) { underflow_ += n; return; }
    // Buckets one wide (counts of references, walkers ...) need no division.
    const auto index = static_cast<std::size_t>(unit_width_ ? v - low_ : (v - low_) / width_);
    if (index >= counts_.size()) overflow_ += n;
    else counts_[index] += n;
  }
  void reset() override;
  double value() const override { return static_cast<double>(samples_); }

  double low() const { return low_; }
  double width() const { return width_; }
  const std::vector<std::uint64_t>& counts() const { return counts_; }
  std::uint64_t underflow() const { return underflow_; }
  std::uint64_t overflow() const { return overflow_; }
  std::uint64_t samples() const { return samples_; }
  double sum() const { return sum_; }
  double mean() const { return samples_ ? sum_ / static_cast<double>(samples_) : 0.0; }
  double min() const { return samples_ ? min_ : 0.0; }
  double max() const { return samples_ ? max_ : 0.0; }

 private:
  double low_, width_;
  bool unit_width_;
  std::vector<std::uint64_t> counts_;
  std::uint64_t underflow_ = 0, overflow_ = 0, samples_ = 0;
  double sum_ = 0.0;
  double min_ = std::numeric_limits<double>::infinity();
  double max_ = -std::numeric_limits<double>::infinity();
};

class VectorStat final : public StatBase {
 public:
  VectorStat(const Scope& scope, const std::string& leaf, std::string unit, std::string description,
             std::vector<std::string> labels);
  void add(std::size_t index, std::uint64_t n = 1) { counts_[index] += n; }
  std::uint64_t at(std::size_t index) const { return counts_[index]; }
  const std::vector<std::string>& labels() const { return labels_; }
  const std::vector<std::uint64_t>& counts() const { return counts_; }
  void reset() override;
  double value() const override;  // total over all entries

 private:
  std::vector<std::string> labels_;
  std::vector<std::uint64_t> counts_;
};

class MatrixStat final : public StatBase {
 public:
  MatrixStat(const Scope& scope, const std::string& leaf, std::string unit, std::string description,
             std::vector<std::string> row_labels, std::vector<std::string> column_labels);
  void add(std::size_t row, std::size_t column, std::uint64_t n = 1) {
    cells_[row * columns() + column] += n;
  }
  std::uint64_t at(std::size_t row, std::size_t column) const { return cells_[row * columns() + column]; }
  std::size_t rows() const { return row_labels_.size(); }
  std::size_t columns() const { return column_labels_.size(); }
  const std::vector<std::string>& row_labels() const { return row_labels_; }
  const std::vector<std::string>& column_labels() const { return column_labels_; }
  const std::vector<std::uint64_t>& cells() const { return cells_; }  // row-major
  // The cells themselves, row-major, for owners that pick one of several matrices by index
  // on a hot path (the storage never moves: reset() only zeroes it).
  std::uint64_t* cell_data() { return cells_.data(); }
  void reset() override;
  double value() const override;  // total over all cells

 private:
  std::vector<std::string> row_labels_, column_labels_;
  std::vector<std::uint64_t> cells_;
};

// Computed on read from other statistics; never reset (it follows its inputs).
class Formula final : public StatBase {
 public:
  Formula(const Scope& scope, const std::string& leaf, std::string unit, std::string description,
          std::function<double()> compute)
      : StatBase(scope, leaf, StatKind::Formula, std::move(unit), std::move(description)),
        compute_(std::move(compute)) {}
  void reset() override {}
  double value() const override { return compute_(); }

 private:
  std::function<double()> compute_;
};

// One row of the timeline: the value of every tracked statistic at one dump.
struct TimelineRow {
  Cycles cycle = 0;
  std::vector<double> values;  // parallel to StatRegistry::timeline_columns()
};

class StatRegistry {
 public:
  // Called by StatBase; names must be unique.
  void add(StatBase* stat);
  void remove(StatBase* stat);

  const std::vector<StatBase*>& all() const { return stats_; }
  const StatBase* find(const std::string& name) const;
  // Every statistic whose name matches a dotted pattern ('*' matches one component).
  std::vector<const StatBase*> match(const std::string& pattern) const;

  // Start of the region of interest: every statistic back to zero, timeline cleared.
  void reset_all();

  // Timeline: the columns are every Counter, Scalar and Formula, fixed at the first dump.
  void dump_timeline(Cycles cycle);
  const std::vector<std::string>& timeline_columns() const { return timeline_columns_; }
  const std::vector<TimelineRow>& timeline() const { return timeline_; }

 private:
  std::vector<StatBase*> stats_;
  std::vector<std::string> timeline_columns_;
  std::vector<const StatBase*> timeline_stats_;
  std::vector<TimelineRow> timeline_;
};

}  // namespace virtsim
