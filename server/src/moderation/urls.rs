//! Prohibited URL patterns (part of the pre-filter, seed §3.1 step 2).
//!
//! The list is `category<TAB>pattern` lines (`#` comments): `host.tld` matches that host
//! and every subdomain, `*.tld` a whole top-level domain. Operators point
//! `NEXUS_URL_LIST` at their partner lists (e.g. a hotline's URL list, converted); the
//! bundled `assets/moderation/urls.tsv` holds only what the project can defend shipping.
//!
//! Hosts are found in text the way people disguise them: with or without a scheme,
//! `hxxp`, `[.]`, `(.)`, ` dot `, upper case, and trailing paths or ports.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use super::category::Category;

/// A URL hit: the category and the pattern it matched (never the user's text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlHit {
    /// Category of the pattern.
    pub category: Category,
    /// The pattern.
    pub pattern: String,
}

/// The patterns in force, reloadable.
#[derive(Debug)]
pub struct UrlFilter {
    path: Option<PathBuf>,
    patterns: RwLock<Arc<Vec<(Category, String)>>>,
}

impl UrlFilter {
    /// Loads `path`.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let patterns = read(path)?;
        Ok(Self { path: Some(path.to_path_buf()), patterns: RwLock::new(Arc::new(patterns)) })
    }

    /// The bundled list.
    pub fn bundled() -> anyhow::Result<Self> {
        Self::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/moderation/urls.tsv"))
    }

    /// A filter with the given patterns (tests, embedding).
    #[must_use]
    pub fn from_patterns(patterns: Vec<(Category, String)>) -> Self {
        Self { path: None, patterns: RwLock::new(Arc::new(patterns)) }
    }

    /// Re-reads the file; on error the previous patterns stay in force.
    pub fn reload(&self) -> anyhow::Result<usize> {
        let Some(path) = &self.path else { return Ok(self.current().len()) };
        let fresh = read(path)?;
        let n = fresh.len();
        *self.patterns.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(fresh);
        Ok(n)
    }

    fn current(&self) -> Arc<Vec<(Category, String)>> {
        Arc::clone(&self.patterns.read().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// Prohibited hosts mentioned in `text`.
    #[must_use]
    pub fn scan(&self, text: &str) -> Vec<UrlHit> {
        let patterns = self.current();
        if patterns.is_empty() {
            return Vec::new();
        }
        let mut hits: Vec<UrlHit> = Vec::new();
        for host in hosts(text) {
            for (category, pattern) in patterns.iter() {
                let matched = match pattern.strip_prefix("*.") {
                    Some(tld) => host.ends_with(&format!(".{tld}")),
                    None => host == *pattern || host.ends_with(&format!(".{pattern}")),
                };
                if matched && !hits.iter().any(|h| h.pattern == *pattern) {
                    hits.push(UrlHit { category: *category, pattern: pattern.clone() });
                }
            }
        }
        hits
    }
}

fn read(path: &Path) -> anyhow::Result<Vec<(Category, String)>> {
    let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (category, pattern) = line
            .split_once('\t')
            .ok_or_else(|| anyhow::anyhow!("{}:{}: expected category<TAB>pattern", path.display(), n + 1))?;
        let category = Category::parse(category.trim())
            .ok_or_else(|| anyhow::anyhow!("{}:{}: unknown category {category:?}", path.display(), n + 1))?;
        let pattern = pattern.trim().to_ascii_lowercase();
        anyhow::ensure!(
            pattern.contains('.') && !pattern.contains('/'),
            "{}:{}: a pattern is a host (`host.tld` or `*.tld`)",
            path.display(),
            n + 1
        );
        out.push((category, pattern));
    }
    Ok(out)
}

/// Host names found in `text`, lower-cased, with common disguises undone.
fn hosts(text: &str) -> Vec<String> {
    let mut t = text.to_lowercase();
    for (from, to) in [("[.]", "."), ("(.)", "."), ("[dot]", "."), ("(dot)", "."), (" dot ", "."), ("hxxp", "http")] {
        t = t.replace(from, to);
    }
    let is_host_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.';
    let mut out = Vec::new();
    for token in t.split(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\'' | '(' | ')' | ',')) {
        let token = token.split_once("://").map_or(token, |(_, rest)| rest);
        let token = token.rsplit_once('@').map_or(token, |(_, host)| host); // user@host
        let host: String = token.chars().take_while(|&c| is_host_char(c)).collect();
        let host = host.trim_matches('.');
        let Some((_, tld)) = host.rsplit_once('.') else { continue };
        if tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()) {
            out.push(host.to_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter() -> UrlFilter {
        UrlFilter::from_patterns(vec![
            (Category::IllicitDrugs, "pills.example".into()),
            (Category::IllicitDrugs, "*.onion".into()),
        ])
    }

    #[test]
    fn finds_disguised_hosts() {
        let f = filter();
        for text in [
            "go to https://pills.example/shop",
            "shop.PILLS.example:8080 has it",
            "hxxps://pills[.]example",
            "write to me at pills dot example",
            "abcdefghij.onion/market",
        ] {
            assert_eq!(f.scan(text).len(), 1, "{text}");
        }
    }

    #[test]
    fn leaves_other_hosts_and_prose_alone() {
        let f = filter();
        for text in ["see https://example.org", "pills.examples.org", "I take pills. example: aspirin", "3.14 is pi"] {
            assert!(f.scan(text).is_empty(), "{text}: {:?}", f.scan(text));
        }
    }

    #[test]
    fn bundled_list_loads_and_bad_lines_are_refused() {
        UrlFilter::bundled().expect("bundled list loads");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("u.tsv");
        std::fs::write(&path, "spam\tx.example\n").expect("write");
        assert!(UrlFilter::load(&path).is_err());
        std::fs::write(&path, "hate\thttps://x.example/path\n").expect("write");
        assert!(UrlFilter::load(&path).is_err());
    }
}
