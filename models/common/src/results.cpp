#include "virtsim/common/results.h"

#include <H5Cpp.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "virtsim/common/error.h"
#include "virtsim/common/version.h"

namespace virtsim {

namespace fs = std::filesystem;

namespace {

// HDF5 prints its own error stack unless told not to; we report errors ourselves.
void silence_hdf5() {
  static const bool done = [] {
    H5::Exception::dontPrint();
    return true;
  }();
  (void)done;
}

H5::StrType vlen_string() {
  H5::StrType type(H5::PredType::C_S1, H5T_VARIABLE);
  type.setCset(H5T_CSET_UTF8);
  return type;
}

template <typename Location>
void string_attribute(Location& where, const std::string& name, const std::string& value) {
  const H5::StrType type = vlen_string();
  H5::Attribute attribute = where.createAttribute(name, type, H5::DataSpace(H5S_SCALAR));
  const char* text = value.c_str();
  attribute.write(type, &text);
}

template <typename Location, typename T>
void number_attribute(Location& where, const std::string& name, const H5::PredType& type, T value) {
  H5::Attribute attribute = where.createAttribute(name, type, H5::DataSpace(H5S_SCALAR));
  attribute.write(type, &value);
}

template <typename Location>
void string_array_attribute(Location& where, const std::string& name, const std::vector<std::string>& values) {
  const H5::StrType type = vlen_string();
  const hsize_t count = values.size();
  H5::Attribute attribute = where.createAttribute(name, type, H5::DataSpace(1, &count));
  std::vector<const char*> pointers;
  for (const auto& v : values) pointers.push_back(v.c_str());
  if (!pointers.empty()) attribute.write(type, pointers.data());
}

void uint64_dataset(H5::Group& group, const std::string& name, const std::vector<hsize_t>& shape,
                    const std::vector<std::uint64_t>& data, H5::DataSet& out) {
  H5::DataSpace space(static_cast<int>(shape.size()), shape.data());
  out = group.createDataSet(name, H5::PredType::NATIVE_UINT64, space);
  if (!data.empty()) out.write(data.data(), H5::PredType::NATIVE_UINT64);
}

void describe_stat(H5::DataSet& dataset, const StatBase& stat) {
  string_attribute(dataset, "kind", to_string(stat.kind()));
  string_attribute(dataset, "unit", stat.unit());
  string_attribute(dataset, "description", stat.description());
}

// Row layouts of the compound tables; strings are variable-length char*.
struct MetricRow {
  const char* name;
  double value;
  const char* unit;
  const char* kind;
};
struct ExitRow {
  const char* mode;
  std::int64_t code;
  const char* name;
  std::uint64_t count;
  std::uint64_t cycles;
};

H5::CompType metric_type() {
  H5::CompType type(sizeof(MetricRow));
  const H5::StrType text = vlen_string();
  type.insertMember("name", HOFFSET(MetricRow, name), text);
  type.insertMember("value", HOFFSET(MetricRow, value), H5::PredType::NATIVE_DOUBLE);
  type.insertMember("unit", HOFFSET(MetricRow, unit), text);
  type.insertMember("kind", HOFFSET(MetricRow, kind), text);
  return type;
}

H5::CompType exit_type() {
  H5::CompType type(sizeof(ExitRow));
  const H5::StrType text = vlen_string();
  type.insertMember("mode", HOFFSET(ExitRow, mode), text);
  type.insertMember("code", HOFFSET(ExitRow, code), H5::PredType::NATIVE_INT64);
  type.insertMember("name", HOFFSET(ExitRow, name), text);
  type.insertMember("count", HOFFSET(ExitRow, count), H5::PredType::NATIVE_UINT64);
  type.insertMember("cycles", HOFFSET(ExitRow, cycles), H5::PredType::NATIVE_UINT64);
  return type;
}

bool is_scalar_kind(StatKind kind) {
  return kind == StatKind::Counter || kind == StatKind::Scalar || kind == StatKind::Formula;
}

}  // namespace

std::string utc_timestamp() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

void check_output_path(const std::string& path, bool force) {
  std::error_code ec;
  if (fs::exists(path, ec) && !force)
    throw ConfigError("output file '" + path + "' already exists; pass --force to overwrite it");
  if (fs::is_directory(path, ec)) throw ConfigError("output path '" + path + "' is a directory, expected a file name");
  fs::path parent = fs::path(path).parent_path();
  if (parent.empty()) parent = ".";
  if (!fs::exists(parent, ec))
    throw ConfigError("output directory '" + parent.string() + "' does not exist");
  if (!fs::is_directory(parent, ec))
    throw ConfigError("output directory '" + parent.string() + "' is not a directory");
  // access() misses read-only mounts and /proc for root; creating a file is the real test.
  const fs::path probe = parent / (".virtsim-probe-" + std::to_string(::getpid()));
  std::FILE* f = std::fopen(probe.c_str(), "w");
  if (!f)
    throw ConfigError("output directory '" + parent.string() + "' is not writable (" + std::strerror(errno) + ")");
  std::fclose(f);
  fs::remove(probe, ec);
}

struct ResultWriter::Impl {
  H5::H5File file;
  H5::Group runs;
};

ResultWriter::ResultWriter(std::string path, bool force) : path_(std::move(path)) {
  check_output_path(path_, force);
  silence_hdf5();
  temp_path_ = path_ + ".tmp-" + std::to_string(::getpid());
  try {
    impl_ = new Impl;
    impl_->file = H5::H5File(temp_path_, H5F_ACC_TRUNC);
    H5::Group root = impl_->file.openGroup("/");
    number_attribute(root, "schema_version", H5::PredType::NATIVE_INT64, std::int64_t{kResultSchemaVersion});
    string_attribute(root, "virtsim_version", version());
    string_attribute(root, "git_revision", git_revision());
    string_attribute(root, "created", utc_timestamp());
    impl_->runs = impl_->file.createGroup("/runs");
  } catch (const H5::Exception& e) {
    throw FileError(temp_path_ + ": cannot create result file: " + e.getDetailMsg());
  }
}

ResultWriter::~ResultWriter() {
  if (committed_) return;
  try {
    delete impl_;
  } catch (...) {
  }
  impl_ = nullptr;
  std::error_code ec;
  fs::remove(temp_path_, ec);
}

void ResultWriter::write_run(const RunRecord& run) {
  if (!impl_ || committed_) throw std::logic_error("ResultWriter::write_run after commit");
  try {
    H5::Group group = impl_->runs.createGroup(run.run_id);
    string_attribute(group, "config", run.config_text);
    string_attribute(group, "parameters", run.parameters_json);
    number_attribute(group, "seed", H5::PredType::NATIVE_UINT64, run.seed);
    string_attribute(group, "status", run.status);
    string_attribute(group, "memory_virtualization", run.memory_virtualization);
    if (!run.error.empty()) string_attribute(group, "error", run.error);
    number_attribute(group, "wall_seconds", H5::PredType::NATIVE_DOUBLE, run.wall_seconds);
    number_attribute(group, "simulated_seconds", H5::PredType::NATIVE_DOUBLE, run.simulated_seconds);

    // metrics: every single-valued statistic.
    std::vector<MetricRow> metrics;
    if (run.stats) {
      for (const auto* s : run.stats->all())
        if (is_scalar_kind(s->kind())) metrics.push_back({s->name().c_str(), s->value(), s->unit().c_str(), to_string(s->kind())});
    }
    const hsize_t metric_count = metrics.size();
    H5::DataSet metric_set = group.createDataSet("metrics", metric_type(), H5::DataSpace(1, &metric_count));
    if (!metrics.empty()) metric_set.write(metrics.data(), metric_type());

    std::vector<ExitRow> exits;
    for (const auto& e : run.exits) exits.push_back({e.mode.c_str(), e.code, e.name.c_str(), e.count, e.cycles});
    const hsize_t exit_count = exits.size();
    H5::DataSet exit_set = group.createDataSet("exits", exit_type(), H5::DataSpace(1, &exit_count));
    if (!exits.empty()) exit_set.write(exits.data(), exit_type());

    // stats/: histograms, vectors and matrices, one dataset each.
    H5::Group stats_group = group.createGroup("stats");
    if (run.stats) {
      for (const auto* s : run.stats->all()) {
        H5::DataSet set;
        if (const auto* h = dynamic_cast<const Histogram*>(s)) {
          uint64_dataset(stats_group, s->name(), {h->counts().size()}, h->counts(), set);
          number_attribute(set, "low", H5::PredType::NATIVE_DOUBLE, h->low());
          number_attribute(set, "width", H5::PredType::NATIVE_DOUBLE, h->width());
          number_attribute(set, "underflow", H5::PredType::NATIVE_UINT64, h->underflow());
          number_attribute(set, "overflow", H5::PredType::NATIVE_UINT64, h->overflow());
          number_attribute(set, "samples", H5::PredType::NATIVE_UINT64, h->samples());
          number_attribute(set, "sum", H5::PredType::NATIVE_DOUBLE, h->sum());
          number_attribute(set, "min", H5::PredType::NATIVE_DOUBLE, h->min());
          number_attribute(set, "max", H5::PredType::NATIVE_DOUBLE, h->max());
          number_attribute(set, "mean", H5::PredType::NATIVE_DOUBLE, h->mean());
        } else if (const auto* v = dynamic_cast<const VectorStat*>(s)) {
          uint64_dataset(stats_group, s->name(), {v->counts().size()}, v->counts(), set);
          string_array_attribute(set, "labels", v->labels());
        } else if (const auto* m = dynamic_cast<const MatrixStat*>(s)) {
          uint64_dataset(stats_group, s->name(), {m->rows(), m->columns()}, m->cells(), set);
          string_array_attribute(set, "row_labels", m->row_labels());
          string_array_attribute(set, "column_labels", m->column_labels());
        } else {
          continue;
        }
        describe_stat(set, *s);
      }
    }

    // walks/: soft links to well-known statistics.
    for (const auto& [link, stat_name] : run.links) {
      const auto slash = link.rfind('/');
      if (slash != std::string::npos) {
        const std::string parent = link.substr(0, slash);
        if (!group.nameExists(parent)) group.createGroup(parent);
      }
      group.link(H5L_TYPE_SOFT, "/runs/" + run.run_id + "/stats/" + stat_name, link);
    }

    // timeline: cycle column, then every single-valued statistic.
    std::vector<std::string> columns{"cycle"};
    std::vector<double> cells;
    hsize_t rows = 0;
    if (run.stats) {
      for (const auto& c : run.stats->timeline_columns()) columns.push_back(c);
      if (run.stats->timeline_columns().empty()) {
        for (const auto* s : run.stats->all())
          if (is_scalar_kind(s->kind())) columns.push_back(s->name());
      }
      for (const auto& row : run.stats->timeline()) {
        cells.push_back(static_cast<double>(row.cycle));
        cells.insert(cells.end(), row.values.begin(), row.values.end());
        ++rows;
      }
    }
    const hsize_t shape[2] = {rows, columns.size()};
    H5::DataSet timeline = group.createDataSet("timeline", H5::PredType::NATIVE_DOUBLE, H5::DataSpace(2, shape));
    if (!cells.empty()) timeline.write(cells.data(), H5::PredType::NATIVE_DOUBLE);
    string_array_attribute(timeline, "columns", columns);
  } catch (const H5::Exception& e) {
    throw FileError(temp_path_ + ": cannot write run '" + run.run_id + "': " + e.getDetailMsg());
  }
}

void ResultWriter::copy_run(const std::string& from_path, const std::string& run_id) {
  if (!impl_ || committed_) throw std::logic_error("ResultWriter::copy_run after commit");
  try {
    H5::H5File from(from_path, H5F_ACC_RDONLY);
    const std::string source = "/runs/" + run_id;
    if (!from.nameExists(source)) throw FileError(from_path + ": no run '" + run_id + "'");
    if (H5Ocopy(from.getId(), source.c_str(), impl_->runs.getId(), run_id.c_str(), H5P_DEFAULT, H5P_DEFAULT) < 0)
      throw FileError(from_path + ": cannot copy run '" + run_id + "' into " + temp_path_);
  } catch (const H5::Exception& e) {
    throw FileError(from_path + ": cannot copy run '" + run_id + "': " + e.getDetailMsg());
  }
}

void ResultWriter::write_sweep(const SweepTable& table) {
  if (!impl_ || committed_) throw std::logic_error("ResultWriter::write_sweep after commit");
  const std::size_t rows = table.point.size();
  // Every field is 8 bytes (int64, uint64, float64 or a string pointer), laid out in order.
  constexpr std::size_t kField = 8;
  const std::size_t fixed = 5;
  const std::size_t row_bytes = kField * (fixed + table.columns.size());
  const H5::StrType text = vlen_string();
  H5::CompType type(row_bytes);
  type.insertMember("point", 0, H5::PredType::NATIVE_INT64);
  type.insertMember("run_id", kField, text);
  type.insertMember("status", 2 * kField, text);
  type.insertMember("error", 3 * kField, text);
  type.insertMember("seed", 4 * kField, H5::PredType::NATIVE_UINT64);
  for (std::size_t c = 0; c < table.columns.size(); ++c) {
    const auto& column = table.columns[c];
    const std::size_t offset = kField * (fixed + c);
    if (column.type == SweepColumn::Type::Int) type.insertMember(column.name, offset, H5::PredType::NATIVE_INT64);
    else if (column.type == SweepColumn::Type::Float) type.insertMember(column.name, offset, H5::PredType::NATIVE_DOUBLE);
    else type.insertMember(column.name, offset, text);
  }
  std::vector<unsigned char> buffer(rows * row_bytes);
  const auto put = [&](std::size_t row, std::size_t field, const void* value) {
    std::memcpy(buffer.data() + row * row_bytes + field * kField, value, kField);
  };
  for (std::size_t r = 0; r < rows; ++r) {
    const char* strings[3] = {table.run_id[r].c_str(), table.status[r].c_str(), table.error[r].c_str()};
    put(r, 0, &table.point[r]);
    for (std::size_t k = 0; k < 3; ++k) put(r, 1 + k, &strings[k]);
    put(r, 4, &table.seed[r]);
    for (std::size_t c = 0; c < table.columns.size(); ++c) {
      const auto& column = table.columns[c];
      const char* value_text = column.type == SweepColumn::Type::Text ? column.texts[r].c_str() : nullptr;
      if (column.type == SweepColumn::Type::Int) put(r, fixed + c, &column.ints[r]);
      else if (column.type == SweepColumn::Type::Float) put(r, fixed + c, &column.floats[r]);
      else put(r, fixed + c, &value_text);
    }
  }
  try {
    const hsize_t count = rows;
    H5::DataSet dataset = impl_->file.createDataSet("/sweep", type, H5::DataSpace(1, &count));
    if (rows) dataset.write(buffer.data(), type);
    std::vector<std::string> names;
    for (const auto& column : table.columns) names.push_back(column.name);
    string_array_attribute(dataset, "parameters", names);
    number_attribute(dataset, "points", H5::PredType::NATIVE_INT64, static_cast<std::int64_t>(rows));
    string_attribute(dataset, "config", table.config_text);
  } catch (const H5::Exception& e) {
    throw FileError(temp_path_ + ": cannot write the /sweep table: " + e.getDetailMsg());
  }
}

void ResultWriter::commit() {
  if (committed_) return;
  try {
    impl_->runs.close();
    impl_->file.close();
  } catch (const H5::Exception& e) {
    throw FileError(temp_path_ + ": cannot finish result file: " + e.getDetailMsg());
  }
  delete impl_;
  impl_ = nullptr;
  if (std::rename(temp_path_.c_str(), path_.c_str()) != 0)
    throw FileError("cannot rename '" + temp_path_ + "' to '" + path_ + "': " + std::strerror(errno));
  committed_ = true;
}

ResultSummary read_result_summary(const std::string& path) {
  silence_hdf5();
  std::error_code ec;
  if (!fs::exists(path, ec)) throw FileError(path + ": result file not found");
  try {
    if (!H5::H5File::isHdf5(path)) throw FileError(path + ": not an HDF5 file (expected a virtsim result file)");
  } catch (const H5::Exception&) {
    throw FileError(path + ": not an HDF5 file (expected a virtsim result file)");
  }
  ResultSummary summary;
  try {
    H5::H5File file(path, H5F_ACC_RDONLY);
    H5::Group root = file.openGroup("/");
    if (!root.attrExists("schema_version"))
      throw FileError(path + ": no 'schema_version' attribute on '/'; not a virtsim result file");
    std::int64_t schema = 0;
    root.openAttribute("schema_version").read(H5::PredType::NATIVE_INT64, &schema);
    if (schema != kResultSchemaVersion)
      throw FileError(path + ": schema version " + std::to_string(schema) + ", this virtsim reads version " +
                      std::to_string(kResultSchemaVersion));
    summary.schema_version = static_cast<int>(schema);
    if (root.attrExists("virtsim_version")) root.openAttribute("virtsim_version").read(vlen_string(), summary.virtsim_version);
    if (!file.nameExists("/runs")) throw FileError(path + ": no '/runs' group; not a virtsim result file");
    H5::Group runs = file.openGroup("/runs");
    for (hsize_t i = 0; i < runs.getNumObjs(); ++i) {
      RunSummary run;
      run.run_id = runs.getObjnameByIdx(i);
      H5::Group group = runs.openGroup(run.run_id);
      group.openAttribute("status").read(vlen_string(), run.status);
      if (group.attrExists("error")) group.openAttribute("error").read(vlen_string(), run.error);
      group.openAttribute("seed").read(H5::PredType::NATIVE_UINT64, &run.seed);
      if (group.attrExists("memory_virtualization"))
        group.openAttribute("memory_virtualization").read(vlen_string(), run.memory_virtualization);
      H5::DataSet metrics = group.openDataSet("metrics");
      hsize_t count = 0;
      metrics.getSpace().getSimpleExtentDims(&count);
      // Read just the two fields we need, as a packed compound.
      struct NameValue {
        char* name;
        double value;
      };
      H5::CompType type(sizeof(NameValue));
      type.insertMember("name", HOFFSET(NameValue, name), vlen_string());
      type.insertMember("value", HOFFSET(NameValue, value), H5::PredType::NATIVE_DOUBLE);
      std::vector<NameValue> rows(count);
      if (count) metrics.read(rows.data(), type);
      for (auto& r : rows) run.metrics[r.name] = r.value;
      if (count) H5::DataSet::vlenReclaim(rows.data(), type, metrics.getSpace());
      summary.runs.push_back(std::move(run));
    }
  } catch (const H5::Exception& e) {
    throw FileError(path + ": cannot read result file: " + e.getDetailMsg());
  }
  return summary;
}

}  // namespace virtsim
