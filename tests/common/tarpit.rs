//! A network peer that accepts every connection, keeps it open and never sends a byte:
//! the input that makes a TLS probe wait until its timeout. Test-only.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A peer that accepts every connection, keeps it and never sends a byte.
pub struct Tarpit {
    pub port: u16,
    held: Arc<Mutex<Vec<TcpStream>>>,
}

impl Tarpit {
    pub fn start() -> Tarpit {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let held = Arc::new(Mutex::new(Vec::new()));
        let h = held.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                h.lock().unwrap().push(stream);
            }
        });
        Tarpit { port, held }
    }

    pub fn connections(&self) -> usize {
        self.held.lock().unwrap().len()
    }

    /// Whether every connection held so far has been closed by the other end.
    pub fn all_closed(&self) -> bool {
        let held = self.held.lock().unwrap();
        held.iter().all(|s| {
            let mut s = s.try_clone().unwrap();
            s.set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            let mut buf = [0u8; 4096];
            loop {
                match s.read(&mut buf) {
                    Ok(0) => return true,
                    // A ClientHello the prober sent before it stalled: read on.
                    Ok(_) => continue,
                    Err(e) => {
                        return e.kind() == std::io::ErrorKind::ConnectionReset;
                    }
                }
            }
        })
    }
}
