//! Keeping the long-running daemon's memory small between runs.
//!
//! The heap: a run allocates briefly (collector output, evidence JSON, verdicts) on
//! short-lived blocking threads. glibc would give each new thread an arena of its own
//! (up to 8 per core) and keep what was freed in them, so the idle daemon would grow run
//! after run towards the high-water mark of every arena.
//!
//! Code: a run touches several megabytes of attestd's code (the policy engine, SQLite,
//! the pipeline) that the idle daemon does not run until the next one. Those pages are
//! clean copies of the files they were mapped from, so after a run they are unmapped
//! (`release_clean_file_pages`); the kernel keeps them in its page cache and maps them
//! again, without reading the disk, when the next run touches them.
//!
//! This module only tunes the allocator and drops pages that are identical to their
//! file; it never frees or moves live data, and never touches a writable mapping or a
//! page that differs from its file (relocated data, anonymous memory).

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

/// Unmap the resident pages of every private, read-only file mapping whose pages are all
/// still the file's (no anonymous, copied-on-write page): attestd's own code and
/// read-only data, and the libraries'. Such a page is dropped from this process only
/// (`MADV_DONTNEED`); touching it again maps it back from the page cache with the same
/// content. Writable mappings, shared ones, and read-only ones holding relocated data
/// (RELRO: anonymous pages) are left alone. Errors are ignored: this only saves memory.
pub fn release_clean_file_pages() {
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return;
    };
    for (start, end) in clean_file_mappings(&smaps) {
        // SAFETY: [start, end) is a whole mapping of this process, private, not
        // writable, file-backed, and with no anonymous page: MADV_DONTNEED only drops
        // pages that are re-read unchanged from their file when touched again. A
        // mapping unmapped meanwhile by another thread makes the call fail (ENOMEM),
        // which is ignored.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
        }
    }
}

/// The address ranges of `/proc/self/smaps` entries that `release_clean_file_pages`
/// may drop: perms `r-?p` (readable, not writable, private), a path, resident pages and
/// `Anonymous: 0 kB`.
fn clean_file_mappings(smaps: &str) -> Vec<(usize, usize)> {
    struct Entry {
        range: (usize, usize),
        candidate: bool,
        rss_kb: u64,
        anonymous_kb: Option<u64>,
    }
    let mut entries: Vec<Entry> = Vec::new();
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let first = fields.next().unwrap_or("");
        if let Some((a, b)) = first.split_once('-') {
            if let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16)) {
                let perms = fields.next().unwrap_or("").as_bytes();
                let path = fields.nth(3).unwrap_or("");
                let candidate = perms.len() == 4
                    && perms[0] == b'r'
                    && perms[1] == b'-'
                    && perms[3] == b'p'
                    && path.starts_with('/');
                entries.push(Entry {
                    range: (a, b),
                    candidate,
                    rss_kb: 0,
                    anonymous_kb: None,
                });
                continue;
            }
        }
        let Some(entry) = entries.last_mut() else {
            continue;
        };
        let kb = || fields.clone().next().and_then(|v| v.parse::<u64>().ok());
        match first {
            "Rss:" => entry.rss_kb = kb().unwrap_or(0),
            "Anonymous:" => entry.anonymous_kb = kb(),
            _ => {}
        }
    }
    entries
        .into_iter()
        .filter(|e| e.candidate && e.rss_kb > 0 && e.anonymous_kb == Some(0))
        .map(|e| e.range)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
55d0c0000000-55d0c0100000 r--p 00000000 fd:01 123 /usr/bin/attestd
Rss:                1024 kB
Anonymous:             0 kB
55d0c0100000-55d0c0900000 r-xp 00100000 fd:01 123 /usr/bin/attestd
Rss:                8192 kB
Anonymous:             0 kB
55d0c0900000-55d0c0a00000 r--p 00900000 fd:01 123 /usr/bin/attestd
Rss:                1024 kB
Anonymous:          1024 kB
55d0c0a00000-55d0c0a10000 rw-p 00a00000 fd:01 123 /usr/bin/attestd
Rss:                  64 kB
Anonymous:            64 kB
7f0000000000-7f0000100000 r-xp 00000000 fd:01 456 /usr/lib/x86_64-linux-gnu/libc.so.6
Rss:                   0 kB
Anonymous:             0 kB
7f0000200000-7f0000300000 r--s 00000000 fd:01 789 /var/lib/attestd/attestd.db-shm
Rss:                   4 kB
Anonymous:             0 kB
7f0000400000-7f0000500000 rw-p 00000000 00:00 0 [heap]
Rss:                 512 kB
Anonymous:           512 kB
7ffc00000000-7ffc00002000 r-xp 00000000 00:00 0 [vdso]
Rss:                   8 kB
Anonymous:             0 kB
";

    #[test]
    fn only_clean_private_read_only_file_pages_are_chosen() {
        assert_eq!(
            clean_file_mappings(SMAPS),
            vec![
                (0x55d0c0000000, 0x55d0c0100000),
                (0x55d0c0100000, 0x55d0c0900000)
            ],
            "relocated data, writable, shared, anonymous, special and empty mappings stay"
        );
    }

    #[test]
    fn dropping_clean_pages_lowers_resident_memory_and_keeps_code_and_data_intact() {
        fn resident_file_kb() -> u64 {
            let status = std::fs::read_to_string("/proc/self/status").unwrap();
            status
                .lines()
                .find_map(|l| l.strip_prefix("RssFile:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
                .unwrap()
        }
        // Relocated read-only data (a table of function pointers and strings) must
        // survive: dropping a RELRO page would send these pointers to the file's bytes.
        type Named = (&'static str, fn(u64) -> u64);
        static TABLE: [Named; 2] = [("double", |x| x * 2), ("square", |x| x * x)];
        let before = resident_file_kb();
        release_clean_file_pages();
        let after = resident_file_kb();
        assert!(after < before, "file-backed RSS {before} kB -> {after} kB");
        assert_eq!(TABLE[0].0, "double");
        assert_eq!((TABLE[0].1)(21), 42);
        assert_eq!((TABLE[1].1)(12), 144);
        // And everything else still runs: a thread, the allocator, formatting.
        let joined = std::thread::spawn(|| format!("{:?}", vec![1, 2, 3]))
            .join()
            .unwrap();
        assert_eq!(joined, "[1, 2, 3]");
    }
}
