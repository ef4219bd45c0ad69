//! The lexicon pre-filter (seed §3.1 step 2): known banned terms found with one
//! Aho-Corasick automaton over the folded text ([`super::normalize`]), in microseconds.
//!
//! Lexicons are `<lang>.tsv` files (`category<TAB>term`, `#` comments) in
//! `assets/moderation/lexicon/`; [`Prefilter::reload`] swaps in a new automaton without a
//! restart. Terms are clinical descriptions, never graphic content.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use aho_corasick::{AhoCorasick, MatchKind};

use super::category::Category;
use super::normalize::folded_line;

/// A lexicon hit: which category and which lexicon term (never the user's text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// Category of the term.
    pub category: Category,
    /// The lexicon term, as written in the lexicon file.
    pub term: String,
}

/// Errors loading lexicons.
#[derive(Debug, thiserror::Error)]
pub enum LexiconError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A line is not `category<TAB>term` with a known category.
    #[error("{path}:{line}: {why}")]
    Syntax {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        why: String,
    },
    /// The automaton could not be built.
    #[error("building the matcher: {0}")]
    Build(String),
}

/// A compiled set of terms.
#[derive(Debug)]
pub struct Lexicon {
    matcher: AhoCorasick,
    terms: Vec<(Category, String)>,
}

impl Lexicon {
    /// Compiles `(category, term)` pairs.
    pub fn new(terms: Vec<(Category, String)>) -> Result<Self, LexiconError> {
        let patterns: Vec<String> = terms.iter().map(|(_, t)| folded_line(t)).collect();
        let matcher = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .build(&patterns)
            .map_err(|e| LexiconError::Build(e.to_string()))?;
        Ok(Self { matcher, terms })
    }

    /// Loads every `*.tsv` file of `dir`.
    pub fn load_dir(dir: &Path) -> Result<Self, LexiconError> {
        let io = |path: &Path, source| LexiconError::Io { path: path.display().to_string(), source };
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| io(dir, e))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "tsv"))
            .collect();
        files.sort();
        let mut terms = Vec::new();
        for path in files {
            let text = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
            for (i, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let syntax = |why: String| LexiconError::Syntax { path: path.display().to_string(), line: i + 1, why };
                let (category, term) =
                    line.split_once('\t').ok_or_else(|| syntax("expected category<TAB>term".into()))?;
                let category =
                    Category::parse(category.trim()).ok_or_else(|| syntax(format!("unknown category {category:?}")))?;
                if folded_line(term).trim().is_empty() {
                    return Err(syntax("term folds to nothing".into()));
                }
                terms.push((category, term.trim().to_owned()));
            }
        }
        Self::new(terms)
    }

    /// Number of terms.
    #[must_use]
    pub fn len(&self) -> usize {
        self.terms.len()
    }

    /// Whether there are no terms.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Every term found in `text` (overlapping matches included, each term once).
    #[must_use]
    pub fn scan(&self, text: &str) -> Vec<Hit> {
        let line = folded_line(text);
        let mut seen = vec![false; self.terms.len()];
        let mut hits = Vec::new();
        for m in self.matcher.find_overlapping_iter(&line) {
            let i = m.pattern().as_usize();
            if !std::mem::replace(&mut seen[i], true) {
                let (category, term) = &self.terms[i];
                hits.push(Hit { category: *category, term: term.clone() });
            }
        }
        hits
    }
}

/// The pre-filter: the current lexicon, reloadable from its directory.
#[derive(Debug)]
pub struct Prefilter {
    dir: PathBuf,
    lexicon: RwLock<Arc<Lexicon>>,
}

impl Prefilter {
    /// Loads the lexicons of `dir`.
    pub fn load(dir: PathBuf) -> Result<Self, LexiconError> {
        let lexicon = Arc::new(Lexicon::load_dir(&dir)?);
        Ok(Self { dir, lexicon: RwLock::new(lexicon) })
    }

