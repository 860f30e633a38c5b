//! UDP: one thread per worker, each with its own `SO_REUSEPORT` socket,
//! receiving and sending in batches with `recvmmsg`/`sendmmsg`
//! (DESIGN.md §8). Replies leave from the address the query was sent to
//! (`IP_PKTINFO`/`IPV6_PKTINFO`), which matters on wildcard binds and
//! multi-homed hosts.
//!
//! The loop loads the current snapshot once per batch (lock-free), answers
//! each datagram in its own receive buffer, and never blocks on anything
//! but the socket. Each worker counts its batches so the batching can be
//! measured (logged at shutdown), and publishes its running totals once per
//! batch into its own [`LiveStats`], which metrics scrapes sum: no lock and
//! no shared write on the query path.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use super::answer::{self, Transport};
use super::fast;
use super::stats::{LiveCounts, QueryCounts, qtype_slot};
use crate::publish::snapshot::SharedSnapshot;

/// Datagrams taken per `recvmmsg` call at most.
const BATCH: usize = 64;
/// Receive/reply buffer per datagram: the largest EDNS payload we allow
/// (`config::limits::EDNS_UDP_SIZE.max`). Longer queries are dropped.
const BUF_LEN: usize = 4096;
/// Room for one `in6_pktinfo` control message (the larger of the two).
const CMSG_LEN: usize = 64;
/// How often an idle worker looks at the stop flag.
const IDLE_WAKE: Duration = Duration::from_millis(200);
/// Socket receive buffer: absorbs bursts while a worker is busy.
const RCVBUF: usize = 4 << 20;

/// Counters of one worker, reported when it stops.
#[derive(Debug, Default, Clone, Copy)]
pub struct WorkerStats {
    pub batches: u64,
    pub datagrams: u64,
    pub fast: u64,
    pub general: u64,
    pub dropped: u64,
}

/// One worker's running totals for metrics: written by that worker alone,
/// with plain stores once per batch, read by scrapes. Aligned to its own
/// cache lines so that workers never write to a shared one.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct LiveStats {
    pub datagrams: AtomicU64,
    /// Answered in place from prebuilt answers.
    pub fast: AtomicU64,
    /// Answered by the general path.
    pub general: AtomicU64,
    /// Not answered: truncated on receipt, unparseable, or refused by the
    /// kernel on send.
    pub dropped: AtomicU64,
    /// Replies by RCODE and by the type asked for.
    pub counts: LiveCounts,
}

impl WorkerStats {
    pub fn mean_batch(&self) -> f64 {
        if self.batches == 0 {
            0.0
        } else {
            self.datagrams as f64 / self.batches as f64
        }
    }
}

/// Binds `count` sockets to `addr` in one `SO_REUSEPORT` group. With port
/// 0 the first socket picks the port and the others join it.
pub fn bind(addr: SocketAddr, count: usize) -> io::Result<(Vec<Socket>, SocketAddr)> {
    let first = bind_one(addr)?;
    let actual = first
        .local_addr()?
        .as_socket()
        .ok_or_else(|| io::Error::other("not an inet socket"))?;
    let mut sockets = vec![first];
    for _ in 1..count {
        sockets.push(bind_one(actual)?);
    }
    Ok((sockets, actual))
}

fn bind_one(addr: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_port(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    // A smaller buffer than asked for is fine; the kernel caps it.
    let _ = socket.set_recv_buffer_size(RCVBUF);
    // Only a wildcard bind needs to learn each datagram's destination.
    if addr.ip().is_unspecified() {
        set_pktinfo(&socket, addr.is_ipv6())?;
    }
    socket.bind(&addr.into())?;
    socket.set_read_timeout(Some(IDLE_WAKE))?;
    Ok(socket)
}

fn set_pktinfo(socket: &Socket, v6: bool) -> io::Result<()> {
    let (level, name) = if v6 {
        (libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO)
    } else {
        (libc::IPPROTO_IP, libc::IP_PKTINFO)
    };
    let on: libc::c_int = 1;
    // SAFETY: valid fd, and a pointer/length pair describing `on`.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (&on as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as u32,
        )
    };
    if rc != 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Pins the calling thread to one CPU, so each worker keeps its cache and
