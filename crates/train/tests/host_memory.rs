//! `keep_freed_memory` on glibc: a large block, freed and allocated again, is reused from the
//! heap instead of being mapped, page-faulted and zeroed anew.

#![cfg(all(target_os = "linux", target_env = "gnu"))]

use w2s_train::host_memory::keep_freed_memory;

/// Above the 32 MiB that glibc's adaptive mmap threshold reaches, below its 64 MiB arena heap.
const BLOCK: usize = 40 << 20;
const PAGE: usize = 4096;

fn write_a_block() {
    let block = vec![1u8; BLOCK];
    std::hint::black_box(&block);
}

/// Minor page faults of the calling thread so far (field 10 of /proc/thread-self/stat).
fn minor_faults() -> usize {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 1..];
    after_name.split_whitespace().nth(7).unwrap().parse().unwrap()
}

#[test]
fn a_freed_block_is_reused_without_faulting_its_pages_again() {
    assert!(keep_freed_memory());
    write_a_block();
    let before = minor_faults();
    write_a_block();
    let faults = minor_faults() - before;
    assert!(
        faults < BLOCK / PAGE / 10,
        "{faults} page faults writing a freed block of {} pages again",
        BLOCK / PAGE
    );
}
