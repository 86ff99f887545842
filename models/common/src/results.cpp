#include "virtsim/common/results.h"

#include <H5Cpp.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "virtsim/common/error.h"
#include "virtsim/common/version.h"

namespace virtsim {

namespace fs = std::filesystem;

namespace {

// The errno of the last system call that failed inside HDF5 (0: none since reset), taken from
// its error stack as the failing call returns: by the time our catch runs, closing the objects
// of the try block has cleared that stack. HDF5's messages end at the call ("H5Dwrite failed");
// this says why ("no space left on device").
int& hdf5_system_error() {
  static int error = 0;
  return error;
}

herr_t note_system_error(unsigned, const H5E_error2_t* entry, void*) {
  const char* at = entry->desc ? std::strstr(entry->desc, "errno = ") : nullptr;
  if (at && std::atoi(at + 8) > 0) hdf5_system_error() = std::atoi(at + 8);
  return 0;
}

herr_t on_hdf5_error(hid_t stack, void*) {
  H5Ewalk2(stack, H5E_WALK_UPWARD, note_system_error, nullptr);
  return 0;
}

// HDF5 prints its own error stack unless told not to; we report errors ourselves.
void silence_hdf5() {
  static const bool done = [] {
    H5Eset_auto2(H5E_DEFAULT, on_hdf5_error, nullptr);
    return true;
  }();
  (void)done;
}

// Why an HDF5 call failed: the system's reason when there was one, else HDF5's message.
std::string hdf5_reason(const H5::Exception& e) {
  return hdf5_system_error() ? system_error_text(hdf5_system_error()) : e.getDetailMsg();
}

// The userblock: the first bytes of every result file, which HDF5 leaves to its user. virtsim
// writes there the length and CRC-32 of everything after it, so that a reader can tell a
// damaged file before libhdf5 parses it (and perhaps crashes). Text, NUL-padded:
//   virtsim result file\nlength <bytes after the userblock>\ncrc32 <8 hex digits>\n
constexpr std::size_t kUserblockBytes = 512;
constexpr char kUserblockMagic[] = "virtsim result file\n";
constexpr char kHdf5Signature[] = "\x89HDF\r\n\x1a\n";

// The root group of `file` as the C++ API's object, which takes a reference of its own: the
// file closes only when every reference is gone.
H5::Group root_group(hid_t file) {
  const hid_t id = H5Gopen2(file, "/", H5P_DEFAULT);
  if (id < 0) throw H5::GroupIException("root_group", "H5Gopen2 failed");
  H5::Group root(id);
  H5Gclose(id);
  return root;
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

// The most timeline column names kept in the timeline's `columns` attribute (under HDF5's
// 64 KiB header-message limit, at 16 bytes a name, with room to spare).
constexpr std::size_t kTimelineColumnsInAttribute = 4000;

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

// The file is built in memory (HDF5's core driver, no backing store) and written out by
// commit() with plain write()s: a full disk is then an errno of ours, never a failure inside
// HDF5, whose 1.10 library cannot close a file whose flush failed (it crashes at exit). The
// price: memory for the whole file, twice while commit() writes it.
struct ResultWriter::Impl {
  hid_t file = H5I_INVALID_HID;
  H5::Group runs;

  // The file's bytes from the superblock on (the userblock is not part of the image); the
  // file is closed.
  std::vector<unsigned char> close_to_image() {
    runs.close();
    if (H5Fflush(file, H5F_SCOPE_LOCAL) < 0) throw H5::FileIException("ResultWriter", "H5Fflush failed");
    const ssize_t size = H5Fget_file_image(file, nullptr, 0);
    if (size < 0) throw H5::FileIException("ResultWriter", "H5Fget_file_image failed");
    std::vector<unsigned char> image(static_cast<std::size_t>(size));
    if (H5Fget_file_image(file, image.data(), image.size()) != size)
      throw H5::FileIException("ResultWriter", "H5Fget_file_image failed");
    close();
    return image;
  }

  void close() {
    try {
      runs.close();
    } catch (const H5::Exception&) {
    }
    if (file != H5I_INVALID_HID) H5Fclose(file);
    file = H5I_INVALID_HID;
  }

  ~Impl() { close(); }
};

ResultWriter::ResultWriter(std::string path, bool force) : path_(std::move(path)), force_(force) {
  check_output_path(path_, force);
  silence_hdf5();
  remove_stale_temporaries(path_);
  temp_path_ = create_temporary(path_, &temp_fd_);
  impl_ = new Impl;
  hid_t creation = H5I_INVALID_HID, access = H5I_INVALID_HID;
  try {
    hdf5_system_error() = 0;
    creation = H5Pcreate(H5P_FILE_CREATE);
    access = H5Pcreate(H5P_FILE_ACCESS);
    // The earliest format: H5Fget_file_image copies the 1.8 format's superblock with a wrong
    // checksum (HDF5 1.10.8).
    if (H5Pset_userblock(creation, kUserblockBytes) < 0 ||
        H5Pset_fapl_core(access, std::size_t{1} << 20, false) < 0)
      throw H5::FileIException("ResultWriter", "cannot set the file's properties");
    impl_->file = H5Fcreate(temp_path_.c_str(), H5F_ACC_TRUNC, creation, access);
    if (impl_->file < 0) throw H5::FileIException("ResultWriter", "H5Fcreate failed");
    H5::Group root = root_group(impl_->file);
    number_attribute(root, "schema_version", H5::PredType::NATIVE_INT64, std::int64_t{kResultSchemaVersion});
    string_attribute(root, "virtsim_version", version());
    string_attribute(root, "git_revision", git_revision());
    string_attribute(root, "created", utc_timestamp());
    impl_->runs = root.createGroup("/runs");
    H5Pclose(creation);
    H5Pclose(access);
  } catch (const H5::Exception& e) {
    if (creation >= 0) H5Pclose(creation);
    if (access >= 0) H5Pclose(access);
    const std::string reason = hdf5_reason(e);
    discard();
    throw FileError(path_ + ": cannot create the result file: " + reason);
  }
}

void ResultWriter::discard() {
  delete impl_;
  impl_ = nullptr;
  if (temp_fd_ >= 0) ::close(temp_fd_);
  temp_fd_ = -1;
  ::unlink(temp_path_.c_str());
}

ResultWriter::~ResultWriter() {
  if (!committed_) discard();
}

void ResultWriter::write_run(const RunRecord& run) {
  if (!impl_ || committed_) throw std::logic_error("ResultWriter::write_run after commit");
  hdf5_system_error() = 0;
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

    // vms/vmK: each VM's memory virtualization and its own statistics (the first VM's
    // memory_virtualization is also the run's attribute above).
    if (!run.vms.empty()) {
      H5::Group vms_group = group.createGroup("vms");
      for (std::size_t k = 0; k < run.vms.size(); ++k) {
        H5::Group vm_group = vms_group.createGroup("vm" + std::to_string(k));
        string_attribute(vm_group, "memory_virtualization", run.vms[k].memory_virtualization);
        std::vector<std::string> names;
        std::vector<const StatBase*> rows;
        if (run.stats)
          for (const auto* s : run.stats->all())
            for (const auto& [prefix, replacement] : run.vms[k].statistics)
              if (is_scalar_kind(s->kind()) && s->name().rfind(prefix, 0) == 0) {
                names.push_back(replacement + s->name().substr(prefix.size()));
                rows.push_back(s);
                break;
              }
        std::vector<MetricRow> vm_metrics;
        for (std::size_t i = 0; i < rows.size(); ++i)
          vm_metrics.push_back({names[i].c_str(), rows[i]->value(), rows[i]->unit().c_str(), to_string(rows[i]->kind())});
        const hsize_t count = vm_metrics.size();
        H5::DataSet set = vm_group.createDataSet("metrics", metric_type(), H5::DataSpace(1, &count));
        if (!vm_metrics.empty()) set.write(vm_metrics.data(), metric_type());
      }
    }

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
    // An attribute lives in its object's header, whose messages HDF5 caps at 64 KiB (16 bytes
    // a name here); more names than fit (from 47 vCPUs on) go to a dataset beside the timeline.
    if (columns.size() <= kTimelineColumnsInAttribute) {
      string_array_attribute(timeline, "columns", columns);
    } else {
      const hsize_t count = columns.size();
      const H5::StrType text = vlen_string();
      H5::DataSet names = group.createDataSet("timeline_columns", text, H5::DataSpace(1, &count));
      std::vector<const char*> pointers;
      for (const auto& c : columns) pointers.push_back(c.c_str());
      names.write(pointers.data(), text);
    }
  } catch (const H5::Exception& e) {
    throw FileError(path_ + ": cannot write run '" + run.run_id + "': " + hdf5_reason(e));
  }
}

void ResultWriter::copy_run(const std::string& from_path, const std::string& run_id) {
  if (!impl_ || committed_) throw std::logic_error("ResultWriter::copy_run after commit");
  verify_result_file(from_path);
  hdf5_system_error() = 0;
  try {
    H5::H5File from(from_path, H5F_ACC_RDONLY);
    const std::string source = "/runs/" + run_id;
    if (!from.nameExists(source)) throw FileError(from_path + ": no run '" + run_id + "'");
    if (H5Ocopy(from.getId(), source.c_str(), impl_->runs.getId(), run_id.c_str(), H5P_DEFAULT, H5P_DEFAULT) < 0)
      throw H5::FileIException("ResultWriter::copy_run", "H5Ocopy failed");
  } catch (const H5::Exception& e) {
    throw FileError(path_ + ": cannot copy run '" + run_id + "' of " + from_path + ": " + hdf5_reason(e));
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
  hdf5_system_error() = 0;
  try {
    const hsize_t count = rows;
    H5::Group root = root_group(impl_->file);
    H5::DataSet dataset = root.createDataSet("sweep", type, H5::DataSpace(1, &count));
    if (rows) dataset.write(buffer.data(), type);
    std::vector<std::string> names;
    for (const auto& column : table.columns) names.push_back(column.name);
    string_array_attribute(dataset, "parameters", names);
    number_attribute(dataset, "points", H5::PredType::NATIVE_INT64, static_cast<std::int64_t>(rows));
    string_attribute(dataset, "config", table.config_text);
  } catch (const H5::Exception& e) {
    throw FileError(path_ + ": cannot write the /sweep table: " + hdf5_reason(e));
  }
}

void ResultWriter::commit() {
  if (committed_) return;
  hdf5_system_error() = 0;
  std::vector<unsigned char> image;
  try {
    image = impl_->close_to_image();
  } catch (const H5::Exception& e) {
    const std::string reason = hdf5_reason(e);
    discard();
    throw FileError(path_ + ": cannot finish the result file: " + reason);
  }
  delete impl_;
  impl_ = nullptr;
  char userblock[kUserblockBytes] = {};
  std::snprintf(userblock, sizeof userblock, "%slength %" PRIu64 "\ncrc32 %08" PRIx32 "\n", kUserblockMagic,
                static_cast<std::uint64_t>(image.size()), crc32_of(image.data(), image.size()));
  int error = write_all(temp_fd_, userblock, sizeof userblock);
  if (!error) error = write_all(temp_fd_, image.data(), image.size());
  // Some file systems (NFS) report a failed write only when the file is closed.
  if (::close(temp_fd_) != 0 && !error) error = errno;
  temp_fd_ = -1;
  if (error) {
    discard();
    throw FileError(path_ + ": cannot write the result file: " + system_error_text(error));
  }
  try {
    install_temporary(temp_path_, path_, force_);
  } catch (const FileError&) {
    discard();
    throw;
  }
  committed_ = true;
}

void verify_result_file(const std::string& path) {
  // Non-blocking: a FIFO must not hang the check (the reader then refuses it).
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return;  // the reader says what is wrong with it
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return;
  }
  char block[kUserblockBytes + 1] = {};
  const ssize_t got = ::pread(fd, block, kUserblockBytes, 0);
  const auto corrupted = [&](const std::string& why) {
    ::close(fd);
    throw FileError(path + ": corrupted result file (" + why + ")");
  };
  const std::size_t magic = sizeof kUserblockMagic - 1;
  if (got < 0 || std::memcmp(block, kHdf5Signature, sizeof kHdf5Signature - 1) == 0) {
    ::close(fd);  // written before files carried a checksum: nothing to check against
    return;
  }
  if (got < static_cast<ssize_t>(magic) || std::memcmp(block, kUserblockMagic, magic) != 0) {
    // HDF5 looks for its signature at 512, 1024, ... bytes too: a damaged userblock?
    char signature[sizeof kHdf5Signature - 1] = {};
    if (::pread(fd, signature, sizeof signature, kUserblockBytes) == static_cast<ssize_t>(sizeof signature) &&
        std::memcmp(signature, kHdf5Signature, sizeof signature) == 0)
      corrupted("its first 512 bytes, the checksum header, are damaged");
    ::close(fd);
    return;  // not a result file at all: the reader says so
  }
  std::uint64_t length = 0;
  std::uint32_t crc = 0;
  // Every byte of the header counts: it must be the one the writer makes of its values.
  char expected[kUserblockBytes + 1] = {};
  if (std::sscanf(block + magic, "length %" SCNu64 "\ncrc32 %8" SCNx32 "\n", &length, &crc) == 2)
    std::snprintf(expected, kUserblockBytes, "%slength %" PRIu64 "\ncrc32 %08" PRIx32 "\n", kUserblockMagic,
                  length, crc);
  if (got != static_cast<ssize_t>(kUserblockBytes) || std::memcmp(block, expected, kUserblockBytes) != 0)
    corrupted("its first 512 bytes, the checksum header, are damaged");
  std::vector<unsigned char> buffer(std::size_t{1} << 20);
  std::uint64_t found = 0;
  std::uint32_t found_crc = 0;
  for (off_t offset = kUserblockBytes;;) {
    const ssize_t n = ::pread(fd, buffer.data(), buffer.size(), offset);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) corrupted(std::string("cannot read it: ") + system_error_text(errno));
    if (n == 0) break;
    found_crc = crc32_of(buffer.data(), static_cast<std::size_t>(n), found_crc);
    found += static_cast<std::uint64_t>(n);
    offset += n;
  }
  if (found != length)
    corrupted(std::to_string(kUserblockBytes + found) + " bytes where it was written with " +
              std::to_string(kUserblockBytes + length) + ": " + (found < length ? "truncated" : "extended"));
  if (found_crc != crc) {
    char text[96];
    std::snprintf(text, sizeof text, "CRC-32 %08" PRIx32 " where it was written with %08" PRIx32, found_crc,
                  crc);
    corrupted(text);
  }
  ::close(fd);
}

namespace {

// One column of a compound dataset, read through a compound of just that member.
template <typename T>
std::vector<T> read_member(const H5::DataSet& set, const std::string& member, const H5::DataType& type,
                           hsize_t rows) {
  H5::CompType one(sizeof(T));
  one.insertMember(member, 0, type);
  std::vector<T> out(rows);
  if (rows) set.read(out.data(), one);
  return out;
}

}  // namespace

std::map<std::string, std::vector<std::pair<std::string, SweptValue>>> read_swept_values(const std::string& path) {
  std::map<std::string, std::vector<std::pair<std::string, SweptValue>>> out;
  try {
    H5::H5File file(path, H5F_ACC_RDONLY);
    if (!file.nameExists("/sweep")) return out;
    const H5::DataSet set = file.openDataSet("/sweep");
    hsize_t rows = 0;
    set.getSpace().getSimpleExtentDims(&rows);
    const H5::CompType type = set.getCompType();
    std::vector<char*> run_ids = read_member<char*>(set, "run_id", vlen_string(), rows);
    std::vector<std::string> ids(run_ids.begin(), run_ids.end());
    for (char* p : run_ids) std::free(p);
    // The columns after the fixed ones (point, run_id, status, error, seed) are the swept values.
    for (int m = 0; m < type.getNmembers(); ++m) {
      const std::string name = type.getMemberName(m);
      if (name == "point" || name == "run_id" || name == "status" || name == "error" || name == "seed")
        continue;
      std::vector<SweptValue> values(rows);
      const H5T_class_t kind = type.getMemberClass(m);
      if (kind == H5T_INTEGER) {
        const auto column = read_member<std::int64_t>(set, name, H5::PredType::NATIVE_INT64, rows);
        for (hsize_t r = 0; r < rows; ++r) values[r] = column[r];
      } else if (kind == H5T_FLOAT) {
        const auto column = read_member<double>(set, name, H5::PredType::NATIVE_DOUBLE, rows);
        for (hsize_t r = 0; r < rows; ++r) values[r] = column[r];
      } else {
        auto column = read_member<char*>(set, name, vlen_string(), rows);
        for (hsize_t r = 0; r < rows; ++r) {
          values[r] = std::string(column[r] ? column[r] : "");
          std::free(column[r]);
        }
      }
      for (hsize_t r = 0; r < rows; ++r)
        if (!ids[r].empty()) out[ids[r]].emplace_back(name, values[r]);
    }
  } catch (const H5::Exception& e) {
    throw FileError(path + ": cannot read the /sweep table: " + e.getDetailMsg());
  }
  return out;
}

std::map<std::string, double> read_statistic_values(const std::string& path, const std::string& run_id) {
  std::map<std::string, double> out;
  try {
    H5::H5File file(path, H5F_ACC_RDONLY);
    const std::string where = "/runs/" + run_id + "/stats";
    if (!file.nameExists(where)) return out;
    H5::Group stats = file.openGroup(where);
    const auto labels = [](const H5::DataSet& set, const std::string& attribute) {
      std::vector<std::string> names;
      if (!set.attrExists(attribute)) return names;
      const H5::Attribute a = set.openAttribute(attribute);
      hsize_t count = 0;
      a.getSpace().getSimpleExtentDims(&count);
      std::vector<char*> texts(count);
      if (count) a.read(vlen_string(), texts.data());
      for (char* t : texts) {
        names.emplace_back(t ? t : "");
        std::free(t);
      }
      return names;
    };
    const auto number = [](const H5::DataSet& set, const std::string& attribute) {
      double v = 0;
      set.openAttribute(attribute).read(H5::PredType::NATIVE_DOUBLE, &v);
      return v;
    };
    for (hsize_t i = 0; i < stats.getNumObjs(); ++i) {
      const std::string name = stats.getObjnameByIdx(i);
      const H5::DataSet set = stats.openDataSet(name);
      const H5::DataSpace space = set.getSpace();
      std::vector<hsize_t> shape(static_cast<std::size_t>(space.getSimpleExtentNdims()));
      space.getSimpleExtentDims(shape.data());
      if (set.attrExists("samples")) {  // a histogram
        for (const char* field : {"samples", "mean", "min", "max", "underflow", "overflow"})
          out[name + "." + field] = number(set, field);
        continue;
      }
      hsize_t cells = 1;
      for (hsize_t d : shape) cells *= d;
      std::vector<std::uint64_t> counts(cells);
      if (cells) set.read(counts.data(), H5::PredType::NATIVE_UINT64);
      if (shape.size() == 1) {
        const auto names = labels(set, "labels");
        for (hsize_t c = 0; c < cells; ++c)
          out[name + "[" + (c < names.size() ? names[c] : std::to_string(c)) + "]"] =
              static_cast<double>(counts[c]);
      } else if (shape.size() == 2) {
        const auto rows = labels(set, "row_labels"), columns = labels(set, "column_labels");
        for (hsize_t r = 0; r < shape[0]; ++r)
          for (hsize_t c = 0; c < shape[1]; ++c)
            out[name + "[" + (r < rows.size() ? rows[r] : std::to_string(r)) + "," +
                (c < columns.size() ? columns[c] : std::to_string(c)) + "]"] =
                static_cast<double>(counts[r * shape[1] + c]);
      }
    }
  } catch (const H5::Exception& e) {
    throw FileError(path + ": cannot read the statistics of run '" + run_id + "': " + e.getDetailMsg());
  }
  return out;
}

ResultSummary read_result_summary(const std::string& path) {
  silence_hdf5();
  std::error_code ec;
  if (!fs::exists(path, ec)) throw FileError(path + ": result file not found");
  if (!fs::is_regular_file(path, ec)) throw FileError(path + ": not a file (expected a virtsim result file)");
  verify_result_file(path);
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