/// its socket's softirq work stays local.
fn pin_to_cpu(cpu: usize) {
    // SAFETY: cpu_set_t is plain data; CPU_SET writes inside it; the call
    // only reads it.
    unsafe {
        let mut set: libc::cpu_set_t = zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set);
    }
}

/// A started worker: its thread (which returns its counters when it
/// stops) and its live counters.
#[derive(Debug)]
pub struct Spawned {
    pub thread: JoinHandle<WorkerStats>,
    pub live: Arc<LiveStats>,
}

/// Starts one worker thread per socket.
pub fn spawn(
    sockets: Vec<Socket>,
    snapshot: SharedSnapshot,
    stop: Arc<AtomicBool>,
    first_cpu: usize,
) -> io::Result<Vec<Spawned>> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    sockets
        .into_iter()
        .enumerate()
        .map(|(i, socket)| {
            let (snapshot, stop) = (snapshot.clone(), stop.clone());
            let live = Arc::new(LiveStats::default());
            let worker = Worker::new(socket, live.clone());
            let thread = std::thread::Builder::new().name(format!("udp-{i}")).spawn(move || {
                if cpus > 1 {
                    pin_to_cpu((first_cpu + i) % cpus);
                }
                worker.run(&snapshot, &stop)
            })?;
            Ok(Spawned { thread, live })
        })
        .collect()
}

/// Buffers for one batch, allocated once per worker.
struct Worker {
    socket: Socket,
    needs_pktinfo: bool,
    bufs: Vec<[u8; BUF_LEN]>,
    names: Vec<libc::sockaddr_storage>,
    cmsgs: Vec<[u64; CMSG_LEN / 8]>,
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
    out_cmsgs: Vec<[u64; CMSG_LEN / 8]>,
    out_iovs: Vec<libc::iovec>,
    out_hdrs: Vec<libc::mmsghdr>,
    scratch: Vec<u8>,
    stats: WorkerStats,
    /// Replies by rcode and type, published with `stats` into `live`.
    counts: QueryCounts,
    live: Arc<LiveStats>,
    /// Numbers the datagrams: picks variants of health-checked answers.
    seq: u32,
}

// SAFETY: the raw pointers inside the iovec/mmsghdr arrays point into the
// worker's own buffers, which move with it; they are rebuilt before use.
unsafe impl Send for Worker {}

impl Worker {
    fn new(socket: Socket, live: Arc<LiveStats>) -> Worker {
        let needs_pktinfo = socket
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .is_some_and(|a| a.ip().is_unspecified());
        // SAFETY: these are plain C structs for which all-zero is valid.
        let (name, iov, hdr) = unsafe {
            (
                zeroed::<libc::sockaddr_storage>(),
                zeroed::<libc::iovec>(),
                zeroed::<libc::mmsghdr>(),
            )
        };
        Worker {
            socket,
            needs_pktinfo,
            bufs: vec![[0; BUF_LEN]; BATCH],
            names: vec![name; BATCH],
            cmsgs: vec![[0; CMSG_LEN / 8]; BATCH],
            iovs: vec![iov; BATCH],
            hdrs: vec![hdr; BATCH],
            out_cmsgs: vec![[0; CMSG_LEN / 8]; BATCH],
            out_iovs: vec![iov; BATCH],
            out_hdrs: vec![hdr; BATCH],
            scratch: vec![0; u16::MAX as usize],
            stats: WorkerStats::default(),
            counts: QueryCounts::default(),
            live,
            seq: 0,
        }
    }

