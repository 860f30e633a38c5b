//! Prometheus metrics at `/metrics` (`prometheus-client`): OpenMetrics text
//! for a client that accepts it (Prometheus asks for it), else the classic
//! Prometheus text format (what `promtool check metrics` and older tools
//! read):
//! what the health engine decided (tiers, verdicts, overrides), what
//! changed (answer changes, events, check results and latency), the SOA
//! serials, whether the checker is alive and the breaker holds, and the
//! DNS queries answered over UDP and TCP, by type and RCODE.
//!
//! Nothing is kept up to date for metrics' sake: a scrape asks the health
//! engine for its status, reads the event log's counts, and sums the UDP
//! workers' own counters (each written by its worker alone, once per
//! batch) and the TCP connections' counters, so the query path takes no
//! lock (see [`crate::serve::dns::stats`]).

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};

use super::error::ApiError;
use super::events::{Counts, KINDS};
use super::overrides::mode_name;
use super::routes::Api;
use crate::app::health::Status;
use crate::decide::verdict::Override;
use crate::serve::dns::stats::{self, QTYPE_SLOTS, QueryCounts};

/// The content type of OpenMetrics text (OpenMetrics 1.0 §"Overall").
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The classic Prometheus text exposition format.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The UDP workers' totals, summed.
#[derive(Debug, Default)]
struct Udp {
    datagrams: u64,
    fast: u64,
    general: u64,
    dropped: u64,
    counts: QueryCounts,
}

/// Everything one scrape reports, read at its start.
#[derive(Debug)]
struct Scrape {
    status: Status,
    serials: Vec<(String, u32)>,
    counts: Counts,
    udp: Udp,
    /// Each webhook's (URL, delivered, failed, dropped, queued).
    webhooks: Vec<(String, [u64; 4])>,
    tcp: QueryCounts,
}

pub async fn scrape(State(api): State<Api>, headers: HeaderMap) -> Result<Response, ApiError> {
    let status = api.status().await?;
    let snapshot = api.0.snapshot.load();
    let serials = snapshot
        .zones
        .iter()
        .map(|z| (z.apex.to_string(), snapshot.serial(z.index)))
        .collect();
    let mut udp = Udp::default();
    for live in &api.0.udp {
        udp.datagrams += live.datagrams.load(Ordering::Relaxed);
        udp.fast += live.fast.load(Ordering::Relaxed);
        udp.general += live.general.load(Ordering::Relaxed);
        udp.dropped += live.dropped.load(Ordering::Relaxed);
        udp.counts.add(&live.counts.load());
    }
    let scrape = Scrape {
        status,
        serials,
        counts: api.0.log.counts(),
        udp,
        webhooks: api
            .0
            .webhooks
            .stats()
            .iter()
            .map(|w| (w.url.clone(), w.counts()))
            .collect(),
        tcp: api.0.tcp.load(),
    };
    let mut registry = Registry::with_prefix("lifeline");
    registry.register_collector(Box::new(scrape));
    let openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains("application/openmetrics-text"));
    let mut text = String::new();
    let (encoded, content_type) = if openmetrics {
        (
            prometheus_client::encoding::text::encode(&mut text, &registry),
            OPENMETRICS,
        )
    } else {
        (
            prometheus_client::encoding::prometheus_text::encode(&mut text, &registry),
            PROMETHEUS_TEXT,
        )
    };
    // Writing into a String cannot fail, and every name and label is ours.
    encoded.expect("metrics encode into a String");
    Ok(([(header::CONTENT_TYPE, content_type)], text).into_response())
}

