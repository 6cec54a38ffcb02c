//! Keeping the long-running daemon's heap small. A run allocates briefly (collector
//! output, evidence JSON, verdicts) on short-lived blocking threads. glibc would give
//! each new thread an arena of its own (up to 8 per core) and keep what was freed in
//! them, so the idle daemon would grow run after run towards the high-water mark of
//! every arena. This module only tunes the allocator and releases free pages; it never
//! frees or moves live data.

/// Make every thread allocate from the main arena (glibc's `M_ARENA_MAX = 1`): memory
/// freed after a run is then in one heap that `release_free_heap` can hand back. Call
/// before the daemon starts its threads. A no-op on other C libraries.
pub fn use_one_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; M_ARENA_MAX is a valid one.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

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
