//! Operator overrides inside the decide task: who set what, why, since
//! and until when; requests that name endpoints by tag; overrides
//! scheduled ahead (`drain --at`), whose records answer with a lowered TTL
//! one TTL before the drain (decide's `answer_set::lowering`); and expiry.
//!
//! Every request is written to the store (one transaction for all the
//! endpoints it names) before it changes anything, and acknowledged after
//! that: an operator who got an answer can rely on it after a restart.
//!
//! | request                        | in force now            | scheduled        |
//! |--------------------------------|-------------------------|------------------|
//! | drain / force-up               | replaced                | kept             |
//! | drain / force-up `--at T`      | kept until T            | replaced         |
//! | auto (undrain)                 | ended                   | cancelled        |
//! | auto `--at T`                  | kept until T, then ended| replaced         |

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, SystemTime};

use tokio::sync::broadcast;

use super::{ControlError, State, emit, override_mode, set_override};
use crate::decide::Millis;
use crate::decide::answer_set::lowering::ScheduledDrain;
use crate::decide::verdict::Override;
use crate::persist::{OverrideWrite, SavedOverride};
use crate::publish::event::{Audit, Event, EventKind};

/// Which endpoints an operator's request names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Endpoint(String),
    /// Every endpoint carrying the tag `key = value`.
    Tag {
        key: String,
        value: String,
    },
}

impl Target {
    /// `KEY=VALUE`.
    pub fn tag(text: &str) -> Result<Target, String> {
        let (key, value) = text
            .split_once('=')
            .ok_or_else(|| format!("\"{text}\" is not a tag: write KEY=VALUE, e.g. dc=fra"))?;
        let (key, value) = (key.trim(), value.trim());
        if !crate::config::health::is_tag_word(key) || !crate::config::health::is_tag_word(value) {
            return Err(format!(
                "\"{text}\" is not a tag: keys and values are 1 to 63 letters, digits, '-', '_' or '.'"
            ));
        }
        Ok(Target::Tag {
            key: key.into(),
            value: value.into(),
        })
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Endpoint(name) => write!(f, "endpoint {name}"),
            Target::Tag { key, value } => write!(f, "tag {key}={value}"),
        }
    }
}

/// An operator's request: `mode` on the target's endpoints, now or from
/// `starts`, for `lasts` (then back to `auto`).
#[derive(Debug, Clone)]
pub struct Request {
    pub target: Target,
    pub mode: Override,
    pub reason: String,
    pub by: String,
    pub lasts: Option<Duration>,
    pub starts: Option<SystemTime>,
}

/// What a request did: the endpoints it named, in configuration order,
/// and when it takes effect if it was scheduled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub endpoints: Vec<String>,
    pub starts: Option<SystemTime>,
}

/// An override in force or scheduled: who, why, set when, from and until
/// when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub mode: Override,
    pub reason: String,
    pub by: String,
    pub at: SystemTime,
    pub until: Option<SystemTime>,
    /// When a scheduled override takes effect; `None` once in force.
    pub starts: Option<SystemTime>,
}

impl Note {
    fn audit(&self) -> Audit {
        Audit {
            reason: self.reason.clone(),
            by: self.by.clone(),
            until: self.until,
            starts: self.starts,
        }
    }

    fn saved(&self, endpoint: &str) -> SavedOverride {
        SavedOverride {
            endpoint: endpoint.to_string(),
            mode: override_mode(self.mode).into(),
            reason: self.reason.clone(),
            by: self.by.clone(),
            until: self.until,
            starts: self.starts,
        }
    }
}

/// The operator's overrides, by endpoint name.
#[derive(Debug, Default)]
pub struct Operator {
    current: HashMap<String, Note>,
    scheduled: HashMap<String, Note>,
}

impl Operator {
    /// The note of the override in force on `endpoint`, if it is `mode`
    /// (a reload that dropped and re-added an endpoint reset its mode).
    pub fn current(&self, endpoint: &str, mode: Override) -> Option<&Note> {
        self.current.get(endpoint).filter(|n| n.mode == mode)
    }

    pub fn scheduled(&self, endpoint: &str) -> Option<&Note> {
        self.scheduled.get(endpoint)
    }

    /// Scheduled drains on decide's clock, for TTL pre-lowering.
    pub fn drains(&self, state: &State, now: Millis) -> Vec<ScheduledDrain> {
        if self.scheduled.is_empty() {
            return Vec::new();
        }
        let wall = SystemTime::now();
        self.scheduled
            .iter()
            .filter(|(_, n)| n.mode == Override::Drain)
            .filter_map(|(name, n)| {
                let e = state.wiring.endpoint_names.iter().position(|x| x == name)?;
                let ahead = n.starts?.duration_since(wall).unwrap_or_default();
                Some(ScheduledDrain {
                    endpoint: crate::decide::EndpointId(e as u32),
                    at: now + ahead.as_millis() as Millis,
                })
            })
            .collect()
    }

