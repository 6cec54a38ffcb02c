//! The secret walk: plant marker secrets, then look for them in every output attestd
//! produced (issue 14, D1). A `SecretWalk` holds the markers and the places searched;
//! tests add the outputs they have (process output, a database with its WAL and
//! shared-memory files, a directory such as a bundle, any file) and `assert_clean`
//! names every marker found and where. Extend it with the places a test adds (journal,
//! webhook bodies, status) by `add_bytes`.

use std::path::Path;

/// Markers to find and the outputs searched so far.
#[derive(Default)]
pub struct SecretWalk {
    markers: Vec<String>,
    places: Vec<(String, Vec<u8>)>,
}

impl SecretWalk {
    /// A walk for these markers (each should be long and unique, like a hash body).
    pub fn new<S: AsRef<str>>(markers: &[S]) -> Self {
        SecretWalk {
            markers: markers.iter().map(|m| m.as_ref().to_string()).collect(),
            places: Vec::new(),
        }
    }

    /// Add a marker found later (for example a key attestd generated).
    pub fn marker(&mut self, marker: impl Into<String>) {
        self.markers.push(marker.into());
    }

    /// Search these bytes, under a label that says where they came from.
    pub fn add_bytes(&mut self, label: impl Into<String>, bytes: impl Into<Vec<u8>>) {
        self.places.push((label.into(), bytes.into()));
    }

    /// Search a process's stdout and stderr.
    pub fn add_output(&mut self, label: &str, out: &std::process::Output) {
        self.add_bytes(format!("{label}: stdout"), out.stdout.clone());
        self.add_bytes(format!("{label}: stderr"), out.stderr.clone());
    }

    /// Search a file's raw bytes, if it exists (gzip files also decompressed).
    pub fn add_file(&mut self, path: &Path) {
        let Ok(bytes) = std::fs::read(path) else {
            return;
        };
        if bytes.starts_with(&[0x1f, 0x8b]) {
            use std::io::Read;
            let mut plain = Vec::new();
            if flate2::read::GzDecoder::new(&bytes[..])
                .read_to_end(&mut plain)
                .is_ok()
            {
                self.add_bytes(format!("{} (decompressed)", path.display()), plain);
            }
        }
        self.add_bytes(path.display().to_string(), bytes);
    }

    /// Search a SQLite database: every text value of every table, read through SQL,
    /// and the raw bytes of the database, its WAL and shared-memory files (freed
    /// pages and uncheckpointed frames included).
    pub fn add_database(&mut self, db: &Path) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            self.add_file(Path::new(&format!("{}{suffix}", db.display())));
        }
        let conn =
            rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .unwrap_or_else(|e| panic!("{}: {e}", db.display()));
        let tables: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        let mut text = String::new();
        for table in tables {
            let mut stmt = conn.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap();
            let columns = stmt.column_count();
            let mut rows = stmt.query([]).unwrap();
            while let Some(row) = rows.next().unwrap() {
                for i in 0..columns {
                    match row.get_ref(i).unwrap() {
                        rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => {
                            text.push_str(&String::from_utf8_lossy(t));
                            text.push('\n');
                        }
                        _ => {}
                    }
                }
            }
        }
        self.add_bytes(format!("{} (stored text)", db.display()), text);
    }

    /// Search every file under a directory (a bundle, a state directory).
    pub fn add_tree(&mut self, dir: &Path) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                self.add_tree(&path);
            } else {
                self.add_file(&path);
            }
        }
    }

    /// How many places were searched.
    pub fn places(&self) -> usize {
        self.places.len()
    }

    /// Every (marker, place) where a marker was found.
    pub fn leaks(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (label, bytes) in &self.places {
            for m in &self.markers {
                if bytes.windows(m.len()).any(|w| w == m.as_bytes()) {
                    let at = bytes
                        .windows(m.len())
                        .position(|w| w == m.as_bytes())
                        .unwrap();
                    let from = at.saturating_sub(120);
                    let context =
                        String::from_utf8_lossy(&bytes[from..(at + m.len()).min(bytes.len())]);
                    out.push(format!("`{m}` in {label}: …{context}"));
                }
            }
        }
        out
    }

    /// Fail, naming each leak, when any marker was found.
    pub fn assert_clean(&self) {
        assert!(!self.markers.is_empty(), "a secret walk without markers");
        let leaks = self.leaks();
        assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n"));
    }
}
