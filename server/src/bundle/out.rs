//! Where a fleet bundle's files go. Every file is written through [`Out`]: hashed as it
//! is written (SHA256SUMS never reads a file back), and, when the bundle is a `.tar.gz`,
//! appended to the archive as soon as it is finished (held in memory, spilled to a
//! temporary file in the staging directory past [`SPILL_AT`]). A directory bundle is
//! written into the staging directory. SHA256SUMS lists every file but itself and its
//! signature, in path order, `HASH  PATH` (what `attestd verify` and `sha256sum -c`
//! read). Never writes outside the staging directory; never writes a path twice.

use anyhow::Context;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufWriter, Seek, Write};
use std::path::{Path, PathBuf};

/// A file of a `.tar.gz` bundle larger than this goes to a temporary file until it is
/// finished.
pub const SPILL_AT: usize = 16 * 1024 * 1024;

type Archive = tar::Builder<GzEncoder<BufWriter<File>>>;

/// The bundle being written: a directory, or an archive.
pub(crate) struct Out {
    staging: PathBuf,
    /// The bundle's top directory name (inside the archive, or the staging directory's).
    stem: String,
    archive: Option<Archive>,
    /// Directories already in the archive.
    dirs: BTreeSet<String>,
    sums: BTreeMap<String, String>,
    spills: u64,
    mtime: u64,
}

/// Bytes gathered before they are hashed and written (serde_json writes a token at a
/// time).
const CHUNK: usize = 64 * 1024;

/// One file being written; hand it back to [`Out::finish`].
pub(crate) struct FileOut {
    rel: String,
    /// Written but not yet hashed and passed on.
    buf: Vec<u8>,
    hash: Sha256,
    len: u64,
    sink: Sink,
    /// Where it goes when it outgrows memory (archive bundles only).
    spill_to: Option<PathBuf>,
}

enum Sink {
    Disk(File),
    Memory(Vec<u8>),
    Spilled(File, PathBuf),
}

impl Write for FileOut {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(buf);
        self.len += buf.len() as u64;
        if self.buf.len() >= CHUNK {
            self.drain()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.drain()
    }
}

impl FileOut {
    /// Hash what was gathered and pass it on (to a temporary file once the file has
    /// outgrown memory).
    fn drain(&mut self) -> std::io::Result<()> {
        self.hash.update(&self.buf);
        match &mut self.sink {
            Sink::Disk(w) | Sink::Spilled(w, _) => w.write_all(&self.buf)?,
            Sink::Memory(v) => {
                v.extend_from_slice(&self.buf);
                if v.len() > SPILL_AT {
                    if let Some(path) = self.spill_to.take() {
                        let mut w = File::options()
                            .create_new(true)
                            .read(true)
                            .write(true)
                            .open(&path)?;
                        w.write_all(v)?;
                        self.sink = Sink::Spilled(w, path);
                    }
                }
            }
        }
        self.buf.clear();
        Ok(())
    }
}

impl Out {
    /// A bundle named `stem` in `staging`: the directory `staging/stem`, or (`tarball`)
    /// the archive `staging/bundle.tar.gz` whose entries are under `stem/`.
    pub fn new(staging: &Path, stem: &str, tarball: bool) -> anyhow::Result<Out> {
        let archive = if tarball {
            let path = staging.join("bundle.tar.gz");
            let f = File::create(&path).with_context(|| format!("{}", path.display()))?;
            let gz = GzEncoder::new(BufWriter::new(f), flate2::Compression::fast());
            Some(tar::Builder::new(gz))
        } else {
            std::fs::create_dir_all(staging.join(stem))?;
            None
        };
        let mtime = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Ok(Out {
            staging: staging.to_path_buf(),
            stem: stem.to_string(),
            archive,
            dirs: BTreeSet::new(),
            sums: BTreeMap::new(),
            spills: 0,
            mtime,
        })
    }

    /// Where a directory bundle is being written.
    pub fn dir(&self) -> PathBuf {
        self.staging.join(&self.stem)
    }

