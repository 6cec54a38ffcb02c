//! Helpers for the collectors' unit tests: small host trees on disk. Test-only; never
//! compiled into the shipped binary.

/// Write `files` (host path, content) under a fresh temporary root.
pub fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let on_disk = dir.path().join(path.trim_start_matches('/'));
        std::fs::create_dir_all(on_disk.parent().unwrap()).unwrap();
        std::fs::write(on_disk, text).unwrap();
    }
    dir
}