    /// The next time an override starts or lapses.
    pub fn next_deadline(&self) -> Option<SystemTime> {
        let starts = self.scheduled.values().filter_map(|n| n.starts);
        let ends = self.current.values().filter_map(|n| n.until);
        starts.chain(ends).min()
    }
}

/// The endpoints a target names, in configuration order.
fn resolve(state: &State, target: &Target) -> Result<Vec<String>, ControlError> {
    let names = &state.wiring.endpoint_names;
    match target {
        Target::Endpoint(name) => {
            if names.contains(name) {
                return Ok(vec![name.clone()]);
            }
            // A dual-stack endpoint, named as written: both of its families.
            let families: Vec<String> = crate::config::families::family_names(name)
                .into_iter()
                .filter(|n| names.contains(n))
                .collect();
            if families.is_empty() {
                return Err(ControlError::UnknownEndpoint(name.clone()));
            }
            Ok(families)
        }
        Target::Tag { key, value } => {
            let tagged: Vec<String> = names
                .iter()
                .zip(&state.wiring.endpoint_tags)
                .filter(|(_, tags)| tags.iter().any(|(k, v)| k == key && v == value))
                .map(|(n, _)| n.clone())
                .collect();
            if tagged.is_empty() {
                return Err(ControlError::UnknownTag(format!("{key}={value}")));
            }
            Ok(tagged)
        }
    }
}

/// Carries out an operator's request: durable first, then in force.
pub(super) async fn request(
    state: &mut State,
    request: Request,
    events: &broadcast::Sender<Event>,
    changed: &mut BTreeSet<usize>,
) -> Result<Applied, ControlError> {
    let endpoints = resolve(state, &request.target)?;
    let now = SystemTime::now();
    let starts = request.starts.filter(|s| *s > now);
    let note = Note {
        mode: request.mode,
        reason: request.reason,
        by: request.by,
        at: now,
        until: request.lasts.map(|d| starts.unwrap_or(now) + d),
        starts,
    };
    let writes = endpoints
        .iter()
        .flat_map(|e| match (starts, note.mode) {
            (None, Override::Auto) => vec![OverrideWrite::Clear(e.clone()), OverrideWrite::Unschedule(e.clone())],
            _ => vec![OverrideWrite::Put(note.saved(e))],
        })
        .collect();
    if let Some(store) = &state.store {
        store
            .change_overrides(writes)
            .await
            .map_err(|e| ControlError::Store(e.to_string()))?;
    }
    for endpoint in &endpoints {
        if starts.is_some() {
            schedule(state, endpoint, note.clone(), events, changed);
        } else {
            if note.mode == Override::Auto {
                cancel_scheduled(state, endpoint, changed);
            }
            apply_now(state, endpoint, note.clone(), events, changed)?;
        }
    }
    tracing::info!(target = %request.target, ?endpoints, mode = override_mode(note.mode), ?starts, "operator override");
    Ok(Applied { endpoints, starts })
}

/// Keeps a scheduled override; its records may enter the TTL lowering
/// window at once.
fn schedule(
    state: &mut State,
    endpoint: &str,
    note: Note,
    events: &broadcast::Sender<Event>,
    changed: &mut BTreeSet<usize>,
) {
    emit(
        events,
        EventKind::Override {
            endpoint: endpoint.to_string(),
            admin: note.mode,
            audit: note.audit(),
        },
    );
    if let Some(e) = state.wiring.endpoint_names.iter().position(|n| n == endpoint) {
        changed.extend(state.wiring.records_of[e].iter().copied());
    }
    state.operator.scheduled.insert(endpoint.to_string(), note);
}

/// Puts an override in force (`auto` ends the one in force).
fn apply_now(
    state: &mut State,
    endpoint: &str,
    note: Note,
    events: &broadcast::Sender<Event>,
    changed: &mut BTreeSet<usize>,
) -> Result<(), ControlError> {
    set_override(state, endpoint, note.mode, note.audit(), events, changed)?;
    match note.mode {
        Override::Auto => state.operator.current.remove(endpoint),
        _ => state.operator.current.insert(endpoint.to_string(), note),
    };
    Ok(())
}

/// Drops an endpoint's scheduled override, if it has one.
fn cancel_scheduled(state: &mut State, endpoint: &str, changed: &mut BTreeSet<usize>) {
    if state.operator.scheduled.remove(endpoint).is_some()
        && let Some(e) = state.wiring.endpoint_names.iter().position(|n| n == endpoint)
    {
        // Its records may have been answering with a lowered TTL.
        changed.extend(state.wiring.records_of[e].iter().copied());
    }
}

