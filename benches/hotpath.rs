//! Cost of answering one query in user space, without the kernel: the
//! query mix of `bench/queries.txt` against `bench/zone/example.test.zone`,
//! through the same code the UDP workers run (prebuilt fast path, general
//! path as fallback, and the per-query counters metrics read).
//!
//! `cargo bench --bench hotpath` prints ns per query (noisy on shared
//! machines); `bench/callgrind.sh` runs it under callgrind twice with
//! different round counts and reports instructions per query, which is
//! repeatable to the instruction.

use std::hint::black_box;
use std::time::Instant;

use lifeline::config::{self, Sources};
use lifeline::publish;
use lifeline::serve::dns::stats::{QueryCounts, qtype_slot, reply_slot};
use lifeline::serve::dns::{Transport, answer, fast};

fn query(name: &str, qtype: &str, id: u16) -> Vec<u8> {
    let qtype: u16 = match qtype {
        "A" => 1,
        "NS" => 2,
        "CNAME" => 5,
        "SOA" => 6,
        "MX" => 15,
        "TXT" => 16,
        "AAAA" => 28,
        other => panic!("add {other} to the bench's type table"),
    };
    let mut p = id.to_be_bytes().to_vec();
    p.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        p.push(label.len() as u8);
        p.extend_from_slice(label.as_bytes());
    }
    p.push(0);
    p.extend_from_slice(&qtype.to_be_bytes());
    p.extend_from_slice(&[0, 1]);
    p
}

fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let root = env!("CARGO_MANIFEST_DIR");
    let sources = Sources {
        zones: vec![format!("example.test={root}/bench/zone/example.test.zone")],
        listen: vec!["127.0.0.1:0".into()],
        ..Sources::default()
    };
    let mut config = config::load(&sources).expect("bench zone loads");
    let snapshot = publish::build_snapshot(&mut config, Vec::new()).expect("bench zone is valid");
    let mix = std::fs::read_to_string(format!("{root}/bench/queries.txt")).unwrap();
    let queries: Vec<Vec<u8>> = mix
        .lines()
        .filter_map(|l| l.split_once(' '))
        .enumerate()
        .map(|(i, (name, qtype))| query(name, qtype.trim(), i as u16))
        .collect();
    let mut buf = [0u8; 4096];
    let mut scratch = vec![0u8; 65535];
    let (mut fast_answers, mut bytes) = (0usize, 0usize);
    let mut counts = QueryCounts::default();
    let started = Instant::now();
    for _ in 0..rounds {
        for q in &queries {
            buf[..q.len()].copy_from_slice(q);
            let reply = match fast::answer_in_place_typed(&snapshot, &mut buf, q.len(), 0, None) {
                Some((n, qtype)) => {
                    fast_answers += 1;
                    counts.count(&buf, qtype_slot(qtype));
                    n
                }
                None => {
                    let n = answer::respond(&snapshot, &buf[..q.len()], Transport::Udp, 0, &mut scratch).unwrap_or(0);
                    if n > 0 {
                        counts.count(&scratch, reply_slot(&scratch[..n]));
                    }
                    n
                }
            };
            bytes += black_box(reply);
        }
    }
    let elapsed = started.elapsed();
    black_box(&counts);
    let total = rounds * queries.len();
    println!(
        "{total} queries: {:.1} ns/query, {:.0}% on the prebuilt path, mean reply {:.1} bytes",
        elapsed.as_nanos() as f64 / total as f64,
        100.0 * fast_answers as f64 / total as f64,
        bytes as f64 / total as f64
    );
}
