//! The backend of bench/scale.sh: one listening socket on 0.0.0.0:PORT (on Linux it receives
//! connections to every 127.x.y.z address), THREADS blocking threads each accepting from it.
//! Every connection: read until the end of the request head (or EOF), answer a fixed
//! `HTTP/1.1 200 OK` with `Connection: close`, close. A connection that closes without sending
//! (a TCP check) is just closed. Prints `elapsed_s connections requests` every 5 s.
//!
//!   lifeline-bench-backend PORT [THREADS]
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};

const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nok\n";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = args.get(1).and_then(|p| p.parse().ok()).expect("usage: lifeline-bench-backend PORT [THREADS]");
    let threads: usize = args.get(2).and_then(|t| t.parse().ok()).unwrap_or(4);
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    socket.set_reuse_address(true).expect("SO_REUSEADDR");
    let addr: SocketAddr = ([0, 0, 0, 0], port).into();
    socket.bind(&addr.into()).expect("bind");
    socket.listen(65535).expect("listen"); // capped by net.core.somaxconn
    let listener: TcpListener = socket.into();
    let conns = Arc::new(AtomicU64::new(0));
    let reqs = Arc::new(AtomicU64::new(0));
    for _ in 0..threads {
        let listener = listener.try_clone().expect("clone listener");
        let (conns, reqs) = (conns.clone(), reqs.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            loop {
                let Ok((mut s, _)) = listener.accept() else { continue };
                conns.fetch_add(1, Ordering::Relaxed);
                let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
                let mut got = 0;
                loop {
                    match s.read(&mut buf[got..]) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            got += n;
                            if buf[..got].windows(4).any(|w| w == b"\r\n\r\n") {
                                if s.write_all(RESPONSE).is_ok() {
                                    reqs.fetch_add(1, Ordering::Relaxed);
                                }
                                break;
                            }
                            if got == buf.len() {
                                break;
                            }
                        }
                    }
                }
                // dropping `s` closes it
            }
        });
    }
    let start = Instant::now();
    loop {
        std::thread::sleep(Duration::from_secs(5));
        println!(
            "{:.1} {} {}",
            start.elapsed().as_secs_f64(),
            conns.load(Ordering::Relaxed),
            reqs.load(Ordering::Relaxed)
        );
    }
}