/// Writes one metric family: a descriptor, then one value per label set.
fn family<'a, M: EncodeMetric>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    kind: MetricType,
    values: impl IntoIterator<Item = (Vec<(&'a str, String)>, M)>,
) -> Result<(), std::fmt::Error> {
    let mut metric = encoder.encode_descriptor(name, help, unit, kind)?;
    for (labels, value) in values {
        value.encode(metric.encode_family(&labels)?)?;
    }
    Ok(())
}

fn gauge(v: impl Into<i64>) -> ConstGauge {
    ConstGauge::new(v.into())
}

/// A histogram known by its bucket counts at scrape time.
#[derive(Debug)]
struct ConstHistogram {
    sum: f64,
    count: u64,
    /// (upper bound, count in that bucket alone), the last at +Inf.
    buckets: Vec<(f64, u64)>,
}

impl EncodeMetric for ConstHistogram {
    fn encode(&self, mut encoder: prometheus_client::encoding::MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_histogram::<prometheus_client::encoding::NoLabelSet>(self.sum, self.count, &self.buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        self.records(&mut encoder)?;
        self.endpoints(&mut encoder)?;
        self.events(&mut encoder)?;
        self.scheduler(&mut encoder)?;
        self.engine(&mut encoder)?;
        self.dns(&mut encoder)?;
        self.webhooks(&mut encoder)
    }
}

impl Scrape {
    fn records(&self, e: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let records = &self.status.records;
        let by_record = |f: fn(&crate::decide::answer_set::AnswerSet) -> i64| {
            records
                .iter()
                .map(move |r| (vec![("record", r.name.clone())], gauge(f(&r.answer))))
        };
        family(
            e,
            "record_tier",
            "The tier a health-checked record answers from (1 is preferred); 0 when every endpoint is down.",
            None,
            MetricType::Gauge,
            by_record(|a| a.tier.map_or(0, i64::from)),
        )?;
        family(
            e,
            "record_failed_over",
            "1 while a record does not answer from its best tier.",
            None,
            MetricType::Gauge,
            by_record(|a| i64::from(a.cause.failed_over)),
        )?;
        family(
            e,
            "record_degraded",
            "1 while an endpoint of the tier a record answers from is down.",
            None,
            MetricType::Gauge,
            by_record(|a| i64::from(a.cause.degraded)),
        )?;
        family(
            e,
            "zone_serial",
            "The SOA serial each zone is served with; it moves with every answer change.",
            None,
            MetricType::Gauge,
            self.serials
                .iter()
                .map(|(zone, serial)| (vec![("zone", zone.clone())], gauge(*serial))),
        )
    }

    fn endpoints(&self, e: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let verdicts: Vec<(&str, &crate::decide::verdict::Verdict)> = self
            .status
            .endpoints
            .iter()
            .filter_map(|ep| Some((ep.name.as_str(), ep.verdict.as_ref()?)))
            .collect();
        let by_endpoint = |f: fn(&crate::decide::verdict::Verdict) -> bool| {
            verdicts
                .iter()
                .map(move |(name, v)| (vec![("endpoint", name.to_string())], gauge(f(v))))
        };
        family(
            e,
            "endpoint_up",
            "The verdict answers use: 1 up, 0 down.",
            None,
            MetricType::Gauge,
            by_endpoint(|v| v.up),
        )?;
        family(
            e,
            "endpoint_stale",
            "1 while no check result is fresh and the verdict holds its last value.",
            None,
            MetricType::Gauge,
            by_endpoint(|v| v.stale),
        )?;
        self.checks(e)?;
        let modes = [Override::Auto, Override::Drain, Override::ForceUp];
        family(
            e,
            "endpoint_override",
            "The operator's override of each endpoint: 1 for the mode in force.",
            None,
            MetricType::Gauge,
            verdicts.iter().flat_map(|(name, v)| {
                modes.iter().map(move |&mode| {
                    let labels = vec![("endpoint", name.to_string()), ("mode", mode_name(mode).to_string())];
                    (labels, gauge(v.admin == mode))
                })
            }),
        )
    }

    /// Per check of each endpoint: what its threshold machines say, and
    /// how old its newest result is (a check goes stale after three of
    /// its intervals without one).
    fn checks(&self, e: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let now = self.status.now;
        let evidence: Vec<_> = self
            .status
            .endpoints
            .iter()
            .filter_map(|ep| Some((ep, ep.verdict.as_ref()?)))
            .flat_map(|(ep, v)| {
                ep.checks.iter().zip(&v.evidence).filter_map(|(check, evidence)| {
                    let locations = &evidence.locations;
                    let newest = locations.iter().map(|l| l.last_at).max()?;
                    let labels = vec![("endpoint", ep.name.clone()), ("check", check.clone())];
                    Some((labels, locations.iter().all(|l| l.up), now.saturating_sub(newest)))
                })
            })
            .collect();
        family(
            e,
            "check_up",
            "What each check of an endpoint says by its rise/fall thresholds: 1 up, 0 down (before quorum, \
             override and damping; see endpoint_up for the verdict answers use).",
            None,
            MetricType::Gauge,
            evidence.iter().map(|(labels, up, _)| (labels.clone(), gauge(*up))),
        )?;
        family(
            e,
            "check_result_age",
            "Time since each check of an endpoint last reported.",
            Some(&Unit::Seconds),
            MetricType::Gauge,
            evidence.iter().map(|(labels, _, age)| {
                let age = Duration::from_millis(*age).as_secs_f64();
                (labels.clone(), ConstGauge::new(age))
            }),
        )
    }

    fn events(&self, e: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let c = &self.counts;
        family(
            e,
            "answer_changes",
            "Changes of a record's answer.",
            None,
            MetricType::Counter,
            c.answer_changes
                .iter()
                .map(|(record, n)| (vec![("record", record.clone())], ConstCounter::new(*n))),
        )?;
        family(
            e,
            "events",
            "Events by kind, check results included.",
            None,
            MetricType::Counter,
            KINDS
                .iter()
                .zip(c.kinds)
                .map(|(kind, n)| (vec![("kind", kind.to_string())], ConstCounter::new(n))),
        )?;
        family(
            e,
            "check_results",
            "Check results by endpoint, check and result.",
            None,
            MetricType::Counter,
            c.checks.iter().flat_map(|((endpoint, check), counts)| {
                [("ok", counts.ok), ("fail", counts.failed)].map(|(result, n)| {
                    let labels = vec![
                        ("endpoint", endpoint.clone()),
                        ("check", check.clone()),
                        ("result", result.to_string()),
                    ];
                    (labels, ConstCounter::new(n))
                })
            }),
        )?;
        family(
            e,
            "check_latency",
            "How long each check run took.",
            Some(&Unit::Seconds),
            MetricType::Histogram,
            c.checks.iter().map(|((endpoint, check), counts)| {
                let labels = vec![("endpoint", endpoint.clone()), ("check", check.clone())];
                (labels, counts.latency.clone())
            }),
        )
    }

    fn scheduler(&self, e: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = &self.status.scheduler;
        let lag = &s.lag;
        family(
            e,
            "schedule_lag",
            "How late check runs started against their due time, over every run since start: \
             the 50th and 99th percentiles (upper bounds of log-linear buckets, within 25%) and the maximum.",
            Some(&Unit::Seconds),
            MetricType::Gauge,
            // A gauge per statistic: `quantile` is reserved for summaries.
            [("p50", lag.p50), ("p99", lag.p99), ("max", lag.max)]
                .map(|(q, d)| (vec![("statistic", q.to_string())], ConstGauge::new(d.as_secs_f64()))),
        )?;
        let bounds = crate::observe::LAG_BOUNDS_US.iter().map(|&us| us as f64 / 1e6);
        let histogram = ConstHistogram {
            sum: lag.sum.as_secs_f64(),
            count: lag.runs,
            buckets: bounds.chain([f64::INFINITY]).zip(lag.buckets).collect(),
        };
        family(
            e,
            "check_lag",
            "How late check runs started against their due time: a histogram, for percentiles over any window.",
            Some(&Unit::Seconds),
            MetricType::Histogram,
            [(Vec::new(), histogram)],
        )?;
        family(
            e,
            "schedule_runs",
            "Check runs started since the scheduler started.",
            None,
            MetricType::Counter,
            [(Vec::new(), ConstCounter::new(lag.runs))],
        )?;
        family(
            e,
            "schedule_skipped",
            "Check turns skipped: the previous run was still in flight, or the scheduler was an interval behind.",
            None,
            MetricType::Counter,
            [(Vec::new(), ConstCounter::new(s.skipped))],
        )?;
        family(
            e,
            "checks_in_flight",
            "Check runs in flight now.",
            None,
            MetricType::Gauge,
            [(Vec::new(), gauge(s.in_flight as i64))],
        )?;
        family(
            e,
            "checks_scheduled",
            "Probes scheduled now (identical checks are shared).",
            None,
            MetricType::Gauge,
            [(Vec::new(), gauge(s.probes as i64))],
        )
    }

    fn engine(&self, e: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let engine = &self.status.engine;
        family(
            e,
            "checker_restarts",
            "Checkers the watchdog replaced because they stopped or returned no result for three times the \
             longest check period.",
            None,
            MetricType::Counter,
            [(Vec::new(), ConstCounter::new(u64::from(engine.restarts)))],
        )?;
        family(
            e,
            "checker_silence",
            "Time since the last check result arrived (from any check).",
            Some(&Unit::Seconds),
            MetricType::Gauge,
            [(Vec::new(), ConstGauge::new(engine.silent_for.as_secs_f64()))],
        )?;
        family(
            e,
            "breaker_enabled",
            "1 when the correlated-failure breaker is configured.",
            None,
            MetricType::Gauge,
            [(Vec::new(), gauge(engine.breaker_configured))],
        )?;
        family(
            e,
            "breaker_tripped",
            "1 while the correlated-failure breaker holds answers (endpoints answered as up although down).",
            None,
            MetricType::Gauge,
            [(Vec::new(), gauge(engine.breaker.is_some()))],
        )?;
        family(
            e,
            "breaker_groups_down",
            "Failure groups that had gone down when the breaker tripped; 0 while it is closed.",
            None,
            MetricType::Gauge,
            [(Vec::new(), gauge(engine.breaker.map_or(0, |t| t.groups_down as i64)))],
        )
    }

    fn dns(&self, e: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let u = &self.udp;
        family(
            e,
            "dns_udp_queries",
            "Datagrams the UDP workers received.",
            None,
            MetricType::Counter,
            [(Vec::new(), ConstCounter::new(u.datagrams))],
        )?;
        family(
            e,
            "dns_udp_answers",
            "UDP queries answered, by path: fast (prebuilt, in place) or general.",
            None,
            MetricType::Counter,
            [("fast", u.fast), ("general", u.general)]
                .map(|(path, n)| (vec![("path", path.to_string())], ConstCounter::new(n))),
        )?;
        family(
            e,
            "dns_udp_dropped",
            "UDP datagrams not answered: truncated, unparseable, or refused by the kernel on send.",
            None,
            MetricType::Counter,
            [(Vec::new(), ConstCounter::new(u.dropped))],
        )?;
        let transports = [("udp", &u.counts), ("tcp", &self.tcp)];
        family(
            e,
            "dns_replies",
            "DNS replies by transport and the RCODE in their header (an extended RCODE counts under its low \
             four bits); NOERROR to REFUSED always, others once seen.",
            None,
            MetricType::Counter,
            transports.iter().flat_map(|&(transport, c)| {
                c.rcodes
                    .iter()
                    .enumerate()
                    .filter(|&(rcode, &n)| rcode <= 5 || n > 0)
                    .map(move |(rcode, &n)| {
                        let labels = vec![("transport", transport.to_string()), ("rcode", rcode_name(rcode))];
                        (labels, ConstCounter::new(n))
                    })
            }),
        )?;
        family(
            e,
            "dns_queries",
            "DNS queries answered, by transport and the type asked for (\"other\": any other type, or no readable \
             question).",
            None,
            MetricType::Counter,
            transports.iter().flat_map(|&(transport, c)| {
                (0..QTYPE_SLOTS).map(move |slot| {
                    let labels = vec![
                        ("transport", transport.to_string()),
                        ("qtype", stats::slot_label(slot).to_string()),
                    ];
                    (labels, ConstCounter::new(c.qtypes[slot]))
                })
            }),
        )
    }
}

impl Scrape {
    fn webhooks(&self, e: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        family(
            e,
            "webhook_deliveries",
            "Events by webhook and outcome: delivered, failed (refused or out of attempts), dropped (queue full).",
            None,
            MetricType::Counter,
            self.webhooks.iter().flat_map(|(url, n)| {
                [("delivered", n[0]), ("failed", n[1]), ("dropped", n[2])].map(|(result, n)| {
                    let labels = vec![("webhook", url.clone()), ("result", result.to_string())];
                    (labels, ConstCounter::new(n))
                })
            }),
        )?;
        family(
            e,
            "webhook_queued",
            "Events waiting for each webhook.",
            None,
            MetricType::Gauge,
            self.webhooks
                .iter()
                .map(|(url, n)| (vec![("webhook", url.clone())], gauge(n[3] as i64))),
        )
    }
}

/// The names of the header rcodes (RFC 1035 §4.1.1, RFC 6895 §2.3);
/// `RCODE12` and so on for the unassigned ones.
fn rcode_name(rcode: usize) -> String {
    const NAMES: [&str; 11] = [
        "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH",
        "NOTZONE",
    ];
    NAMES
        .get(rcode)
        .map_or_else(|| format!("RCODE{rcode}"), |n| n.to_string())
}