    /// Points every receive header at its buffers.
    fn prepare_receive(&mut self) {
        for i in 0..BATCH {
            self.iovs[i] = libc::iovec {
                iov_base: self.bufs[i].as_mut_ptr().cast(),
                iov_len: BUF_LEN,
            };
            let h = &mut self.hdrs[i].msg_hdr;
            h.msg_name = (&mut self.names[i] as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = size_of::<libc::sockaddr_storage>() as u32;
            h.msg_iov = &mut self.iovs[i];
            h.msg_iovlen = 1;
            h.msg_control = self.cmsgs[i].as_mut_ptr().cast();
            h.msg_controllen = CMSG_LEN;
            h.msg_flags = 0;
        }
    }

    fn run(mut self, snapshot: &SharedSnapshot, stop: &AtomicBool) -> WorkerStats {
        let fd = self.socket.as_raw_fd();
        self.prepare_receive();
        while !stop.load(Ordering::Relaxed) {
            // SAFETY: `hdrs` holds BATCH headers pointing at live buffers.
            let n = unsafe {
                libc::recvmmsg(
                    fd,
                    self.hdrs.as_mut_ptr(),
                    BATCH as u32,
                    libc::MSG_WAITFORONE,
                    std::ptr::null_mut(),
                )
            };
            if n <= 0 {
                continue; // timeout (stop check), EINTR, or a transient error
            }
            let n = n as usize;
            self.stats.batches += 1;
            self.stats.datagrams += n as u64;
            let current = snapshot.load();
            let mut out = 0;
            for i in 0..n {
                if let Some((len, slot)) = self.answer_one(&current, i) {
                    self.counts.count(&self.bufs[i], slot);
                    self.queue_reply(i, out, len);
                    out += 1;
                }
            }
            self.send(fd, out);
            self.reset_receive(n);
            self.publish();
        }
        self.stats
    }

    /// Stores the running totals where metrics read them: this worker is
    /// their only writer, so plain stores suffice.
    fn publish(&self) {
        let live = &self.live;
        live.datagrams.store(self.stats.datagrams, Ordering::Relaxed);
        live.fast.store(self.stats.fast, Ordering::Relaxed);
        live.general.store(self.stats.general, Ordering::Relaxed);
        live.dropped.store(self.stats.dropped, Ordering::Relaxed);
        live.counts.store(&self.counts);
    }

    /// Answers datagram `i` in its buffer: the reply's length and the
    /// [slot](qtype_slot) of the type asked for; `None` to drop it.
    fn answer_one(&mut self, snapshot: &crate::publish::snapshot::Snapshot, i: usize) -> Option<(usize, usize)> {
        self.seq = self.seq.wrapping_add(1);
        let hdr = &self.hdrs[i];
        let len = hdr.msg_len as usize;
        if hdr.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
            self.stats.dropped += 1;
            return None;
        }
        let source = source_ip(&self.names[i]);
        let buf = &mut self.bufs[i];
        if let Some((reply, qtype)) = fast::answer_in_place_typed(snapshot, buf, len, self.seq, source) {
            self.stats.fast += 1;
            return Some((reply, qtype_slot(qtype)));
        }
        let Some(reply) = answer::respond_from(
            snapshot,
            &buf[..len],
            Transport::Udp,
            self.seq,
            source,
            &mut self.scratch,
        ) else {
            self.stats.dropped += 1;
            return None;
        };
        self.stats.general += 1;
        // A UDP reply never exceeds the EDNS maximum, which fits BUF_LEN.
        let reply = reply.min(BUF_LEN);
        buf[..reply].copy_from_slice(&self.scratch[..reply]);
        Some((reply, super::stats::reply_slot(&buf[..reply])))
    }

    /// Sets up send header `out` for the reply in buffer `i`.
    fn queue_reply(&mut self, i: usize, out: usize, len: usize) {
        self.out_iovs[out] = libc::iovec {
            iov_base: self.bufs[i].as_mut_ptr().cast(),
            iov_len: len,
        };
        let control_len = if self.needs_pktinfo {
            reply_pktinfo(&self.hdrs[i].msg_hdr, &mut self.out_cmsgs[out])
        } else {
            0
        };
        let h = &mut self.out_hdrs[out].msg_hdr;
        h.msg_name = (&mut self.names[i] as *mut libc::sockaddr_storage).cast();
        h.msg_namelen = self.hdrs[i].msg_hdr.msg_namelen;
        h.msg_iov = &mut self.out_iovs[out];
        h.msg_iovlen = 1;
        h.msg_control = if control_len > 0 {
            self.out_cmsgs[out].as_mut_ptr().cast()
        } else {
            std::ptr::null_mut()
        };
        h.msg_controllen = control_len;
        h.msg_flags = 0;
    }

    /// Sends `count` queued replies; a reply the kernel refuses is skipped.
    fn send(&mut self, fd: i32, count: usize) {
        let mut sent = 0;
        while sent < count {
            // SAFETY: headers [sent, count) point at live buffers.
            let rc = unsafe { libc::sendmmsg(fd, self.out_hdrs[sent..].as_mut_ptr(), (count - sent) as u32, 0) };
            if rc > 0 {
                sent += rc as usize;
            } else if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            } else {
                sent += 1;
                self.stats.dropped += 1;
            }
        }
    }

    /// Restores the lengths the kernel overwrote in the headers used.
    fn reset_receive(&mut self, used: usize) {
        for h in &mut self.hdrs[..used] {
            h.msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as u32;
            h.msg_hdr.msg_controllen = CMSG_LEN;
            h.msg_hdr.msg_flags = 0;
        }
    }
}

