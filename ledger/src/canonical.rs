//! Canonical JSON: what a row body's bytes are. Object keys sorted, no whitespace,
//! numbers and strings as serde_json writes them. The content hash covers these bytes,
//! so every writer of rows must produce them through [`canonical_json`].

use serde::Serialize;

/// The canonical JSON text of a value.
///
/// Serialising through `serde_json::Value` sorts object keys (serde_json's map is a
/// BTreeMap unless its `preserve_order` feature is on; a test below fails if a
/// dependency ever turns it on).
pub fn canonical_json<T: Serialize + ?Sized>(value: &T) -> Result<String, serde_json::Error> {
    let v = serde_json::to_value(value)?;
    serde_json::to_string(&v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_sorted_and_there_is_no_whitespace() {
        #[derive(Serialize)]
        struct S {
            zeta: u8,
            alpha: &'static str,
            mid: Vec<u8>,
        }
        let text = canonical_json(&S {
            zeta: 1,
            alpha: "a b",
            mid: vec![1, 2],
        })
        .unwrap();
        assert_eq!(text, r#"{"alpha":"a b","mid":[1,2],"zeta":1}"#);
    }
}
