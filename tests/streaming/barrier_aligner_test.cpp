#include <catch2/catch.hpp>

#include "streaming/barrier_aligner.hpp"

using sluice::BarrierAligner;

TEST_CASE("barrier aligner: one channel passes a barrier at once", "[streaming][checkpoint]") {
  BarrierAligner a(1);
  CHECK(a.on_barrier(0, 1));
  CHECK_FALSE(a.blocked(0));
  CHECK(a.completed_id() == 1);
  CHECK_FALSE(a.aligning());
  CHECK(a.on_barrier(0, 2));
  CHECK(a.completed_id() == 2);
}

TEST_CASE("barrier aligner: blocks each channel until every channel delivered the barrier", "[streaming][checkpoint]") {
  BarrierAligner a(3);
  CHECK_FALSE(a.on_barrier(0, 7));
  CHECK(a.blocked(0));
  CHECK_FALSE(a.blocked(1));
  CHECK(a.aligning_id() == 7);
  CHECK_FALSE(a.on_barrier(2, 7));
  CHECK(a.blocked(2));
  CHECK(a.on_barrier(1, 7));
  for (std::size_t c = 0; c < 3; ++c) CHECK_FALSE(a.blocked(c));
  CHECK(a.completed_id() == 7);
  CHECK_FALSE(a.aligning());

  SECTION("the next barrier aligns afresh") {
    CHECK_FALSE(a.on_barrier(1, 8));
    CHECK(a.blocked(1));
    CHECK_FALSE(a.on_barrier(0, 8));
    CHECK(a.on_barrier(2, 8));
    CHECK(a.completed_id() == 8);
  }
  SECTION("a barrier again on a blocked channel changes nothing") {
    CHECK_FALSE(a.on_barrier(0, 8));
    CHECK_FALSE(a.on_barrier(0, 8));
    CHECK_FALSE(a.on_barrier(1, 8));
    CHECK(a.on_barrier(2, 8));
  }
  SECTION("a replayed old barrier is ignored and blocks nothing") {
    CHECK_FALSE(a.on_barrier(0, 7));
    CHECK_FALSE(a.on_barrier(0, 3));
    CHECK_FALSE(a.blocked(0));
    CHECK_FALSE(a.aligning());
  }
}

TEST_CASE("barrier aligner: ended channels count as aligned", "[streaming][checkpoint]") {
  SECTION("ended before the barrier") {
    BarrierAligner a(3);
    CHECK_FALSE(a.on_end_of_input(1));
    CHECK_FALSE(a.on_barrier(0, 1));
    CHECK(a.on_barrier(2, 1));
    CHECK(a.completed_id() == 1);
  }
  SECTION("the last channel missing ends during the alignment") {
    BarrierAligner a(2);
    CHECK_FALSE(a.on_barrier(0, 4));
    CHECK(a.on_end_of_input(1));
    CHECK(a.completed_id() == 4);
    CHECK_FALSE(a.blocked(0));
  }
  SECTION("a blocked channel that ends no longer counts as arrived") {
    BarrierAligner a(3);
    CHECK_FALSE(a.on_barrier(0, 4));
    CHECK_FALSE(a.on_end_of_input(0));  // 1 and 2 still owe the barrier
    CHECK_FALSE(a.on_barrier(1, 4));
    CHECK(a.on_barrier(2, 4));
  }
  SECTION("barriers on an ended channel are ignored; every channel ended: nothing to align") {
    BarrierAligner a(2);
    a.on_end_of_input(0);
    CHECK_FALSE(a.on_barrier(0, 1));
    CHECK_FALSE(a.on_end_of_input(0));  // twice: no effect
    CHECK(a.on_barrier(1, 1));
    CHECK_FALSE(a.on_end_of_input(1));
    CHECK_FALSE(a.aligning());
  }
}

TEST_CASE("barrier aligner: a newer barrier takes over an alignment that cannot complete", "[streaming][checkpoint]") {
  // Sources inject the newest checkpoint requested: one that was slow may
  // skip checkpoint 5 and send 6 first.
  BarrierAligner a(3);
  CHECK_FALSE(a.on_barrier(0, 5));
  CHECK_FALSE(a.on_barrier(1, 6));
  CHECK(a.aligning_id() == 6);
  CHECK_FALSE(a.blocked(0));  // released: what it sends next comes before barrier 6
  CHECK(a.blocked(1));
  CHECK_FALSE(a.on_barrier(2, 5));  // stale now: ignored, not blocked
  CHECK_FALSE(a.blocked(2));
  CHECK_FALSE(a.on_barrier(0, 6));
  CHECK(a.on_barrier(2, 6));
  CHECK(a.completed_id() == 6);
}
