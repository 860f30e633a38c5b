//! Operator overrides as the API sets them: the mode goes to the health
//! engine (which decides with it and records the event); who set it, why,
//! when and until when is kept here, along with the timer that lets an
//! override with `for` lapse back to `auto` by itself.
//!
//! Writes are serialized, and each carries a generation number, so that a
//! timer set for an override that has since been replaced does nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::app::health::{ControlError, Health};
use crate::decide::verdict::Override;
use crate::publish::event::Audit;

/// Who set an endpoint's current override, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub mode: Override,
    pub audit: Audit,
    pub at: SystemTime,
    generation: u64,
}

/// The notes of the overrides set through the API, and their timers.
#[derive(Debug)]
pub struct Overrides {
    health: Arc<Health>,
    notes: Mutex<HashMap<String, Note>>,
    /// Held across a write, so that the engine and the notes agree.
    writing: tokio::sync::Mutex<u64>,
}

impl Overrides {
    pub fn new(health: Arc<Health>) -> Overrides {
        Overrides {
            health,
            notes: Mutex::new(HashMap::new()),
            writing: tokio::sync::Mutex::new(0),
        }
    }

    /// The note of `endpoint`'s override, if it is still `mode` (a note
    /// for another mode is out of date: e.g. a reload dropped and re-added
    /// the endpoint).
    pub fn note(&self, endpoint: &str, mode: Override) -> Option<Note> {
        let notes = self.notes.lock().expect("override notes lock");
        notes.get(endpoint).filter(|n| n.mode == mode).cloned()
    }

    /// Sets `mode` on `endpoint`; with `lasts`, it goes back to `auto`
    /// after that long.
    pub async fn set(
        self: &Arc<Self>,
        endpoint: &str,
        mode: Override,
        mut audit: Audit,
        lasts: Option<Duration>,
    ) -> Result<Note, ControlError> {
        let mut generation = self.writing.lock().await;
        let at = SystemTime::now();
        audit.until = lasts.map(|d| at + d);
        self.health.set_override_by(endpoint, mode, audit.clone()).await?;
        *generation += 1;
        let note = Note {
            mode,
            audit,
            at,
            generation: *generation,
        };
        self.notes
            .lock()
            .expect("override notes lock")
            .insert(endpoint.to_string(), note.clone());
        if let Some(lasts) = lasts {
            let overrides = self.clone();
            let (endpoint, generation) = (endpoint.to_string(), *generation);
            tokio::spawn(async move {
                tokio::time::sleep(lasts).await;
                overrides.lapse(&endpoint, generation).await;
            });
        }
        Ok(note)
    }

    /// Ends an override at its expiry, unless it was replaced meanwhile.
    async fn lapse(&self, endpoint: &str, generation: u64) {
        let _writing = self.writing.lock().await;
        let current = self.notes.lock().expect("override notes lock").get(endpoint).cloned();
        let Some(note) = current.filter(|n| n.generation == generation) else {
            return;
        };
        let audit = Audit {
            reason: format!("the {} set by {} expired", mode_name(note.mode), note.audit.by),
            by: "lifeline".into(),
            until: None,
        };
        match self.health.set_override_by(endpoint, Override::Auto, audit).await {
            Ok(()) | Err(ControlError::UnknownEndpoint(_)) => {}
            Err(e) => tracing::warn!(endpoint, "could not end an expired override: {e}"),
        }
        self.notes.lock().expect("override notes lock").remove(endpoint);
    }
}

/// `auto`, `drain`, `force-up`: how the API and the CLI name a mode.
pub fn mode_name(mode: Override) -> &'static str {
    match mode {
        Override::Auto => "auto",
        Override::Drain => "drain",
        Override::ForceUp => "force-up",
    }
}
