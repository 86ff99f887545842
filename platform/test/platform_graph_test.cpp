#include "virtsim/platform/platform_graph.h"

#include <gtest/gtest.h>

#include "virtsim/common/error.h"

namespace virtsim {
namespace {

std::string validation_error(const PlatformGraph& g) {
  try {
    g.validate();
  } catch (const PlatformError& e) {
    return e.what();
  }
  return "<valid>";
}

TEST(PlatformGraph, StandardPlatformIsValid) {
  const auto g = make_standard_platform(2);
  EXPECT_EQ(validation_error(g), "<valid>");
  EXPECT_EQ(boost::num_vertices(g.graph()), 8u);  // memory, kernel, 2 x (vcpu, mmu, cache)
  EXPECT_EQ(boost::num_edges(g.graph()), 12u);    // 2 x (translate, walk caches, data, walker, cache->memory, faults)
  EXPECT_EQ(g.components_of_type("vcpu").size(), 2u);
}

TEST(PlatformGraph, MissingMemoryIsNamed) {
  PlatformGraph g;
  g.add_component(vcpu_component("cpu0"));
  EXPECT_NE(validation_error(g).find("no memory component"), std::string::npos);
}

TEST(PlatformGraph, TwoMemoriesAreNamed) {
  PlatformGraph g;
  g.add_component(memory_component("m0"));
  g.add_component(memory_component("m1"));
  EXPECT_NE(validation_error(g).find("more than one memory component ('m0' and 'm1')"), std::string::npos);
}

TEST(PlatformGraph, UnboundPortNamesTheComponent) {
  PlatformGraph g;
  g.add_component(memory_component("memory"));
  g.add_component(vcpu_component("cpu0"));
  g.add_component(mmu_component("mmu0"));
  g.bind("cpu0", "translate", "mmu0", "translate");
  g.bind("mmu0", "memory", "memory", "port");
  const auto message = validation_error(g);
  EXPECT_NE(message.find("port 'cpu0.data' of component 'cpu0' (vcpu) is not bound"), std::string::npos) << message;
}

TEST(PlatformGraph, InitiatorBoundTwiceIsAnError) {
  auto g = make_standard_platform(1);
  g.add_component(mmu_component("mmu9"));
  g.bind("mmu9", "memory", "memory", "port");
  g.bind("cpu0", "translate", "mmu9", "translate");
  const auto message = validation_error(g);
  EXPECT_NE(message.find("'cpu0.translate' is bound 2 times"), std::string::npos) << message;
}

TEST(PlatformGraph, CycleNamesAComponentOnIt) {
  PlatformGraph g;
  g.add_component(memory_component("memory"));
  // Two MMUs whose walker ports feed each other: a request would never reach memory.
  g.add_component({"a", "mmu", {{"in", PortRole::Target, false}, {"out", PortRole::Initiator, true}}, ""});
  g.add_component({"b", "mmu", {{"in", PortRole::Target, false}, {"out", PortRole::Initiator, true}}, ""});
  g.add_component({"c", "vcpu", {{"data", PortRole::Initiator, true}}, ""});
  g.bind("a", "out", "b", "in");
  g.bind("b", "out", "a", "in");
  g.bind("c", "data", "memory", "port");
  const auto message = validation_error(g);
  EXPECT_NE(message.find("illegal cycle of bindings through component"), std::string::npos) << message;
  EXPECT_TRUE(message.find("'a'") != std::string::npos || message.find("'b'") != std::string::npos) << message;
}

TEST(PlatformGraph, BindingChecksNamesAndRoles) {
  auto g = make_standard_platform(1);
  EXPECT_THROW(g.bind("cpu7", "data", "memory", "port"), PlatformError);
  EXPECT_THROW(g.bind("cpu0", "nope", "memory", "port"), PlatformError);
  try {
    g.bind("memory", "port", "cpu0", "data");
    FAIL();
  } catch (const PlatformError& e) {
    EXPECT_NE(std::string(e.what()).find("is a target, cannot bind it as an initiator"), std::string::npos) << e.what();
  }
  EXPECT_THROW(g.add_component(vcpu_component("cpu0")), PlatformError);
}

TEST(PlatformGraph, DotHasEveryComponentAndBinding) {
  const auto dot = make_standard_platform(1).to_dot();
  EXPECT_NE(dot.find("digraph"), std::string::npos);
  EXPECT_NE(dot.find("cpu0\\n(vcpu)"), std::string::npos);
  EXPECT_NE(dot.find("shape=cylinder"), std::string::npos);
  EXPECT_NE(dot.find("\"cpu0\"->\"mmu0\""), std::string::npos);
  EXPECT_NE(dot.find("translate -> translate"), std::string::npos);
  EXPECT_EQ(dot.find("subgraph"), std::string::npos);  // one VM, no scheduler: no clusters
}

TEST(PlatformGraph, SeveralVmsOnSharedCpusAreClustersWithKernelsOfTheirOwn) {
  // VM 0 with one vCPU, VM 1 with three, on two physical CPUs (vCPU i on CPU i mod 2).
  const PlatformGraph g = make_standard_platform(std::vector<unsigned>{1, 3}, true, 2);
  g.validate();
  EXPECT_EQ(g.components_of_type("vcpu").size(), 4u);
  EXPECT_EQ(g.components_of_type("kernel").size(), 2u);
  EXPECT_EQ(g.components_of_type("cache").size(), 2u);  // one per physical CPU
  for (const auto* c : g.components_of_type("vcpu"))
    EXPECT_EQ(c->group, c->name == "cpu0" ? "vm0" : "vm1") << c->name;
  const auto dot = g.to_dot();
  for (const char* cluster : {"cluster_vm0", "cluster_vm1", "cluster_pcpu0", "cluster_pcpu1"})
    EXPECT_NE(dot.find(cluster), std::string::npos) << cluster;
  EXPECT_NE(dot.find("\"cpu3\"->\"cache1\""), std::string::npos);
  EXPECT_NE(dot.find("\"cpu2\"->\"cache0\""), std::string::npos);
  EXPECT_NE(dot.find("\"cpu3\"->\"kernel1\""), std::string::npos);
  EXPECT_NE(dot.find("\"cpu0\"->\"kernel\""), std::string::npos);
}

}  // namespace
}  // namespace virtsim
