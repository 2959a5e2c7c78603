//! Address resolution shared by both backends, so that they agree on the
//! order of the rules: exact address, then the same local part in the
//! canonical domain (domain aliases), then without a `+tag` subaddress,
//! then the domain's catch-all (`@domain` as an alternate address).

use crate::Directory;
use crate::address::Address;
use crate::error::Result;
use crate::model::Resolved;

/// What a backend provides for [`resolve`].
pub(crate) trait AddressIndex: Directory {
    /// Every user and group carrying any of `candidates` (lower-cased
    /// addresses or `@domain`) as primary or alternate address.
    async fn find_addresses(&self, candidates: &[String]) -> Result<Vec<Resolved>>;
}

/// The addresses an entry answers to, lower-cased.
pub(crate) fn addresses_of(r: &Resolved) -> Vec<String> {
    match r {
        Resolved::User(u) => std::iter::once(u.address.to_string())
            .chain(u.alternates.iter().map(|a| a.to_lowercase()))
            .collect(),
        Resolved::Group(g) => g
            .address
            .iter()
            .map(|a| a.to_string())
            .chain(g.alternates.iter().map(|a| a.to_lowercase()))
            .collect(),
        Resolved::None => Vec::new(),
    }
}

fn pick(candidates: &[String], found: Vec<Resolved>) -> Resolved {
    for c in candidates {
        for r in &found {
            if addresses_of(r).iter().any(|a| a == c) {
                if found.len() > 1 {
                    tracing::warn!(address = %c, entries = found.len(), "address carried by several directory entries; using the first");
                }
                return r.clone();
            }
        }
    }
    Resolved::None
}

pub(crate) async fn resolve<B: AddressIndex>(b: &B, addr: &Address) -> Result<Resolved> {
    let Some(domain) = b.domain(addr.domain()).await? else {
        return Ok(Resolved::None);
    };
    let canonical = addr.with_domain(&domain.name);
    let mut candidates = vec![addr.to_string()];
    if canonical != *addr {
        candidates.push(canonical.to_string());
    }
    // RFC 5233 subaddress: `alice+lists@` reaches `alice@` unless an entry
    // claims the tagged address itself.
    if let Some((base, _tag)) = addr.local().split_once('+')
        && !base.is_empty()
    {
        candidates.push(format!("{base}@{}", addr.domain()));
        if canonical != *addr {
            candidates.push(format!("{base}@{}", domain.name));
        }
    }
    let found = pick(&candidates, b.find_addresses(&candidates).await?);
    if found != Resolved::None {
        return Ok(found);
    }
    let mut catch_all = vec![format!("@{}", addr.domain())];
    if canonical != *addr {
        catch_all.push(format!("@{}", domain.name));
    }
    Ok(pick(&catch_all, b.find_addresses(&catch_all).await?))
}

/// Refuses `addresses` already carried by an entry other than `except_dn`,
/// and addresses in domains that are not hosted (mail to them would never
/// reach the entry).
pub(crate) async fn ensure_addresses_free<B: AddressIndex>(
    b: &B,
    addresses: &[String],
    except_dn: Option<&str>,
) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for a in addresses {
        let a = a.trim().to_lowercase();
        let domain = if let Some(d) = a.strip_prefix('@') {
            crate::address::parse_domain(d).map_err(|reason| {
                crate::DirectoryError::InvalidInput {
                    what: "catch-all address",
                    reason: format!("{a}: {reason}"),
                }
            })?
        } else {
            Address::parse(&a)?.domain().to_string()
        };
        match b.domain(&domain).await? {
            Some(d) if d.name == domain => {}
            Some(d) => {
                return Err(crate::DirectoryError::InvalidInput {
                    what: "address",
                    reason: format!(
                        "{a}: {domain} is an alias of {}; use the canonical domain",
                        d.name
                    ),
                });
            }
            None => {
                return Err(crate::DirectoryError::InvalidInput {
                    what: "address",
                    reason: format!(
                        "{a}: domain {domain} is not hosted (add it with `mailctl domain add`)"
                    ),
                });
            }
        }
        for r in b.find_addresses(std::slice::from_ref(&a)).await? {
            let dn = match &r {
                Resolved::User(u) => &u.dn,
                Resolved::Group(g) => &g.dn,
                Resolved::None => continue,
            };
            if except_dn.is_none_or(|e| crate::dn::normalize(e) != crate::dn::normalize(dn)) {
                return Err(crate::DirectoryError::AlreadyExists(format!(
                    "address {a} (on {dn})"
                )));
            }
        }
        out.push(a);
    }
    Ok(out)
}
