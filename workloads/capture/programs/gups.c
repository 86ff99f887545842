/* Random-access updates to a large table, in the manner of the HPC Challenge RandomAccess
 * (GUPS) benchmark: the random-access HPC kernel of the capture suite
 * (workloads/capture/capture-suite). Each update XORs a pseudo-random 64-bit value into the
 * table entry its low bits select; the value stream is the benchmark's shift-register
 * generator (x -> 2x, XOR 7 when the top bit was set) from a fixed start, so runs are
 * deterministic. Nearly every update touches another page: the TLB and page-walk bound case.
 * Usage: gups [log2_entries] [updates]   (defaults 22: a 32 MiB table, 8388608 updates)
 * Prints a checksum of the table. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  unsigned log2_entries = argc > 1 ? (unsigned)atoi(argv[1]) : 22;
  uint64_t updates = argc > 2 ? strtoull(argv[2], NULL, 10) : 8388608ull;
  uint64_t entries = 1ull << log2_entries;
  uint64_t *table = malloc(sizeof *table * entries);
  if (!table) {
    fputs("gups: out of memory\n", stderr);
    return 1;
  }
  for (uint64_t i = 0; i < entries; ++i) table[i] = i;
  uint64_t x = 1;
  for (uint64_t u = 0; u < updates; ++u) {
    x = (x << 1) ^ ((int64_t)x < 0 ? 7u : 0u);
    table[x & (entries - 1)] ^= x;
  }
  uint64_t checksum = 0;
  for (uint64_t i = 0; i < entries; i += 512) checksum ^= table[i];
  printf("%llu updates over %llu entries: checksum %016llx\n", (unsigned long long)updates,
         (unsigned long long)entries, (unsigned long long)checksum);
  return 0;
}
