//! Wires the stages together: load the configuration, publish the first
//! snapshot, start the UDP workers and the TCP listeners, reload on SIGHUP,
//! stop on SIGTERM/SIGINT.

pub mod cli;
pub mod demo;
pub mod health;
mod kept;
pub mod logging;
pub mod plan;

pub use logging::{LogFormat, init_logging};

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use anyhow::Context;
use arc_swap::ArcSwap;
use tokio::sync::watch;

use crate::config::{self, Config, Sources};
use crate::dns::rtype;
use crate::notify;
use crate::publish::{
    self,
    snapshot::{SharedSnapshot, Snapshot},
};
use crate::serve::dns::{tcp, udp};
use crate::serve::http;

/// Loads and checks everything a server would: configuration, zones, the
/// checks' probes and decide specs; computes the first answers and builds
/// the snapshot.
fn load(sources: &Sources) -> anyhow::Result<(Config, Snapshot, health::Prepared)> {
    let started = std::time::Instant::now();
    let mut config = config::load(sources)?;
    let read = started.elapsed();
    let prepared = health::prepare(health::Wiring::new(&config)?, None, 0)?;
    let snapshot = publish::build_snapshot(&mut config, prepared.answers.clone())?;
    release_freed_memory();
    tracing::debug!(read = ?read, built = ?(started.elapsed() - read), "configuration and zones loaded");
    Ok((config, snapshot, prepared))
}

/// Gives the memory freed after loading (parsed records, build tables) back
/// to the system, so that the resident size reflects what is served.
fn release_freed_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only releases free heap pages; it is safe to call
    // at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// `lifeline check`: validate and print a summary.
pub fn check(sources: Sources) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let (config, snapshot, prepared) = load(&sources)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "configuration OK ({:.2?})", started.elapsed())?;
    let listen: Vec<String> = config.listen.iter().map(ToString::to_string).collect();
    writeln!(
        out,
        "listen: {} (udp+tcp, {} UDP threads each)",
        listen.join(", "),
        config.udp_threads
    )?;
    writeln!(
        out,
        "limits: edns_udp_size {}, tcp_connections {}, tcp_idle_timeout {:?}",
        config.edns_udp_size, config.tcp_connections, config.tcp_idle_timeout
    )?;
    for zone in snapshot.zones.iter() {
        writeln!(
            out,
            "zone {}: serial {}, {} records, {} names, negative TTL {}",
            zone.apex,
            zone.serial(),
            zone.record_count,
            zone.node_count(),
            zone.negative_ttl
        )?;
    }
    writeln!(
        out,
        "health-checked records: {}, endpoints: {}, checks: {} ({} distinct probes)",
        config.records.len(),
        config.records.iter().map(|r| r.endpoints.len()).sum::<usize>(),
        config.checks.len(),
        prepared.wiring.probe_count()
    )?;
    writeln!(
        out,
        "prebuilt answers: {} ({} KiB)",
        snapshot.prebuilt.len(),
        snapshot.prebuilt.memory() / 1024
    )?;
    Ok(())
}

/// A running server: its sockets, workers and current snapshot.
#[derive(Debug)]
pub struct Server {
    sources: Sources,
    snapshot: SharedSnapshot,
    stop: Arc<AtomicBool>,
    udp_workers: Vec<JoinHandle<udp::WorkerStats>>,
    /// The workers' live counters, for metrics.
    udp_live: Vec<Arc<udp::LiveStats>>,
    /// Every TCP connection's replies, for metrics.
    tcp_counts: Arc<crate::serve::dns::stats::LiveCounts>,
    shutdown: watch::Sender<bool>,
    runtime: tokio::runtime::Runtime,
    /// The addresses actually bound (port 0 resolved), UDP and TCP alike.
    pub addrs: Vec<SocketAddr>,
    /// Where the HTTP API listens, if it does.
    pub api: Option<SocketAddr>,
    health: Arc<health::Health>,
    /// Each webhook's counters, for metrics.
    webhooks: Arc<notify::Webhooks>,
    /// The state store, if there is one (reload sets its retention).
    store: Option<crate::persist::Store>,
}

