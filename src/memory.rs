//! Returning memory to the kernel between runs. A run allocates briefly (collector
//! output, evidence JSON, verdicts) on several threads; glibc keeps what was freed in
//! its per-thread arenas, so an idle daemon would hold the high-water mark of its last
//! run. This module only releases free heap pages; it never frees or moves live data.

/// Give the free pages of every malloc arena back to the kernel (glibc's
/// `malloc_trim`). A no-op on other C libraries.
pub fn release_free_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only inspects the allocator's own free lists and takes its
    // locks; it is safe to call at any time from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}