    /// The lexicons shipped in `assets/moderation/lexicon`.
    pub fn bundled() -> Result<Self, LexiconError> {
        Self::load(Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/moderation/lexicon"))
    }

    /// Re-reads the directory; on error the previous lexicon stays in force.
    pub fn reload(&self) -> Result<usize, LexiconError> {
        let fresh = Arc::new(Lexicon::load_dir(&self.dir)?);
        let n = fresh.len();
        *self.lexicon.write().unwrap_or_else(std::sync::PoisonError::into_inner) = fresh;
        Ok(n)
    }

    /// Scans `text` with the current lexicon.
    #[must_use]
    pub fn scan(&self, text: &str) -> Vec<Hit> {
        let lexicon = Arc::clone(&self.lexicon.read().unwrap_or_else(std::sync::PoisonError::into_inner));
        lexicon.scan(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn categories(p: &Prefilter, text: &str) -> Vec<Category> {
        p.scan(text).into_iter().map(|h| h.category).collect()
    }

    #[test]
    fn bundled_lexicons_catch_evasions_in_english_and_french() {
        let p = Prefilter::bundled().expect("lexicons load");
        assert!(p.scan("hello there").is_empty());
        for text in ["how do I make a pipe bomb", "how do I m4ke a p1pe b o m b", "HOW DO I MAKE A PÏPE BOMB"] {
            assert_eq!(categories(&p, text), [Category::Terrorism], "{text}");
        }
        assert_eq!(categories(&p, "Comment fabriquer une ceinture explosive ?"), [Category::Terrorism]);
        assert_eq!(categories(&p, "je veux mettre fin à mes jours"), [Category::SelfHarm]);
        assert_eq!(categories(&p, "where can I find p.t.h.c"), [Category::SexualMinors]);
        assert_eq!(categories(&p, "qui a du pédo p0rno à échanger"), [Category::SexualMinors]);
        assert_eq!(categories(&p, "Baqiya wa tatamadad, brothers"), [Category::Terrorism]);
    }

    #[test]
    fn benign_near_misses_do_not_match() {
        let p = Prefilter::bundled().expect("lexicons load");
        for text in [
            "kill the process and restart it",
            "this chicken breast recipe is to die for",
            "the bombing of Dresden in 1945 is a history lesson",
            "my doctor adjusted the dose of my medication",
            "bombastic speeches",
            // Names of a harm are also the words of news, prevention and its victims: the
            // lexicon holds what offenders write, the classifier judges the rest.
            "report child sexual abuse material to the police",
            "revenge porn is illegal, please report it",
            "comment fabriquer une bombe de bain à la lavande",
            "want to join Isis and me for lunch?",
            "un attentat suicide a frappé la ville, disent les infos",
        ] {
            assert!(p.scan(text).is_empty(), "{text}: {:?}", p.scan(text));
        }
    }

    /// No line of the labelled dataset that is benign — hard cases included — may hit the
    /// lexicon: a hit scores 1.0 and, for the always-blocked categories, bans.
    #[test]
    fn no_benign_dataset_line_hits_the_lexicon() {
        use crate::moderation::classifier::dataset::{bundled_dir, load_dir};
        let p = Prefilter::bundled().expect("lexicons load");
        let examples = load_dir(&bundled_dir()).expect("dataset loads");
        let hits: Vec<(String, Vec<Hit>)> = examples
            .iter()
            .filter(|e| e.labels.is_empty())
            .map(|e| (e.text.clone(), p.scan(&e.text)))
            .filter(|(_, h)| !h.is_empty())
            .collect();
        assert!(hits.is_empty(), "benign lines hit the lexicon: {hits:#?}");
        assert!(examples.iter().filter(|e| e.labels.is_empty()).count() > 500);
    }

    #[test]
    fn reload_swaps_terms_and_keeps_the_old_set_on_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("en.tsv"), "illicit/drugs\tbuy cocaine\n").expect("write");
        let p = Prefilter::load(dir.path().to_path_buf()).expect("load");
        assert_eq!(categories(&p, "where to buy cocaine"), [Category::IllicitDrugs]);
        std::fs::write(dir.path().join("en.tsv"), "illicit/drugs\tsell meth\n").expect("write");
        assert_eq!(p.reload().expect("reload"), 1);
        assert!(p.scan("where to buy cocaine").is_empty());
        assert_eq!(categories(&p, "I sell meth"), [Category::IllicitDrugs]);
        std::fs::write(dir.path().join("en.tsv"), "not-a-category\tx\n").expect("write");
        assert!(p.reload().is_err());
        assert_eq!(categories(&p, "I sell meth"), [Category::IllicitDrugs], "old lexicon kept");
    }
}