impl Server {
    /// Loads the configuration, binds every listen address (UDP and TCP on
    /// the same port) and starts serving.
    pub fn start(sources: Sources) -> anyhow::Result<Server> {
        let (config, snapshot, prepared) = load(&sources)?;
        let snapshot: SharedSnapshot = Arc::new(ArcSwap::from_pointee(snapshot));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("lifeline-ctl")
            .enable_all()
            .build()
            .context("starting the control runtime")?;
        let stop = Arc::new(AtomicBool::new(false));
        let (shutdown, shutdown_rx) = watch::channel(false);
        let limits = tcp::TcpLimits {
            max_connections: config.tcp_connections,
            idle_timeout: config.tcp_idle_timeout,
        };
        let (store, mut saved) = match &config.state_dir {
            Some(dir) => {
                let (store, saved) = crate::persist::Store::open(dir)?;
                tracing::info!(dir = %dir.display(), overrides = saved.overrides.len(), sticky = saved.sticky.len(), "state store opened");
                store.set_retention(config.event_retention);
                (Some(store), saved)
            }
            None => (None, crate::persist::Saved::default()),
        };
        let pending = std::mem::take(&mut saved.deliveries);
        let notify_store = store.clone();
        let event_log = Arc::new(match &store {
            Some(store) => http::EventLog::with_history(
                config::limits::API_EVENTS_KEPT,
                config::limits::API_CHECK_HISTORY,
                http::STREAM_BUFFER,
                store.clone(),
                saved.history.last_event_id,
            )?,
            None => http::EventLog::new(
                config::limits::API_EVENTS_KEPT,
                config::limits::API_CHECK_HISTORY,
                http::STREAM_BUFFER,
            ),
        });
        let (health, webhooks) = {
            let _guard = runtime.enter();
            let health = health::Health::start(
                prepared,
                tokio::time::Instant::now(),
                snapshot.clone(),
                shutdown_rx.clone(),
                store.clone(),
            )?;
            let events = health.subscribe();
            let webhooks = notify::start(
                config.webhooks.clone(),
                notify_store,
                pending,
                events,
                shutdown_rx.clone(),
            );
            (health, webhooks)
        };
        // What was saved is in force before the first query is answered.
        runtime.block_on(health.restore(saved));
        let health = Arc::new(health);
        runtime.spawn(http::follow(event_log.clone(), health.subscribe(), shutdown_rx.clone()));
        let mut server = Server {
            sources,
            snapshot,
            stop,
            udp_workers: Vec::new(),
            udp_live: Vec::new(),
            tcp_counts: Default::default(),
            shutdown,
            runtime,
            addrs: Vec::new(),
            api: None,
            health,
            webhooks,
            store,
        };
        for (i, &addr) in config.listen.iter().enumerate() {
            let (sockets, listener, bound) = server.bind_pair(addr, config.udp_threads)?;
            let workers = udp::spawn(
                sockets,
                server.snapshot.clone(),
                server.stop.clone(),
                i * config.udp_threads,
            )?;
            for worker in workers {
                server.udp_workers.push(worker.thread);
                server.udp_live.push(worker.live);
            }
            server.runtime.spawn(tcp::serve(
                listener,
                server.snapshot.clone(),
                limits,
                server.tcp_counts.clone(),
                shutdown_rx.clone(),
            ));
            server.addrs.push(bound);
        }
        server.api = server.start_api(&config.api, event_log, shutdown_rx)?;
        Ok(server)
    }