    /// Start the file `rel` (a `/`-separated path inside the bundle).
    pub fn create(&mut self, rel: &str) -> anyhow::Result<FileOut> {
        if self.sums.contains_key(rel) {
            anyhow::bail!("{rel}: written twice into the bundle");
        }
        let (sink, spill_to) = if self.archive.is_some() {
            self.spills += 1;
            let spill = self.staging.join(format!("spill-{}", self.spills));
            (Sink::Memory(Vec::new()), Some(spill))
        } else {
            let path = self.dir().join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).with_context(|| format!("{}", parent.display()))?;
            }
            let f = File::create(&path).with_context(|| format!("{}", path.display()))?;
            (Sink::Disk(f), None)
        };
        Ok(FileOut {
            rel: rel.to_string(),
            buf: Vec::with_capacity(CHUNK),
            hash: Sha256::new(),
            len: 0,
            sink,
            spill_to,
        })
    }

    /// The file is complete: record its SHA-256 and, for an archive, append it.
    pub fn finish(&mut self, mut f: FileOut) -> anyhow::Result<()> {
        f.drain().with_context(|| f.rel.clone())?;
        let hash = hex::encode(f.hash.finalize());
        self.append(&f.rel, f.len, f.sink)?;
        self.sums.insert(f.rel, hash);
        Ok(())
    }

    fn append(&mut self, rel: &str, len: u64, sink: Sink) -> anyhow::Result<()> {
        let Some(archive) = self.archive.as_mut() else {
            return Ok(());
        };
        // The directories above it first, once each (as `tar` would list them).
        let mut dirs = vec![String::new()];
        dirs.extend(rel.match_indices('/').map(|(i, _)| rel[..i].to_string()));
        for d in dirs {
            if self.dirs.contains(&d) {
                continue;
            }
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
            h.set_mtime(self.mtime);
            h.set_size(0);
            let path = if d.is_empty() {
                format!("{}/", self.stem)
            } else {
                format!("{}/{d}/", self.stem)
            };
            archive.append_data(&mut h, path, std::io::empty())?;
            self.dirs.insert(d);
        }
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_mtime(self.mtime);
        h.set_size(len);
        let path = format!("{}/{rel}", self.stem);
        match sink {
            Sink::Memory(v) => archive.append_data(&mut h, &path, v.as_slice())?,
            Sink::Spilled(mut f, tmp) => {
                f.rewind()?;
                archive.append_data(&mut h, &path, f)?;
                std::fs::remove_file(&tmp)?;
            }
            Sink::Disk(_) => anyhow::bail!("{rel}: written to disk in an archive bundle"),
        }
        Ok(())
    }

    /// Write the whole file `rel`.
    pub fn write(&mut self, rel: &str, bytes: &[u8]) -> anyhow::Result<()> {
        let mut f = self.create(rel)?;
        f.write_all(bytes)?;
        self.finish(f)
    }

    /// `rel` as pretty JSON and a newline.
    pub fn write_json(&mut self, rel: &str, v: &impl serde::Serialize) -> anyhow::Result<()> {
        let mut f = self.create(rel)?;
        serde_json::to_writer_pretty(&mut f, v)?;
        f.write_all(b"\n")?;
        self.finish(f)
    }

    /// Write SHA256SUMS (every file so far) and its signature, and close the archive.
    /// Returns the number of files in the bundle.
    pub fn seal(mut self, sign: impl FnOnce(&[u8]) -> Vec<u8>) -> anyhow::Result<usize> {
        let mut sums = String::new();
        for (rel, hash) in &self.sums {
            sums.push_str(&format!("{hash}  {rel}\n"));
        }
        let files = self.sums.len() + 2;
        let sig = sign(sums.as_bytes());
        for (rel, bytes) in [("SHA256SUMS", sums.into_bytes()), ("SHA256SUMS.sig", sig)] {
            let mut f = self.create(rel)?;
            f.write_all(&bytes)?;
            f.drain()?;
            let len = f.len;
            self.append(rel, len, f.sink)?;
        }
        if let Some(archive) = self.archive.take() {
            archive.into_inner()?.finish()?.flush()?;
        }
        Ok(files)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// The files of a bundle written through `Out`, read back as a user would: from the
    /// directory, or unpacked from the archive.
    fn bundle(tarball: bool) -> (tempfile::TempDir, PathBuf) {
        let t = tempfile::tempdir().unwrap();
        let mut out = Out::new(t.path(), "b", tarball).unwrap();
        // A file open across others (like gaps.csv) and one past the spill threshold.
        let mut long = out.create("gaps.csv").unwrap();
        long.write_all(b"host,collector\n").unwrap();
        out.write("hosts/a/ledger.json", b"{}\n").unwrap();
        let mut big = out.create("hosts/a/big.bin").unwrap();
        for i in 0..(SPILL_AT / 1000 + 10) {
            big.write_all(&[(i % 251) as u8; 1000]).unwrap();
        }
        out.finish(big).unwrap();
        out.write_json("hosts/b/summary.json", &serde_json::json!({"k": [1, 2]}))
            .unwrap();
        long.write_all(b"a,x\n").unwrap();
        out.finish(long).unwrap();
        assert!(
            out.write("gaps.csv", b"again").is_err(),
            "a path written twice must be refused"
        );
        let files = out.seal(|s| s.iter().rev().copied().collect()).unwrap();
        assert_eq!(files, 6, "four files, SHA256SUMS and its signature");
        let dir = if tarball {
            let x = t.path().join("x");
            let f = File::open(t.path().join("bundle.tar.gz")).unwrap();
            tar::Archive::new(flate2::read::GzDecoder::new(f))
                .unpack(&x)
                .unwrap();
            x.join("b")
        } else {
            t.path().join("b")
        };
        (t, dir)
    }

    fn check(dir: &Path) {
        let sums = std::fs::read_to_string(dir.join("SHA256SUMS")).unwrap();
        let listed: Vec<&str> = sums.lines().map(|l| &l[66..]).collect();
        assert_eq!(
            listed,
            [
                "gaps.csv",
                "hosts/a/big.bin",
                "hosts/a/ledger.json",
                "hosts/b/summary.json"
            ]
        );
        for line in sums.lines() {
            let (hash, rel) = line.split_once("  ").unwrap();
            let mut bytes = Vec::new();
            File::open(dir.join(rel))
                .unwrap()
                .read_to_end(&mut bytes)
                .unwrap();
            assert_eq!(hash, hex::encode(Sha256::digest(&bytes)), "{rel}");
        }
        assert_eq!(
            std::fs::read_to_string(dir.join("gaps.csv")).unwrap(),
            "host,collector\na,x\n"
        );
        let big = std::fs::read(dir.join("hosts/a/big.bin")).unwrap();
        assert_eq!(big.len(), (SPILL_AT / 1000 + 10) * 1000);
        assert_eq!(big[SPILL_AT + 5], ((SPILL_AT / 1000) % 251) as u8);
        assert_eq!(
            std::fs::read_to_string(dir.join("hosts/b/summary.json")).unwrap(),
            "{\n  \"k\": [\n    1,\n    2\n  ]\n}\n"
        );
        let sig = std::fs::read(dir.join("SHA256SUMS.sig")).unwrap();
        assert_eq!(sig, sums.bytes().rev().collect::<Vec<u8>>());
    }

    #[test]
    fn a_directory_bundle_lists_every_file_with_its_hash_in_path_order() {
        let (_t, dir) = bundle(false);
        check(&dir);
    }

    #[test]
    fn an_archive_holds_the_same_files_spilled_or_not_and_leaves_no_temporary_file() {
        let (t, dir) = bundle(true);
        check(&dir);
        let left: Vec<_> = std::fs::read_dir(t.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("spill-"))
            .collect();
        assert!(left.is_empty(), "temporary files left: {left:?}");
    }
}
