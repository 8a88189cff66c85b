//! The TCP connections one process holds, read from `/proc` (Linux): to prove a vault
//! opens no connection of its own while a test drives it.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// One TCP socket of the process.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Socket {
    /// Its local port.
    pub local_port: u16,
    /// The other end (`address:port`, hex as in `/proc/net/tcp`).
    pub remote: String,
    /// The kernel's state number (1 established, 2 SYN sent, 10 listening).
    pub state: u8,
}

/// The TCP sockets process `pid` holds now.
pub fn sockets(pid: u32) -> Vec<Socket> {
    let inodes: HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter_map(|target| {
            let target = target.to_string_lossy().into_owned();
            Some(
                target
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .to_owned(),
            )
        })
        .collect();
    let mut out = Vec::new();
    for table in ["tcp", "tcp6"] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 10 || !inodes.contains(fields[9]) {
                continue;
            }
            let port = |address: &str| {
                address
                    .rsplit_once(':')
                    .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
                    .unwrap_or(0)
            };
            out.push(Socket {
                local_port: port(fields[1]),
                remote: fields[2].to_owned(),
                state: u8::from_str_radix(fields[3], 16).unwrap_or(0),
            });
        }
    }
    out
}

/// Watches process `pid` until dropped, sampling every few milliseconds: the connections
/// it opened itself (not to its own `port`), and how many it accepted on `port`.
pub struct Watch {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<(HashSet<Socket>, usize)>>,
}

impl Watch {
    /// Starts watching.
    pub fn start(pid: u32, port: u16) -> Watch {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let (mut outgoing, mut accepted) = (HashSet::new(), HashSet::new());
            while !flag.load(Ordering::SeqCst) {
                for socket in sockets(pid) {
                    let open = matches!(socket.state, 1 | 2);
                    if open && socket.local_port == port {
                        accepted.insert(socket.remote.clone());
                    } else if open {
                        outgoing.insert(socket);
                    }
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            (outgoing, accepted.len())
        });
        Watch {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops; returns the connections the process opened itself, and how many distinct
    /// clients it was seen serving (proof that the watch saw anything at all).
    pub fn finish(mut self) -> (HashSet<Socket>, usize) {
        self.stop.store(true, Ordering::SeqCst);
        self.thread
            .take()
            .expect("watching")
            .join()
            .expect("the watch ran")
    }
}
