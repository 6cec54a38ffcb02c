//! The host file formats that more than one collector reads, parsed as the programs
//! that own them read them: generic `KEY VALUE` text (`text`), the OpenSSH server
//! configuration (`sshd_config`), Debian control stanzas (`deb822`), PAM service files and stacks (`pam`), and X.509
//! certificates (`x509`).
//!
//! Parsers here turn bytes into structure and name file and line when they refuse;
//! they never judge what a value means, never quote a value in an error, and read
//! files only through `HostRoot`.

pub mod deb822;
pub mod pam;
pub mod sshd_config;
pub mod text;
pub mod x509;
