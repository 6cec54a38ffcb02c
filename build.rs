//! Link-time settings for the `attestd` executable only (never for tests or other
//! crates): pack relative relocations (DT_RELR, glibc 2.36+ and binutils 2.38+, both in
//! Debian 12). The binary stays position-independent, but the dynamic loader no longer
//! reads about 1.3 MB of relocation records at start, which a PIE Rust binary otherwise
//! keeps resident for its whole life.
fn main() {
    let linux_gnu = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu");
    if linux_gnu {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
