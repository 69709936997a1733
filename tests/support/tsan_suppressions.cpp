// Linked into every test binary of a ThreadSanitizer build (tests/CMakeLists.txt).
//
// Debian's librocksdb.a is not built with TSan, so TSan sees the memory
// accesses RocksDB makes through intercepted calls (memcpy, libstdc++
// string code) but not the atomics that order them. When several threads
// write at once, RocksDB's write group has a leader append the others'
// WriteBatches, insert into the memtable concurrently and hand the WAL
// writer's buffer from one leader to the next, all ordered by those
// atomics: each shows up as a "race" whose stacks run through RocksDB.
// Reports with a RocksDB frame are therefore dropped; races in Sluice's own
// code (no RocksDB frame) are still reported. A race between Sluice code
// and RocksDB's reading of a buffer Sluice handed it would be dropped too:
// it cannot be told apart from the above without an instrumented RocksDB.
extern "C" const char* __tsan_default_suppressions() {
  return "race:rocksdb::\n";
}
