//! Webhooks (`[[webhook]]`), as written and resolved: where events are
//! POSTed, the key that signs them, which events go there, and how hard
//! delivery tries. Delivery itself is `notify`'s.

use std::time::Duration;

use hyper::Uri;
use serde::Deserialize;
use toml::Spanned;

use super::error::ConfigError;
use super::health::{RecordConfig, duration, limit};
use super::limits;
use super::resolved::FileCtx;
use crate::decide::from_config::record_name;

/// One `[[webhook]]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebhook {
    pub url: Spanned<String>,
    pub secret: Option<Spanned<String>>,
    pub secret_file: Option<Spanned<String>>,
    pub secret_env: Option<Spanned<String>>,
    pub events: Option<Spanned<Vec<Spanned<String>>>>,
    pub records: Option<Vec<Spanned<String>>>,
    pub endpoints: Option<Vec<Spanned<String>>>,
    pub timeout: Option<Spanned<String>>,
    pub max_attempts: Option<Spanned<i64>>,
    pub backoff: Option<Spanned<String>>,
    pub max_backoff: Option<Spanned<String>>,
    pub queue: Option<Spanned<i64>>,
    /// For `https://`: a PEM file of the CA certificates to verify the
    /// receiver against, relative to the config file.
    pub ca: Option<Spanned<String>>,
}

/// The kinds of event a webhook can be sent, as `events` names them.
pub const EVENT_KINDS: [&str; 7] = [
    "answer",
    "verdict",
    "override",
    "breaker",
    "watchdog",
    "certificate",
    "check",
];

/// What a webhook gets when `events` is left out: every change, and no
/// raw check results (one per check run).
pub const DEFAULT_EVENTS: [&str; 5] = ["answer", "verdict", "override", "breaker", "watchdog"];

/// A webhook, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    pub url: WebhookUrl,
    pub secret: WebhookSecret,
    /// Kinds from [`EVENT_KINDS`].
    pub events: Vec<&'static str>,
    /// Answer events only of these records (`NAME` or `NAME/TYPE`); `None`:
    /// of every record.
    pub records: Option<Vec<String>>,
    /// Verdict, override, certificate and check events only of these
    /// endpoints, and breaker events only when they name one; `None`: all.
    pub endpoints: Option<Vec<String>>,
    pub timeout: Duration,
    pub max_attempts: u32,
    pub backoff: Duration,
    pub max_backoff: Duration,
    pub queue: usize,
    /// CA certificates (PEM file) for an `https://` receiver; `None`: the
    /// web PKI roots bundled in the binary.
    pub ca: Option<std::path::PathBuf>,
}

/// An `http://` or `https://` URL, split for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl {
    /// As written: the webhook's name in logs, metrics and the store.
    pub text: String,
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// Origin form: `/path?query`.
    pub path: String,
}

impl WebhookUrl {
    pub fn try_new(text: &str) -> Result<WebhookUrl, String> {
        let bad = |why: &str| format!("\"{text}\" {why}; write e.g. \"https://hooks.example.com/lifeline\"");
        let uri: Uri = text.parse().map_err(|_| bad("is not a URL"))?;
        let tls = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(bad("is not an http:// or https:// URL")),
        };
        let authority = uri.authority().ok_or_else(|| bad("has no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad("carries credentials; the signature authenticates deliveries"));
        }
        let host = authority.host().trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(bad("has no host"));
        }
        Ok(WebhookUrl {
            text: text.to_string(),
            tls,
            host: host.to_string(),
            port: authority.port_u16().unwrap_or(if tls { 443 } else { 80 }),
            path: uri.path_and_query().map_or("/", |p| p.as_str()).to_string(),
        })
    }

    /// The `Host` header: the host, with the port when it is not the
    /// scheme's default (RFC 9110 §7.2).
    pub fn host_header(&self) -> String {
        let host = match self.host.contains(':') {
            true => format!("[{}]", self.host),
            false => self.host.clone(),
        };
        match (self.tls, self.port) {
            (false, 80) | (true, 443) => host,
            (_, port) => format!("{host}:{port}"),
        }
    }
}

/// The key deliveries are signed with. Its value never appears in `Debug`
/// output or logs.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Box<[u8]>);

