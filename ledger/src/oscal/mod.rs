//! OSCAL naming shared by the host bundle (`attestd`'s `bundle::oscal`) and the fleet
//! bundle (`attestd-server bundle`): the OSCAL version written, control ids as OSCAL
//! tokens and their objective ids, and the fleet's assessment results ([`fleet`]).
//! Pure functions of their inputs: no I/O, no clock (times are passed in), so a
//! verifier recomputes every document byte for byte.

pub mod fleet;

/// The OSCAL version written (compliance-trestle's models check it).
pub const OSCAL_VERSION: &str = "1.2.1";

/// A control id as an OSCAL token, the way the catalogs write it
/// (`soc2:CC6.1` → `cc6.1`), and its framework.
pub fn control_token(id: &str) -> (String, String) {
    match id.split_once(':') {
        Some((fw, c)) => (c.to_lowercase(), fw.to_string()),
        None => (id.to_lowercase(), String::new()),
    }
}

/// The id of a control's assessment objective in its catalog (a part of the
/// control): what a finding targets.
pub fn objective_id(token: &str) -> String {
    format!("{token}_obj")
}
