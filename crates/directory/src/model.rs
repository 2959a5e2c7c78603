//! What the directory answers: users, groups, domains and the outcome of a
//! lookup or a login. Both backends produce exactly these types, so callers
//! never see which one is behind the trait.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::address::Address;

/// What an address resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// A mailbox owner.
    User(Box<User>),
    /// A group or distribution list (expand it with [`crate::expand_group`]).
    Group(Box<Group>),
    /// Nobody: the domain is not hosted or no entry carries the address.
    None,
}

impl Resolved {
    /// The user, if this is one.
    pub fn user(&self) -> Option<&User> {
        match self {
            Self::User(u) => Some(u),
            _ => None,
        }
    }

    /// The group, if this is one.
    pub fn group(&self) -> Option<&Group> {
        match self {
            Self::Group(g) => Some(g),
            _ => None,
        }
    }
}

/// Account status. Each maps to a distinct protocol answer so that a
/// disabled account is not mistaken for a missing one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountStatus {
    /// Receives mail and may log in.
    #[default]
    Active,
    /// Temporarily disabled: mail is deferred, logins refused.
    Inactive,
    /// Removed: mail bounces, logins fail as for an unknown user.
    Deleted,
}

impl AccountStatus {
    /// The directory value (`active`, `inactive`, `deleted`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
            Self::Deleted => "deleted",
        }
    }

    /// Parses a directory value; unknown values count as inactive so that a
    /// typo disables an account rather than opening it.
    pub fn parse(value: &str) -> Self {
        match value.trim().to_ascii_lowercase().as_str() {
            "active" | "" => Self::Active,
            "deleted" | "removed" => Self::Deleted,
            _ => Self::Inactive,
        }
    }

    /// The SMTP `RCPT TO` answer: code and RFC 3463 enhanced status.
    /// Inactive defers (X.2.1 mailbox disabled) so mail waits in the queue;
    /// deleted is the permanent X.1.1 "no such user".
    pub fn smtp_reply(self) -> (u16, &'static str, &'static str) {
        match self {
            Self::Active => (250, "2.1.5", "recipient ok"),
            Self::Inactive => (450, "4.2.1", "mailbox temporarily disabled"),
            Self::Deleted => (550, "5.1.1", "no such user"),
        }
    }

    /// The IMAP/POP answer to a login with the right password
    /// (RFC 5530 response codes).
    pub fn imap_reply(self) -> &'static str {
        match self {
            Self::Active => "OK",
            Self::Inactive => "NO [CONTACTADMIN] account disabled",
            Self::Deleted => "NO [AUTHENTICATIONFAILED] authentication failed",
        }
    }
}

impl fmt::Display for AccountStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Mailbox limits; `None` means unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quota {
    /// Total size of stored messages, in bytes.
    pub bytes: Option<u64>,
    /// Number of stored messages.
    pub messages: Option<u64>,
}

/// A vacation autoreply. Dates are LDAP GeneralizedTime (`20261224000000Z`),
/// the same text in both backends so entries move between them unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vacation {
    /// The reply body.
    pub text: String,
    /// First moment the reply is sent; `None`: already started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// Moment after which it stops; `None`: until removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
}

impl Vacation {
    /// Whether the reply is due at `now` (seconds since the Unix epoch).
    /// An unparsable date disables the reply rather than sending it forever.
    pub fn active_at(&self, now: u64) -> bool {
        let after_start = match &self.start {
            None => true,
            Some(s) => parse_generalized_time(s).is_some_and(|t| now >= t),
        };
        let before_end = match &self.end {
            None => true,
            Some(e) => parse_generalized_time(e).is_some_and(|t| now < t),
        };
        after_start && before_end
    }
}

