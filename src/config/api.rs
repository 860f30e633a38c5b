//! The HTTP API's configuration (`[api]` and `lifeline serve --api`),
//! resolved: where it listens, if at all, the bearer token that writes
//! need, and whether reads need it too.

use std::net::SocketAddr;

use toml::Spanned;

use super::error::ConfigError;
use super::limits;
use super::raw::RawApi;
use super::resolved::FileCtx;

/// Where the API listens when nothing says otherwise: loopback only.
pub const DEFAULT_API_LISTEN: &str = "127.0.0.1:8053";

/// `[api]`, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiConfig {
    /// Where the API listens; `None` when it is turned off.
    pub listen: Option<SocketAddr>,
    /// Whether `listen` was asked for (the `listen` key or `--api`) rather
    /// than defaulted. A default address that is taken (another Lifeline on
    /// the host) only costs a warning; an address asked for that cannot be
    /// bound stops the server.
    pub explicit: bool,
    /// The token from `token_file`, if any.
    pub token: Option<ApiToken>,
    /// Which requests need the token.
    pub auth: ApiAuth,
}

/// Which requests need the bearer token (`[api] auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ApiAuth {
    /// Writes (overrides, failback, reload); reads and `/metrics` are open.
    #[default]
    Writes,
    /// Every request, reads and `/metrics` included.
    All,
}

impl ApiAuth {
    fn parse(text: &str) -> Result<ApiAuth, String> {
        match text {
            "writes" => Ok(ApiAuth::Writes),
            "all" => Ok(ApiAuth::All),
            other => Err(format!(
                "\"{other}\" is not a choice: \"writes\" (the token for writes only) or \"all\" (for every request)"
            )),
        }
    }
}

impl Default for ApiConfig {
    fn default() -> ApiConfig {
        ApiConfig {
            listen: Some(DEFAULT_API_LISTEN.parse().expect("valid default")),
            explicit: false,
            token: None,
            auth: ApiAuth::Writes,
        }
    }
}

/// A bearer token. Its value never appears in `Debug` output or logs, and
/// it is compared in constant time.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiToken(Box<[u8]>);

impl ApiToken {
    /// A token from its text (surrounding whitespace, e.g. a file's final
    /// newline, is not part of it): 16 to 4096 visible ASCII characters,
    /// so that it fits an `Authorization` header as written.
    pub fn try_new(text: &str) -> Result<ApiToken, String> {
        let text = text.trim();
        let len = text.len() as u64;
        let (min, max) = (limits::API_TOKEN_LEN.min, limits::API_TOKEN_LEN.max);
        if !(min..=max).contains(&len) {
            return Err(format!(
                "the token is {len} characters long; allowed {min}..={max} ({}), e.g. `openssl rand -hex 32`",
                limits::API_TOKEN_LEN.why
            ));
        }
        if !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("the token must be visible ASCII characters without spaces".into());
        }
        Ok(ApiToken(text.as_bytes().into()))
    }

    /// Whether `presented` is this token, in time that does not depend on
    /// where they differ.
    pub fn matches(&self, presented: &[u8]) -> bool {
        subtle::ConstantTimeEq::ct_eq(&self.0[..], presented).into()
    }
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiToken(..)")
    }
}

/// Resolves `[api]`, then applies `--api ADDR` (which wins over the file).
pub(super) fn resolve(raw: &RawApi, file: Option<&FileCtx>, flag: Option<&str>) -> Result<ApiConfig, ConfigError> {
    let mut api = ApiConfig::default();
    if let Some(listen) = &raw.listen {
        let ctx = file.expect("an [api] table comes from a file");
        api.explicit = true;
        api.listen = match listen.get_ref().trim() {
            "" => None,
            text => Some(parse_listen(text).map_err(|m| ctx.error(listen, "api.listen", m))?),
        };
    }
    if let Some(enabled) = &raw.enabled
        && !enabled.get_ref()
    {
        api.listen = None;
    }
    if let Some(path) = &raw.token_file {
        api.token = Some(read_token(path, file.expect("an [api] table comes from a file"))?);
    }
    if let Some(auth) = &raw.auth {
        let ctx = file.expect("an [api] table comes from a file");
        api.auth = ApiAuth::parse(auth.get_ref()).map_err(|m| ctx.error(auth, "api.auth", m))?;
    }
    if let Some(flag) = flag {
        api.explicit = true;
        api.listen = Some(parse_listen(flag).map_err(|message| ConfigError::Flag {
            flag: format!("--api {flag}"),
            message,
        })?);
    }
    Ok(api)
}

fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    text.parse().map_err(|_| {
        format!(
            "\"{text}\" is not an address with a port, e.g. {DEFAULT_API_LISTEN} or [::1]:8053; \"\" turns the API off"
        )
    })
}

/// Reads `token_file` (relative to the config file).
fn read_token(path: &Spanned<String>, ctx: &FileCtx) -> Result<ApiToken, ConfigError> {
    let full = ctx.dir().join(path.get_ref());
    let text = std::fs::read_to_string(&full)
        .map_err(|e| ctx.error(path, "api.token_file", format!("cannot read {}: {e}", full.display())))?;
    warn_if_readable_by_others(&full);
    ApiToken::try_new(&text).map_err(|m| ctx.error(path, "api.token_file", format!("{}: {m}", full.display())))
}

/// A token file others can read is a token others can use.
fn warn_if_readable_by_others(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            "{}: the API token file is readable by group or others; `chmod 600` it",
            path.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_trimmed_bounded_and_visible_ascii() {
        let token = ApiToken::try_new("0123456789abcdef\n").unwrap();
        assert!(token.matches(b"0123456789abcdef"));
        assert!(!token.matches(b"0123456789abcdeF"));
        assert!(!token.matches(b"0123456789abcde"));
        assert!(ApiToken::try_new("short").unwrap_err().contains("16..=4096"));
        assert!(ApiToken::try_new("0123456789 abcdef").is_err());
        assert_eq!(format!("{token:?}"), "ApiToken(..)");
    }

    #[test]
    fn the_flag_wins_and_empty_listen_turns_the_api_off() {
        let raw = RawApi::default();
        let api = resolve(&raw, None, None).unwrap();
        assert_eq!(api.listen, Some("127.0.0.1:8053".parse().unwrap()));
        assert!(!api.explicit);
        let api = resolve(&raw, None, Some("127.0.0.1:0")).unwrap();
        assert_eq!(api.listen, Some("127.0.0.1:0".parse().unwrap()));
        assert!(api.explicit);
        let err = resolve(&raw, None, Some("8053")).unwrap_err().to_string();
        assert!(err.starts_with("--api 8053: "), "{err}");
    }

    #[test]
    fn auth_is_writes_or_all() {
        assert_eq!(ApiAuth::parse("all"), Ok(ApiAuth::All));
        assert_eq!(ApiAuth::parse("writes"), Ok(ApiAuth::Writes));
        assert!(ApiAuth::parse("reads").unwrap_err().contains("\"writes\""));
        assert_eq!(ApiConfig::default().auth, ApiAuth::Writes);
    }
}