/// The sender's address, from what `recvmmsg` filled in.
#[inline]
fn source_ip(name: &libc::sockaddr_storage) -> Option<IpAddr> {
    match i32::from(name.ss_family) {
        libc::AF_INET => {
            // SAFETY: the kernel wrote a sockaddr_in for an AF_INET sender;
            // sockaddr_storage is large and aligned enough for it.
            let sin = unsafe { &*(name as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr))))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for a sockaddr_in6.
            let sin6 = unsafe { &*(name as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            Some(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)))
        }
        _ => None,
    }
}

/// Builds the control message that makes the reply leave from the address
/// the query arrived at; returns its length, 0 if none was received.
fn reply_pktinfo(received: &libc::msghdr, out: &mut [u64; CMSG_LEN / 8]) -> usize {
    let Some(dst) = received_destination(received) else {
        return 0;
    };
    let out_hdr = libc::msghdr {
        msg_control: out.as_mut_ptr().cast(),
        msg_controllen: CMSG_LEN,
        ..unsafe_zeroed_msghdr()
    };
    // SAFETY: `out_hdr` describes the CMSG_LEN bytes of `out`, enough for
    // one in6_pktinfo; CMSG_FIRSTHDR/CMSG_DATA stay within it.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&out_hdr);
        match dst {
            (IpAddr::V4(addr), _) => {
                (*cmsg).cmsg_level = libc::IPPROTO_IP;
                (*cmsg).cmsg_type = libc::IP_PKTINFO;
                (*cmsg).cmsg_len = libc::CMSG_LEN(size_of::<libc::in_pktinfo>() as u32) as usize;
                let info = libc::in_pktinfo {
                    ipi_ifindex: 0,
                    ipi_spec_dst: libc::in_addr {
                        s_addr: u32::from(addr).to_be(),
                    },
                    ipi_addr: libc::in_addr { s_addr: 0 },
                };
                std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast(), info);
                libc::CMSG_SPACE(size_of::<libc::in_pktinfo>() as u32) as usize
            }
            (IpAddr::V6(addr), ifindex) => {
                (*cmsg).cmsg_level = libc::IPPROTO_IPV6;
                (*cmsg).cmsg_type = libc::IPV6_PKTINFO;
                (*cmsg).cmsg_len = libc::CMSG_LEN(size_of::<libc::in6_pktinfo>() as u32) as usize;
                let info = libc::in6_pktinfo {
                    ipi6_addr: libc::in6_addr { s6_addr: addr.octets() },
                    ipi6_ifindex: ifindex,
                };
                std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast(), info);
                libc::CMSG_SPACE(size_of::<libc::in6_pktinfo>() as u32) as usize
            }
        }
    }
}

fn unsafe_zeroed_msghdr() -> libc::msghdr {
    // SAFETY: msghdr is a plain C struct; all-zero is a valid empty header.
    unsafe { zeroed() }
}

/// The destination address (and interface) of a received datagram, from
/// its PKTINFO control message.
fn received_destination(h: &libc::msghdr) -> Option<(IpAddr, u32)> {
    // SAFETY: the kernel filled msg_control/msg_controllen; the CMSG macros
    // walk only within that length.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(h);
        while !cmsg.is_null() {
            let c = &*cmsg;
            if c.cmsg_level == libc::IPPROTO_IP && c.cmsg_type == libc::IP_PKTINFO {
                let info: libc::in_pktinfo = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                return Some((IpAddr::V4(Ipv4Addr::from(u32::from_be(info.ipi_addr.s_addr))), 0));
            }
            if c.cmsg_level == libc::IPPROTO_IPV6 && c.cmsg_type == libc::IPV6_PKTINFO {
                let info: libc::in6_pktinfo = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                return Some((IpAddr::V6(Ipv6Addr::from(info.ipi6_addr.s6_addr)), info.ipi6_ifindex));
            }
            cmsg = libc::CMSG_NXTHDR(h, cmsg);
        }
    }
    None
}
