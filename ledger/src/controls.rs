//! The control ID contract: `framework:ID`, with these framework prefixes
//! (`soc2:CC6.1`, `iso27001-2022:A.8.5`, `iso27001-2013:A.9.4.2`). The catalogs in
//! `policies/frameworks/` list the controls; every part of attestd names the
//! frameworks through these constants.

/// SOC 2 Trust Services Criteria.
pub const SOC2: &str = "soc2";
/// ISO/IEC 27001:2022 Annex A.
pub const ISO2022: &str = "iso27001-2022";
/// ISO/IEC 27001:2013 Annex A (equivalents of the 2022 controls).
pub const ISO2013: &str = "iso27001-2013";
/// Every framework prefix a control ID may have.
pub const FRAMEWORKS: [&str; 3] = [SOC2, ISO2022, ISO2013];