/// Parses the UTC form of LDAP GeneralizedTime (RFC 4517 3.3.13),
/// `YYYYMMDDHHMMSSZ` or `YYYYMMDDHHMMZ`/`YYYYMMDDHHZ`, into Unix seconds.
pub fn parse_generalized_time(s: &str) -> Option<u64> {
    let body = s.strip_suffix('Z')?;
    let body = body.split(['.', ',']).next()?;
    if !body.bytes().all(|b| b.is_ascii_digit()) || !matches!(body.len(), 10 | 12 | 14) {
        return None;
    }
    let num = |r: std::ops::Range<usize>| body.get(r).and_then(|x| x.parse::<u64>().ok());
    let (y, mo, d, h) = (num(0..4)?, num(4..6)?, num(6..8)?, num(8..10)?);
    let mi = if body.len() >= 12 { num(10..12)? } else { 0 };
    let se = if body.len() >= 14 { num(12..14)? } else { 0 };
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm), for years >= 1970.
    let (y, mo) = if mo <= 2 {
        (y.checked_sub(1)?, mo + 9)
    } else {
        (y, mo - 3)
    };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * mo + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146_097 + doe).checked_sub(719_468)?;
    Some(days * 86_400 + h * 3600 + mi * 60 + se)
}

/// How mail to a user is delivered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// Addresses mail is forwarded to.
    pub forward_to: Vec<String>,
    /// With forwarding: also keep a copy in the mailbox.
    pub keep_local_copy: bool,
    /// `mailRoutingAddress`: every message to the user goes to this address
    /// instead (a relocated mailbox), before any other option applies.
    pub routing_address: Option<String>,
    /// Autoreply, when set.
    pub vacation: Option<Vacation>,
}

/// A mailbox owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Distinguished name (the file backend synthesises one).
    pub dn: String,
    /// Login name, unique in the directory.
    pub uid: String,
    /// Primary address (`mail`).
    pub address: Address,
    /// Alternate addresses (`mailLocalAddress`); `@domain` is a catch-all.
    pub alternates: Vec<String>,
    /// Display name (`cn`).
    pub display_name: String,
    /// The store that holds the mailbox (`mailHost`).
    pub mail_host: Option<String>,
    /// The partition within that store.
    pub partition: Option<String>,
    /// Mailbox limits.
    pub quota: Quota,
    /// Forwarding, routing and autoreply.
    pub delivery: Delivery,
    /// Account status.
    pub status: AccountStatus,
    /// Other attributes, by lower-cased name (used by dynamic-group filters
    /// in the file backend, e.g. `departmentnumber`).
    pub attributes: BTreeMap<String, Vec<String>>,
}

/// Who may send to a group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PostingPolicy {
    /// Anybody, including outside senders.
    #[default]
    Anyone,
    /// Members of the (expanded) group and the allowed senders.
    Members,
    /// Only the allowed senders.
    Restricted,
}

impl PostingPolicy {
    /// The directory value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Anyone => "anyone",
            Self::Members => "members",
            Self::Restricted => "restricted",
        }
    }

    /// Parses a directory value; unknown values restrict (fail closed).
    pub fn parse(value: &str) -> Self {
        match value.trim().to_ascii_lowercase().as_str() {
            "anyone" | "" => Self::Anyone,
            "members" => Self::Members,
            _ => Self::Restricted,
        }
    }
}

/// A group or distribution list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Distinguished name.
    pub dn: String,
    /// Common name, unique among groups.
    pub name: String,
    /// Address of the list, if it receives mail.
    pub address: Option<Address>,
    /// Alternate addresses.
    pub alternates: Vec<String>,
    /// Static members by DN (`member`): users or other groups.
    pub members: Vec<String>,
    /// Static members by address, inside or outside the organisation.
    pub member_addresses: Vec<String>,
    /// Dynamic members: LDAP URLs (RFC 4516) whose filter selects entries.
    pub member_urls: Vec<String>,
    /// Who may post.
    pub posting: PostingPolicy,
    /// Senders always allowed (addresses).
    pub allowed_senders: Vec<String>,
}

/// A hosted mail domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Domain {
    /// The canonical name.
    pub name: String,
    /// Other names that mean the same domain (`a@alias` is `a@name`).
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// Outcome of a password check. Wrong password and unknown login are one
/// variant on purpose: a client must not learn which logins exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthResult {
    /// Right password, active account.
    Authenticated(Box<User>),
    /// Unknown login or wrong password.
    Failed,
    /// Right password, account inactive.
    Inactive(Box<User>),
    /// Right password, account deleted: answer as [`AuthResult::Failed`].
    Deleted,
}