impl WebhookSecret {
    /// A key from its text (surrounding whitespace, e.g. a file's final
    /// newline, is not part of it).
    pub fn try_new(text: &str) -> Result<WebhookSecret, String> {
        let text = text.trim();
        let l = limits::WEBHOOK_SECRET_LEN;
        if !(l.min..=l.max).contains(&(text.len() as u64)) {
            return Err(format!(
                "the secret is {} bytes long; allowed {}..={} ({})",
                text.len(),
                l.min,
                l.max,
                l.why
            ));
        }
        Ok(WebhookSecret(text.as_bytes().into()))
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

/// Resolves every `[[webhook]]`; `records` are the resolved records, which
/// the filters must name.
pub(super) fn resolve(
    raw: &[Spanned<RawWebhook>],
    records: &[RecordConfig],
    ctx: &FileCtx,
) -> Result<Vec<WebhookConfig>, ConfigError> {
    let mut webhooks: Vec<WebhookConfig> = Vec::new();
    for (i, hook) in raw.iter().enumerate() {
        let resolved = resolve_one(hook.get_ref(), i, records, ctx)?;
        if webhooks.iter().any(|w| w.url.text == resolved.url.text) {
            let url = &hook.get_ref().url;
            return Err(ctx.error(url, &format!("webhook[{i}].url"), "this URL has a webhook already"));
        }
        webhooks.push(resolved);
    }
    Ok(webhooks)
}

fn resolve_one(
    raw: &RawWebhook,
    index: usize,
    records: &[RecordConfig],
    ctx: &FileCtx,
) -> Result<WebhookConfig, ConfigError> {
    let field = |name: &str| format!("webhook[{index}].{name}");
    let url = WebhookUrl::try_new(raw.url.get_ref()).map_err(|m| ctx.error(&raw.url, &field("url"), m))?;
    let max_backoff = duration(
        ctx,
        &raw.max_backoff,
        &field("max_backoff"),
        &limits::WEBHOOK_MAX_BACKOFF,
    )?;
    let backoff = duration(ctx, &raw.backoff, &field("backoff"), &limits::WEBHOOK_BACKOFF)?;
    if let Some(v) = raw.backoff.as_ref().filter(|_| backoff > max_backoff) {
        return Err(ctx.error(v, &field("backoff"), "must not be longer than max_backoff"));
    }
    let ca = ca(raw, &url, ctx, &field)?;
    Ok(WebhookConfig {
        secret: secret(raw, &url, ctx, &field)?,
        url,
        events: events(raw, ctx, &field)?,
        records: filter(&raw.records, ctx, &field("records"), "record", |name| {
            records
                .iter()
                .any(|r| crate::serve::http::record_matches(&record_name(r), name))
        })?,
        endpoints: filter(&raw.endpoints, ctx, &field("endpoints"), "endpoint", |name| {
            records.iter().flat_map(|r| &r.endpoints).any(|e| e.name == name)
        })?,
        timeout: duration(ctx, &raw.timeout, &field("timeout"), &limits::WEBHOOK_TIMEOUT)?,
        max_attempts: limit(
            ctx,
            &raw.max_attempts,
            &field("max_attempts"),
            &limits::WEBHOOK_ATTEMPTS,
        )? as u32,
        backoff,
        max_backoff,
        queue: limit(ctx, &raw.queue, &field("queue"), &limits::WEBHOOK_QUEUE)? as usize,
        ca,
    })
}

/// `ca`: only for `https://`, a file of PEM certificates that load.
fn ca(
    raw: &RawWebhook,
    url: &WebhookUrl,
    ctx: &FileCtx,
    field: &dyn Fn(&str) -> String,
) -> Result<Option<std::path::PathBuf>, ConfigError> {
    let Some(value) = &raw.ca else { return Ok(None) };
    if !url.tls {
        return Err(ctx.error(value, &field("ca"), "ca applies to https:// URLs only"));
    }
    let path = ctx.dir().join(value.get_ref());
    let source = crate::observe::CaSource::File(path.clone());
    crate::observe::Clients::new()
        .tls_config(&crate::observe::TlsVerify::CustomCa(source))
        .map_err(|e| {
            let text = e.to_string();
            let message = match text.contains(&*path.to_string_lossy()) {
                true => text,
                false => format!("{}: {text}", path.display()),
            };
            ctx.error(value, &field("ca"), message)
        })?;
    Ok(Some(path))
}

/// The key: exactly one of `secret`, `secret_file` (relative to the config
/// file) and `secret_env` (the server's environment).
fn secret(
    raw: &RawWebhook,
    url: &WebhookUrl,
    ctx: &FileCtx,
    field: &dyn Fn(&str) -> String,
) -> Result<WebhookSecret, ConfigError> {
    let given = [
        ("secret", &raw.secret),
        ("secret_file", &raw.secret_file),
        ("secret_env", &raw.secret_env),
    ];
    let mut given = given.into_iter().filter_map(|(key, v)| Some((key, v.as_ref()?)));
    let Some((key, value)) = given.next() else {
        let message = format!(
            "{} has no key to sign with: give one of secret, secret_file or secret_env",
            url.text
        );
        return Err(ctx.error(&raw.url, &field("url"), message));
    };
    if let Some((other, v)) = given.next() {
        return Err(ctx.error(v, &field(other), format!("give either {key} or {other}, not both")));
    }
    let located = |m: String| ctx.error(value, &field(key), m);
    let text = match key {
        "secret" => value.get_ref().clone(),
        "secret_file" => {
            let path = ctx.dir().join(value.get_ref());
            std::fs::read_to_string(&path).map_err(|e| located(format!("cannot read {}: {e}", path.display())))?
        }
        _ => std::env::var(value.get_ref())
            .map_err(|_| located(format!("the environment variable {} is not set", value.get_ref())))?,
    };
    WebhookSecret::try_new(&text).map_err(located)
}

fn events(raw: &RawWebhook, ctx: &FileCtx, field: &dyn Fn(&str) -> String) -> Result<Vec<&'static str>, ConfigError> {
    let Some(list) = &raw.events else {
        return Ok(DEFAULT_EVENTS.to_vec());
    };
    if list.get_ref().is_empty() {
        return Err(ctx.error(list, &field("events"), "no events: leave the webhook out instead"));
    }
    let mut kinds = Vec::new();
    for name in list.get_ref() {
        let Some(&kind) = EVENT_KINDS.iter().find(|k| **k == name.get_ref()) else {
            let message = format!(
                "\"{}\" is not a kind of event; allowed: {}",
                name.get_ref(),
                EVENT_KINDS.join(", ")
            );
            return Err(ctx.error(name, &field("events"), message));
        };
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    Ok(kinds)
}

/// A list of names, each of which `known` must accept.
fn filter(
    list: &Option<Vec<Spanned<String>>>,
    ctx: &FileCtx,
    field: &str,
    noun: &str,
    known: impl Fn(&str) -> bool,
) -> Result<Option<Vec<String>>, ConfigError> {
    let Some(list) = list else { return Ok(None) };
    for name in list {
        if !known(name.get_ref()) {
            let message = format!("\"{}\" is not a configured {noun}", name.get_ref());
            return Err(ctx.error(name, field, message));
        }
    }
    Ok(Some(list.iter().map(|n| n.get_ref().clone()).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_split_for_the_client() {
        let u = WebhookUrl::try_new("https://hooks.example.test/a/b?x=1").unwrap();
        assert!(u.tls);
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("hooks.example.test", 443, "/a/b?x=1")
        );
        assert_eq!(u.host_header(), "hooks.example.test");
        let u = WebhookUrl::try_new("http://[::1]:8080").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.path.as_str()), ("::1", 8080, "/"));
        assert_eq!(u.host_header(), "[::1]:8080");
        assert!(WebhookUrl::try_new("ftp://x.test/").unwrap_err().contains("http://"));
        assert!(WebhookUrl::try_new("/relative").is_err());
        assert!(
            WebhookUrl::try_new("http://user:pw@x.test/")
                .unwrap_err()
                .contains("credentials")
        );
    }

    #[test]
    fn secrets_are_trimmed_bounded_and_never_shown() {
        let s = WebhookSecret::try_new("0123456789abcdef\n").unwrap();
        assert_eq!(s.bytes(), b"0123456789abcdef");
        assert_eq!(format!("{s:?}"), "WebhookSecret(..)");
        assert!(WebhookSecret::try_new("short").unwrap_err().contains("16..=4096"));
    }
}
