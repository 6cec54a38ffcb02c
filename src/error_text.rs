//! One error as a sentence with the causes behind it: reqwest's "error sending request
//! for url (...)" and lettre's SMTP errors say why (connection refused, reset by peer,
//! certificate expired) only in their sources. It formats; it never logs, retries or
//! decides anything.

/// `e` and each of its sources, joined by ": ".
pub fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_cause_is_named_in_order() {
        let inner = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
        let outer = std::io::Error::other(Wrapped(inner));
        assert_eq!(
            super::with_causes(&outer),
            "sending the body: reset by peer"
        );
    }

    #[derive(Debug)]
    struct Wrapped(std::io::Error);
    impl std::fmt::Display for Wrapped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("sending the body")
        }
    }
    impl std::error::Error for Wrapped {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }
}