/// A new user.
#[derive(Debug, Clone, Default)]
pub struct UserSpec {
    /// Login name.
    pub uid: String,
    /// Primary address.
    pub address: String,
    /// Display name; defaults to the uid.
    pub display_name: Option<String>,
    /// Password in clear (hashed by the backend) or already hashed with a
    /// `{SCHEME}` prefix.
    pub password: Option<String>,
    /// Alternate addresses.
    pub alternates: Vec<String>,
    /// Store host.
    pub mail_host: Option<String>,
    /// Store partition.
    pub partition: Option<String>,
    /// Limits.
    pub quota: Quota,
    /// Delivery options.
    pub delivery: Delivery,
    /// Initial status.
    pub status: AccountStatus,
    /// Other attributes (`departmentNumber` …).
    pub attributes: BTreeMap<String, Vec<String>>,
}

/// Changes to a user; `None` leaves a field alone. Empty strings and zero
/// quotas remove the value.
#[derive(Debug, Clone, Default)]
pub struct UserChange {
    /// New display name.
    pub display_name: Option<String>,
    /// New password (clear or `{SCHEME}`-hashed).
    pub password: Option<String>,
    /// New primary address.
    pub address: Option<String>,
    /// Replaces the alternate addresses.
    pub alternates: Option<Vec<String>>,
    /// New store host (empty: none).
    pub mail_host: Option<String>,
    /// New partition (empty: none).
    pub partition: Option<String>,
    /// New byte quota (0: unlimited).
    pub quota_bytes: Option<u64>,
    /// New message quota (0: unlimited).
    pub quota_messages: Option<u64>,
    /// Replaces the forwarding addresses.
    pub forward_to: Option<Vec<String>>,
    /// Keep a local copy when forwarding.
    pub keep_local_copy: Option<bool>,
    /// New routing address (empty: none).
    pub routing_address: Option<String>,
    /// Sets (`Some(Some)`) or removes (`Some(None)`) the autoreply.
    pub vacation: Option<Option<Vacation>>,
    /// New status.
    pub status: Option<AccountStatus>,
}

fn non_empty(s: &str) -> Option<String> {
    (!s.trim().is_empty()).then(|| s.trim().to_string())
}

impl UserChange {
    /// Applies every field except the password and the address to `u`
    /// (those need checks by the backend).
    pub fn apply(&self, u: &mut User) {
        if let Some(v) = &self.display_name {
            u.display_name = v.clone();
        }
        if let Some(v) = &self.alternates {
            u.alternates = v.iter().map(|a| a.to_lowercase()).collect();
        }
        if let Some(v) = &self.mail_host {
            u.mail_host = non_empty(v);
        }
        if let Some(v) = &self.partition {
            u.partition = non_empty(v);
        }
        if let Some(v) = self.quota_bytes {
            u.quota.bytes = (v > 0).then_some(v);
        }
        if let Some(v) = self.quota_messages {
            u.quota.messages = (v > 0).then_some(v);
        }
        if let Some(v) = &self.forward_to {
            u.delivery.forward_to = v.clone();
        }
        if let Some(v) = self.keep_local_copy {
            u.delivery.keep_local_copy = v;
        }
        if let Some(v) = &self.routing_address {
            u.delivery.routing_address = non_empty(v);
        }
        if let Some(v) = &self.vacation {
            u.delivery.vacation = v.clone();
        }
        if let Some(v) = self.status {
            u.status = v;
        }
    }
}

/// A new group.
#[derive(Debug, Clone, Default)]
pub struct GroupSpec {
    /// Common name.
    pub name: String,
    /// The list address, if it receives mail.
    pub address: Option<String>,
    /// Other addresses that reach the list (`mailLocalAddress`).
    pub alternates: Vec<String>,
    /// Members: DNs, addresses (anything with `@` and no `=`) or LDAP URLs.
    pub members: Vec<String>,
    /// Who may post.
    pub posting: PostingPolicy,
    /// Senders always allowed.
    pub allowed_senders: Vec<String>,
}