/// Starts scheduled overrides whose time has come and ends those whose
/// time is up.
pub(super) async fn tick(state: &mut State, events: &broadcast::Sender<Event>, changed: &mut BTreeSet<usize>) {
    let now = SystemTime::now();
    let expired: Vec<(String, Note)> = state
        .operator
        .current
        .iter()
        .filter(|(_, n)| n.until.is_some_and(|u| u <= now))
        .map(|(e, n)| (e.clone(), n.clone()))
        .collect();
    let due: Vec<(String, Note)> = state
        .operator
        .scheduled
        .iter()
        .filter(|(_, n)| n.starts.is_some_and(|s| s <= now))
        .map(|(e, n)| (e.clone(), n.clone()))
        .collect();
    if expired.is_empty() && due.is_empty() {
        return;
    }
    let mut writes: Vec<OverrideWrite> = expired.iter().map(|(e, _)| OverrideWrite::Clear(e.clone())).collect();
    let mut starting = Vec::new();
    for (endpoint, note) in due {
        writes.push(OverrideWrite::Unschedule(endpoint.clone()));
        state.operator.scheduled.remove(&endpoint);
        if note.until.is_some_and(|u| u <= now) {
            tracing::info!(
                endpoint,
                "a scheduled override ended before it could start (the server was down); dropped"
            );
            continue;
        }
        let note = Note {
            starts: None,
            at: now,
            ..note
        };
        writes.push(OverrideWrite::Put(note.saved(&endpoint)));
        starting.push((endpoint, note));
    }
    if let Some(store) = &state.store
        && let Err(e) = store.change_overrides(writes).await
    {
        // Served as decided all the same; after a restart the store's
        // older state is corrected by this same tick.
        tracing::error!("could not record started or expired overrides: {e}");
    }
    for (endpoint, note) in expired {
        let lapse = Note {
            mode: Override::Auto,
            reason: format!("the {} set by {} expired", override_mode(note.mode), note.by),
            by: "lifeline".into(),
            at: now,
            until: None,
            starts: None,
        };
        // Only the override in force ends; a scheduled one stays.
        match apply_now(state, &endpoint, lapse, events, changed) {
            Ok(()) | Err(ControlError::UnknownEndpoint(_)) => {}
            Err(e) => tracing::warn!(endpoint, "could not end an expired override: {e}"),
        }
        state.operator.current.remove(&endpoint);
    }
    for (endpoint, note) in starting {
        match apply_now(state, &endpoint, note, events, changed) {
            Ok(()) => tracing::info!(endpoint, "scheduled override in force"),
            Err(e) => tracing::warn!(endpoint, "a scheduled override could not start: {e}"),
        }
    }
}

/// Applies overrides kept by the store: those in force (unless expired
/// while the server was down) and scheduled ones (started by the next
/// [`tick`] if their time has come).
pub(super) fn restore(
    state: &mut State,
    saved: Vec<SavedOverride>,
    events: &broadcast::Sender<Event>,
    changed: &mut BTreeSet<usize>,
) -> Vec<String> {
    let now = SystemTime::now();
    let mut expired = Vec::new();
    for o in saved {
        let mode = match o.mode.as_str() {
            "drain" => Override::Drain,
            "force-up" => Override::ForceUp,
            // A scheduled return to the checks ("undrain at 06:00").
            "auto" if o.starts.is_some() => Override::Auto,
            _ => continue,
        };
        let note = Note {
            mode,
            reason: o.reason,
            by: o.by,
            at: now,
            until: o.until,
            starts: o.starts,
        };
        if note.starts.is_some() {
            tracing::info!(endpoint = %o.endpoint, mode = %o.mode, "scheduled override restored");
            state.operator.scheduled.insert(o.endpoint, note);
            continue;
        }
        if note.until.is_some_and(|until| until <= now) {
            tracing::info!(endpoint = %o.endpoint, "restored override already expired; dropped");
            expired.push(o.endpoint);
            continue;
        }
        match apply_now(state, &o.endpoint, note, events, changed) {
            Ok(()) => tracing::info!(endpoint = %o.endpoint, mode = %o.mode, "override restored"),
            Err(e) => tracing::warn!("a stored override was not restored: {e}"),
        }
    }
    expired
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_key_equals_value() {
        assert_eq!(
            Target::tag("dc=fra"),
            Ok(Target::Tag {
                key: "dc".into(),
                value: "fra".into()
            })
        );
        assert!(Target::tag("dc").unwrap_err().contains("KEY=VALUE"));
        assert!(Target::tag("dc=").unwrap_err().contains("not a tag"));
        assert!(Target::tag("d c=fra").unwrap_err().contains("not a tag"));
    }
}
