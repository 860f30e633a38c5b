//! Dual-stack records: `type = ["A", "AAAA"]` in one `[[record]]`.
//!
//! Such a record resolves into two records, one per address family, each
//! with the endpoints that have an address of that family. An endpoint
//! with an IPv4 and an IPv6 address becomes two endpoints, `NAME/v4` and
//! `NAME/v6`, each checked over its own address and with a verdict of its
//! own. `families` says how the two answers relate:
//!
//! ```text
//!  families    | the A answer follows        | the AAAA answer follows
//!  ------------+-----------------------------+-----------------------------
//!  independent | NAME/v4 verdicts            | NAME/v6 verdicts
//!  together    | NAME/v4 and NAME/v6, both   | NAME/v4 and NAME/v6, both
//!              | up for NAME to count as up  | up for NAME to count as up
//! ```
//!
//! With `together` an endpoint whose IPv6 is broken leaves both answers;
//! an endpoint with one family only counts with that family alone.

use std::net::IpAddr;

use toml::Spanned;

use super::error::ConfigError;
use super::raw::RawRecord;
use super::resolved::FileCtx;
use crate::dns::rtype;

/// How the answers of a dual-stack record fail over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Families {
    /// The A answer follows the IPv4 verdicts, the AAAA answer the IPv6
    /// ones.
    Independent,
    /// An endpoint counts as up only when all of its families are up, so
    /// the A and AAAA answers fail over together.
    Together,
}

/// An address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    /// The family of the answers of `rtype` (A or AAAA).
    pub fn of_rtype(rtype: u16) -> Family {
        if rtype == rtype::AAAA { Family::V6 } else { Family::V4 }
    }

    pub fn holds(self, ip: &IpAddr) -> bool {
        match self {
            Family::V4 => ip.is_ipv4(),
            Family::V6 => ip.is_ipv6(),
        }
    }

    /// What an endpoint's name ends with in this family: `web1/v6`.
    pub fn suffix(self) -> &'static str {
        match self {
            Family::V4 => "v4",
            Family::V6 => "v6",
        }
    }

    /// `IPv4`, `IPv6`: for messages.
    pub fn label(self) -> &'static str {
        match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        }
    }
}

/// One family of an endpoint of a dual-stack record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FamilyOf {
    /// The endpoint's name as written (`web1`); the resolved endpoint is
    /// named `web1/v4` or `web1/v6`.
    pub endpoint: String,
    pub family: Family,
}

impl FamilyOf {
    /// The name of this family of the endpoint: `web1/v6`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.endpoint, self.family.suffix())
    }
}

/// The names the families of a dual-stack endpoint written `endpoint`
/// have: `web1/v4`, `web1/v6`.
pub fn family_names(endpoint: &str) -> [String; 2] {
    [Family::V4, Family::V6].map(|family| {
        FamilyOf {
            endpoint: endpoint.to_string(),
            family,
        }
        .name()
    })
}

/// What a record's `type` (and `families`) ask for: one type, or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Types {
    /// `rtype::A` and/or `rtype::AAAA`, A first.
    pub rtypes: Vec<u16>,
    /// `Some` for a record of both types.
    pub families: Option<Families>,
}

/// Reads `type = "A"`, `type = "AAAA"` or `type = ["A", "AAAA"]`, and
/// `families` (which applies to a record of both types only).
pub(super) fn types(r: &RawRecord, ctx: &FileCtx, f: &impl Fn(&str) -> String) -> Result<Types, ConfigError> {
    let field = f("type");
    let one = |text: &str| match text.to_ascii_uppercase().as_str() {
        "A" => Ok(rtype::A),
        "AAAA" => Ok(rtype::AAAA),
        _ => Err(ctx.error(&r.rtype, &field, "a health-checked record is \"A\" or \"AAAA\"")),
    };
    let mut rtypes = match r.rtype.get_ref() {
        toml::Value::String(text) => vec![one(text)?],
        toml::Value::Array(list) if !list.is_empty() => {
            let mut rtypes = Vec::new();
            for item in list {
                let t = item.as_str().map_or_else(
                    || Err(ctx.error(&r.rtype, &field, "write \"A\", \"AAAA\" or [\"A\", \"AAAA\"]")),
                    one,
                )?;
                if rtypes.contains(&t) {
                    let message = format!("{} is listed twice", rtype::mnemonic(t));
                    return Err(ctx.error(&r.rtype, &field, message));
                }
                rtypes.push(t);
            }
            rtypes
        }
        _ => return Err(ctx.error(&r.rtype, &field, "write \"A\", \"AAAA\" or [\"A\", \"AAAA\"]")),
    };
    rtypes.sort_unstable();
    let both = rtypes.len() == 2;
    let families = match (&r.families, both) {
        (None, false) => None,
        (None, true) => Some(Families::Independent),
        (Some(v), false) => {
            let message = "`families` applies to a record of both types: type = [\"A\", \"AAAA\"]";
            return Err(ctx.error(v, &f("families"), message));
        }
        (Some(v), true) => Some(families(v, ctx, &f("families"))?),
    };
    Ok(Types { rtypes, families })
}

fn families(v: &Spanned<String>, ctx: &FileCtx, field: &str) -> Result<Families, ConfigError> {
    match v.get_ref().as_str() {
        "independent" => Ok(Families::Independent),
        "together" => Ok(Families::Together),
        other => Err(ctx.error(v, field, format!("\"{other}\" is not one of: independent, together"))),
    }
}