/// Changes to a group's membership and posting rules.
#[derive(Debug, Clone, Default)]
pub struct GroupChange {
    /// Members to add (DN, address or LDAP URL).
    pub add: Vec<String>,
    /// Members to remove (DN, address or LDAP URL).
    pub remove: Vec<String>,
    /// New posting policy.
    pub posting: Option<PostingPolicy>,
    /// Replaces the allowed senders.
    pub allowed_senders: Option<Vec<String>>,
    /// Replaces the alternate addresses (the backend checks they are free).
    pub alternates: Option<Vec<String>>,
}

/// The kind of a member value given to [`GroupSpec`] or [`GroupChange`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberRef {
    /// A DN (`uid=alice,ou=people,…`).
    Dn(String),
    /// An address.
    Address(String),
    /// An LDAP URL.
    Url(String),
}

impl MemberRef {
    /// Classifies `value`: LDAP URLs by scheme, addresses by an `@` without
    /// `=`, everything else is a DN.
    pub fn classify(value: &str) -> Self {
        let v = value.trim();
        let lower = v.to_ascii_lowercase();
        if lower.starts_with("ldap://")
            || lower.starts_with("ldaps://")
            || lower.starts_with("ldapi://")
        {
            Self::Url(v.to_string())
        } else if v.contains('@') && !v.contains('=') {
            Self::Address(v.to_lowercase())
        } else {
            Self::Dn(v.to_string())
        }
    }
}

impl Group {
    /// Applies membership and posting changes.
    pub fn apply(&mut self, change: &GroupChange) {
        if let Some(v) = &change.alternates {
            self.alternates = v.iter().map(|a| a.to_lowercase()).collect();
        }
        for m in &change.add {
            match MemberRef::classify(m) {
                MemberRef::Dn(d) => push_unique_dn(&mut self.members, d),
                MemberRef::Address(a) => push_unique(&mut self.member_addresses, a),
                MemberRef::Url(u) => push_unique(&mut self.member_urls, u),
            }
        }
        for m in &change.remove {
            match MemberRef::classify(m) {
                MemberRef::Dn(d) => {
                    let n = crate::dn::normalize(&d);
                    self.members.retain(|x| crate::dn::normalize(x) != n);
                }
                MemberRef::Address(a) => self
                    .member_addresses
                    .retain(|x| !x.eq_ignore_ascii_case(&a)),
                MemberRef::Url(u) => self.member_urls.retain(|x| x != &u),
            }
        }
        if let Some(p) = change.posting {
            self.posting = p;
        }
        if let Some(s) = &change.allowed_senders {
            self.allowed_senders = s.iter().map(|a| a.to_lowercase()).collect();
        }
    }
}

fn push_unique(list: &mut Vec<String>, value: String) {
    if !list.iter().any(|x| x.eq_ignore_ascii_case(&value)) {
        list.push(value);
    }
}

fn push_unique_dn(list: &mut Vec<String>, value: String) {
    let n = crate::dn::normalize(&value);
    if !list.iter().any(|x| crate::dn::normalize(x) == n) {
        list.push(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generalized_time() {
        assert_eq!(parse_generalized_time("19700101000000Z"), Some(0));
        assert_eq!(parse_generalized_time("20000301000000Z"), Some(951_868_800));
        assert_eq!(parse_generalized_time("2000030100Z"), Some(951_868_800));
        assert_eq!(parse_generalized_time("20001301000000Z"), None);
        assert_eq!(parse_generalized_time("20000301000000"), None);
    }

    #[test]
    fn vacation_window() {
        let v = Vacation {
            text: "away".into(),
            start: Some("20000301000000Z".into()),
            end: Some("20000302000000Z".into()),
        };
        assert!(!v.active_at(951_868_799));
        assert!(v.active_at(951_868_800));
        assert!(!v.active_at(951_955_200));
    }

    #[test]
    fn status_answers_differ() {
        let s: Vec<_> = [
            AccountStatus::Active,
            AccountStatus::Inactive,
            AccountStatus::Deleted,
        ]
        .iter()
        .map(|s| s.smtp_reply().0)
        .collect();
        assert_eq!(s, [250, 450, 550]);
        assert_eq!(AccountStatus::parse("bogus"), AccountStatus::Inactive);
    }
}
