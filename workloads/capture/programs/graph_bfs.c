/* Breadth-first search over a generated power-law graph, the graph kernel of the capture suite
 * (workloads/capture/capture-suite). Deterministic: a fixed linear congruential generator, no
 * input, no clock. Edge endpoints follow a Zipf rank law, vertex = V * u^4 for u uniform in
 * [0,1), so the degree of the vertex of rank r falls as r^-3/4 (a power-law degree
 * distribution, few hubs and a long tail), at the cost of four multiplications per endpoint.
 * The graph is stored undirected in compressed sparse rows; BFS runs from several roots.
 * Usage: graph_bfs [log2_vertices] [edges] [roots]   (defaults 17, 1100000, 6)
 * Prints the vertices reached and the sum of their depths from each root. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static uint64_t lcg_state = 0x9e3779b97f4a7c15ull;

static double next_uniform(void) {
  lcg_state = lcg_state * 6364136223846793005ull + 1442695040888963407ull;
  return (double)(lcg_state >> 11) * (1.0 / 9007199254740992.0);
}

static uint32_t zipf_vertex(uint32_t vertices) {
  double u = next_uniform();
  double u2 = u * u;
  return (uint32_t)(vertices * (u2 * u2));
}

int main(int argc, char **argv) {
  unsigned log2_vertices = argc > 1 ? (unsigned)atoi(argv[1]) : 17;
  uint32_t edges = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : 1100000u;
  unsigned roots = argc > 3 ? (unsigned)atoi(argv[3]) : 6;
  uint32_t vertices = 1u << log2_vertices;

  uint32_t *from = malloc(sizeof *from * edges), *to = malloc(sizeof *to * edges);
  uint32_t *offset = calloc(vertices + 1, sizeof *offset);
  uint32_t *adjacent = malloc(sizeof *adjacent * 2 * (size_t)edges);
  int32_t *depth = malloc(sizeof *depth * vertices);
  uint32_t *queue = malloc(sizeof *queue * vertices);
  if (!from || !to || !offset || !adjacent || !depth || !queue) {
    fputs("graph_bfs: out of memory\n", stderr);
    return 1;
  }
  for (uint32_t e = 0; e < edges; ++e) {
    from[e] = zipf_vertex(vertices);
    to[e] = (uint32_t)(next_uniform() * vertices);  /* one skewed end, one uniform end */
  }
  for (uint32_t e = 0; e < edges; ++e) {
    ++offset[from[e] + 1];
    ++offset[to[e] + 1];
  }
  for (uint32_t v = 0; v < vertices; ++v) offset[v + 1] += offset[v];
  uint32_t *fill = malloc(sizeof *fill * vertices);
  if (!fill) return 1;
  for (uint32_t v = 0; v < vertices; ++v) fill[v] = offset[v];
  for (uint32_t e = 0; e < edges; ++e) {
    adjacent[fill[from[e]]++] = to[e];
    adjacent[fill[to[e]]++] = from[e];
  }
  free(fill);
  free(from);
  free(to);

  for (unsigned r = 0; r < roots; ++r) {
    uint32_t root = (uint32_t)(next_uniform() * vertices);
    for (uint32_t v = 0; v < vertices; ++v) depth[v] = -1;
    uint32_t head = 0, tail = 0;
    uint64_t depth_sum = 0;
    depth[root] = 0;
    queue[tail++] = root;
    while (head < tail) {
      uint32_t v = queue[head++];
      depth_sum += (uint64_t)depth[v];
      for (uint32_t i = offset[v]; i < offset[v + 1]; ++i) {
        uint32_t w = adjacent[i];
        if (depth[w] < 0) {
          depth[w] = depth[v] + 1;
          queue[tail++] = w;
        }
      }
    }
    printf("root %u: reached %u depth sum %llu\n", root, tail, (unsigned long long)depth_sum);
  }
  return 0;
}