    /// Starts the HTTP API where the configuration says. A default address
    /// that is taken (another Lifeline on this host) only costs a warning.
    fn start_api(
        &self,
        config: &config::ApiConfig,
        log: Arc<http::EventLog>,
        shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<Option<SocketAddr>> {
        let Some(listen) = config.listen else { return Ok(None) };
        let reloader = self.reloader();
        let parts = http::Parts {
            health: self.health.clone(),
            snapshot: self.snapshot.clone(),
            reload: Arc::new(move || {
                let reloader = reloader.clone();
                Box::pin(async move { reloader.reload().await })
            }),
            log,
            token: config.token.clone(),
            auth: config.auth,
            udp: self.udp_live.clone(),
            webhooks: self.webhooks.clone(),
            tcp: self.tcp_counts.clone(),
            shutdown,
        };
        let _guard = self.runtime.enter();
        match http::start(listen, parts) {
            Ok(bound) => Ok(Some(bound)),
            Err(e @ http::StartError::Bind { .. }) if !config.explicit => {
                tracing::warn!("{e}; the API is off (set [api] listen or --api to choose another address)");
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// What a reload needs, for the API to hold.
    fn reloader(&self) -> Reloader {
        Reloader {
            sources: self.sources.clone(),
            snapshot: self.snapshot.clone(),
            addrs: self.addrs.clone(),
            health: self.health.clone(),
            store: self.store.clone(),
            webhooks: self.webhooks.clone(),
        }
    }

    /// Binds UDP (all workers) and TCP on one port; with port 0, retries
    /// when the port the UDP socket got is taken for TCP.
    fn bind_pair(
        &self,
        addr: SocketAddr,
        threads: usize,
    ) -> anyhow::Result<(Vec<socket2::Socket>, tokio::net::TcpListener, SocketAddr)> {
        let attempts = if addr.port() == 0 { 20 } else { 1 };
        let mut last_error = None;
        for _ in 0..attempts {
            let (sockets, bound) = udp::bind(addr, threads).with_context(|| format!("binding UDP {addr}"))?;
            let _guard = self.runtime.enter();
            match tcp::bind(bound) {
                Ok(listener) => return Ok((sockets, listener, bound)),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.map_or_else(
            || anyhow::anyhow!("binding TCP {addr}"),
            |e| anyhow::Error::new(e).context(format!("binding TCP {addr}")),
        ))
    }

    /// The snapshot being served now.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// Re-reads the configuration and zones; swaps the new snapshot in only
    /// if all of it is valid. Listen addresses and thread counts need a
    /// restart to change.
    pub fn reload(&self) -> anyhow::Result<()> {
        self.runtime.block_on(self.reload_async())
    }

    /// [`Server::reload`], from inside the control runtime.
    pub async fn reload_async(&self) -> anyhow::Result<()> {
        self.reloader().reload().await
    }

    /// The health engine: status, overrides, failback, events.
    pub fn health(&self) -> &health::Health {
        &self.health
    }

    /// The control runtime, for tasks that go with the server.
    pub fn handle(&self) -> tokio::runtime::Handle {
        self.runtime.handle().clone()
    }

    /// Events: check results, verdict and answer changes.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<crate::publish::event::Event> {
        self.health.subscribe()
    }

    /// Stops every worker and listener; returns the UDP workers' counters.
    pub fn shutdown(self) -> Vec<udp::WorkerStats> {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.shutdown.send(true);
        let stats = self.udp_workers.into_iter().filter_map(|w| w.join().ok()).collect();
        self.runtime.shutdown_timeout(std::time::Duration::from_secs(2));
        stats
    }

    /// Installs the handlers for the signals the server acts on. This must
    /// happen before the server announces itself: until then SIGHUP's
    /// default action ends the process, so a reload requested right after
    /// startup would kill the server instead.
    fn signals(&self) -> std::io::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        let _runtime = self.runtime.enter();
        Ok(Signals {
            hup: signal(SignalKind::hangup())?,
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// Waits for SIGHUP (reload) and SIGTERM/SIGINT (stop).
    fn run_until_signalled(&self, mut signals: Signals) -> anyhow::Result<()> {
        self.runtime.block_on(async {
            let mut watch = tokio::time::interval(std::time::Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = signals.hup.recv() => {
                        if let Err(e) = self.reload_async().await {
                            tracing::error!("reload rejected, still serving the previous configuration: {e:#}");
                        }
                    }
                    _ = signals.term.recv() => return Ok(()),
                    _ = signals.int.recv() => return Ok(()),
                    // The decide task never ends while the server runs: if it
                    // did (a bug), answers would freeze unnoticed. Better to
                    // stop, so that the service manager starts Lifeline again
                    // with its state restored.
                    _ = watch.tick() => if !self.health.is_running() {
                        anyhow::bail!("the health engine stopped unexpectedly; exiting so that it can be restarted");
                    }
                }
            }
        })
    }
}

/// What a reload needs; the server (on SIGHUP) and the API each use one.
#[derive(Debug, Clone)]
struct Reloader {
    sources: Sources,
    snapshot: SharedSnapshot,
    addrs: Vec<SocketAddr>,
    health: Arc<health::Health>,
    store: Option<crate::persist::Store>,
    webhooks: Arc<notify::Webhooks>,
}

impl Reloader {
    /// Re-reads the configuration and zones; swaps the new snapshot in
    /// only if all of it is valid.
    async fn reload(&self) -> anyhow::Result<()> {
        let started = std::time::Instant::now();
        let sources = self.sources.clone();
        let mut config = tokio::task::spawn_blocking(move || config::load(&sources)).await??;
        let wiring = health::Wiring::new(&config)?;
        let listen_changed = config.listen.iter().any(|a| a.port() != 0 && !self.addrs.contains(a));
        let retention = config.event_retention;
        let webhooks = config.webhooks.clone();
        let build: health::Build = Box::new(move |answers| Ok(publish::build_snapshot(&mut config, answers)?));
        self.health.reload(wiring, build).await?;
        self.webhooks.reload(webhooks);
        if let Some(store) = &self.store {
            store.set_retention(retention);
        }
        release_freed_memory();
        let current = self.snapshot.load();
        let serials: Vec<String> = current
            .zones
            .iter()
            .map(|z| format!("{} {}", z.apex, current.serial(z.index)))
            .collect();
        tracing::info!(zones = %serials.join(", "), took = ?started.elapsed(), "reloaded");
        if listen_changed {
            tracing::warn!("listen addresses changed in the configuration; they take effect on restart");
        }
        Ok(())
    }
}

/// Handlers for the signals `serve` acts on.
struct Signals {
    hup: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

/// `lifeline serve`: run until signalled.
pub fn serve(sources: Sources) -> anyhow::Result<()> {
    let server = Server::start(sources)?;
    let signals = server.signals().context("installing signal handlers")?;
    announce(&server);
    server.run_until_signalled(signals)?;
    for (i, s) in server.shutdown().iter().enumerate() {
        tracing::info!(
            worker = i,
            batches = s.batches,
            datagrams = s.datagrams,
            mean_batch = format!("{:.2}", s.mean_batch()),
            fast = s.fast,
            general = s.general,
            dropped = s.dropped,
            "udp worker stopped"
        );
    }
    Ok(())
}

/// Tells the operator where we listen and how to try it.
fn announce(server: &Server) {
    let snapshot = server.snapshot();
    let zones: Vec<String> = snapshot.zones.iter().map(|z| z.apex.to_string()).collect();
    let mut out = std::io::stdout().lock();
    for addr in &server.addrs {
        let _ = writeln!(out, "lifeline: listening on {addr} (udp+tcp)");
    }
    if let Some(api) = server.api {
        let _ = writeln!(out, "lifeline: api on http://{api}");
    }
    let _ = writeln!(out, "lifeline: serving {}", zones.join(", "));
    if let (Some(addr), Some(name)) = (server.addrs.first(), example_name(&snapshot)) {
        let host = if addr.ip().is_unspecified() {
            "127.0.0.1".to_string()
        } else {
            addr.ip().to_string()
        };
        let _ = writeln!(out, "lifeline: try: dig @{host} -p {} {name} A", addr.port());
    }
    let _ = out.flush();
}

/// A name with an A record to suggest, preferring `www`.
fn example_name(snapshot: &Snapshot) -> Option<String> {
    let mut names: Vec<String> = snapshot
        .zones
        .iter()
        .flat_map(|z| {
            z.nodes()
                .filter(|(_, n)| n.rrset(rtype::A).is_some())
                .map(|(_, n)| n.name.to_string())
        })
        .collect();
    names.sort_by_key(|n| (!n.starts_with("www."), n.len()));
    names.into_iter().next()
}
