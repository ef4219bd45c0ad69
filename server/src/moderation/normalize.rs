//! Folding text against evasion before lexicon matching.
//!
//! [`fold`] turns text into lower-case ASCII-ish word tokens: compatibility decomposition
//! (full-width and styled letters become plain ones) with accents dropped, zero-width and
//! other format characters removed, Cyrillic and Greek look-alikes mapped to Latin,
//! leetspeak inside words undone (`k1ll` → `kill`), runs of one letter collapsed (`kiiill`
//! → `kil`), and runs of three or more single letters joined (`b o m b`, `b.o.m.b` →
//! `bomb`). Lexicon terms go through the same fold, so they match what was meant.
//!
//! [`unmask`] is the gentler reading the classifier gets: it keeps real words (accents,
//! double letters, numbers) and undoes only what is plainly a disguise, including text
//! flooded with diacritics (`łøøkíng før pîçs`), which it reads without them.

use unicode_normalization::UnicodeNormalization as _;
use unicode_normalization::char::is_combining_mark;

/// Zero-width and formatting characters that render as nothing.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{00AD}' | '\u{034F}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}')
}

/// Cyrillic and Greek letters that look like Latin ones, and enclosed Latin capitals
/// that have no decomposition (🄰 🅐 🅰 → a).
fn unconfuse(c: char) -> char {
    let enclosed = |base: u32| char::from_u32(u32::from(b'a') + (c as u32 - base)).unwrap_or(c);
    match c {
        '\u{1F130}'..='\u{1F149}' => enclosed(0x1F130),
        '\u{1F150}'..='\u{1F169}' => enclosed(0x1F150),
        '\u{1F170}'..='\u{1F189}' => enclosed(0x1F170),
        'а' | 'α' => 'a',
        'в' | 'β' => 'b',
        'с' | 'ϲ' => 'c',
        'е' | 'ε' | 'ё' => 'e',
        'һ' => 'h',
        'і' | 'ι' | 'ї' => 'i',
        'ј' => 'j',
        'к' | 'κ' => 'k',
        'м' => 'm',
        'н' | 'η' => 'n',
        'о' | 'ο' | 'σ' => 'o',
        'р' | 'ρ' => 'p',
        'ѕ' => 's',
        'т' | 'τ' => 't',
        'у' | 'υ' => 'y',
        'х' | 'χ' => 'x',
        'ν' => 'v',
        'ш' | 'ω' => 'w',
        other => other,
    }
}

/// Latin letters with a stroke or a ligature, which have no decomposition to drop an
/// accent from (`ø` → `o`, `ł` → `l`).
fn unstroke(c: char) -> Option<&'static str> {
    Some(match c {
        'ø' | 'Ø' => "o",
        'ł' | 'Ł' => "l",
        'đ' | 'Đ' => "d",
        'ħ' | 'Ħ' => "h",
        'ı' => "i",
        'ŧ' | 'Ŧ' => "t",
        'ƀ' => "b",
        'ß' => "ss",
        'æ' | 'Æ' => "ae",
        'œ' | 'Œ' => "oe",
        _ => return None,
    })
}

/// `text` without diacritics: decomposed, combining marks dropped, stroked letters and
/// ligatures spelled plainly.
fn strip_diacritics(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.nfkd().filter(|c| !is_combining_mark(*c)) {
        match unstroke(c) {
            Some(plain) => out.push_str(plain),
            None => out.push(c),
        }
    }
    out
}

/// Whether diacritics are a disguise here rather than spelling: at least four marked
/// letters, and at least a fifth of the letters (of the dataset's 3,140 French lines one
/// passes that, « l'été me manque déjà »; every diacritic-flooded evasion line does).
/// Reading an accented sentence once more without its accents costs a second
/// classification and nothing else, so the bar errs towards flagging.
fn flooded_with_diacritics(text: &str) -> bool {
    let (mut letters, mut marked) = (0usize, 0usize);
    for c in text.chars().filter(|c| c.is_alphabetic()) {
        letters += 1;
        if unstroke(c).is_some() || c.nfd().any(is_combining_mark) {
            marked += 1;
        }
    }
    letters >= 8 && marked >= 4 && marked * 5 >= letters
}

/// Leetspeak digits and symbols, undone inside words that also have letters.
fn unleet(c: char) -> char {
    match c {
        '0' => 'o',
        '1' | '!' | '|' => 'i',
        '3' => 'e',
        '4' | '@' => 'a',
        '5' | '$' => 's',
        '7' | '+' => 't',
        '8' => 'b',
        '9' => 'g',
        other => other,
    }
}

fn is_leet_symbol(c: char) -> bool {
    matches!(c, '!' | '|' | '@' | '$' | '+')
}

/// Folds `text` into word tokens (see the module docs).
#[must_use]
pub fn fold(text: &str) -> Vec<String> {
    // 1. Character-level clean-up.
    let cleaned: String = text
        .nfkd()
        .filter(|c| !is_combining_mark(*c) && !is_invisible(*c))
        .flat_map(char::to_lowercase)
        .map(unconfuse)
        .collect();
    let cleaned = strip_diacritics(&cleaned);
    // 2. Raw tokens: letters, digits and leet symbols; anything else separates.
    let raw = cleaned.split(|c: char| !(c.is_alphanumeric() || is_leet_symbol(c)));
    let mut words: Vec<String> = Vec::new();
    for token in raw {
        let token = token.trim_matches(|c: char| c == '!' || c == '|');
        if token.is_empty() {
            continue;
        }
        let has_letter = token.chars().any(char::is_alphabetic);
        let mut word = String::with_capacity(token.len());
        for c in token.chars() {
            let c = if has_letter { unleet(c) } else { c };
            // 3. Collapse runs of one character.
            if !word.ends_with(c) && !is_leet_symbol(c) {
                word.push(c);
            }
        }
        if !word.is_empty() {
            words.push(word);
        }
    }
    join_spelled_out(words)
}

/// Joins runs of three or more one-letter tokens (`b o m b` → `bomb`), re-collapsing.
/// Ambiguous by nature: `a b c d` becomes `a bcd`.
fn join_spelled_out(words: Vec<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(words.len());
    let mut run: Vec<String> = Vec::new();
    let flush = |run: &mut Vec<String>, out: &mut Vec<String>| {
        // "a b o m b": a leading one-letter *word* (English/French "a", "i", "y") stays
        // a word when the rest still spells something out.
        if run.len() >= 4 && matches!(run[0].as_str(), "a" | "i" | "y") {
            out.push(run.remove(0));
        }
        if run.len() >= 3 {
            let mut joined = String::new();
            for c in run.iter().flat_map(|w| w.chars()) {
                if !joined.ends_with(c) {
                    joined.push(c);
                }
            }
            out.push(joined);
        } else {
            out.append(run);
        }
        run.clear();
    };
    for w in words {
        if w.chars().count() == 1 {
            run.push(w);
        } else {
            flush(&mut run, &mut out);
            out.push(w);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// The text as the classifier should read it when it is disguised: invisible characters
/// dropped, look-alikes mapped, leetspeak undone inside words that mix letters with digits
/// or symbols (`k1ll`, `c0c`), spelled-out letters joined (`k i l l`, `k.i.l.l`), runs
/// of three or more of one letter shortened (`diiiie`), diacritics dropped when they are
/// sprinkled over the text rather than spelling it. Unlike [`fold`] it keeps
/// ordinary words intact (double letters, accents, numbers such as `en 44`), because the
/// model reads real words. `None` when nothing was disguised.
#[must_use]
pub fn unmask(text: &str) -> Option<String> {
    let mut cleaned: String = text.chars().filter(|c| !is_invisible(*c)).map(unconfuse).collect();
    if flooded_with_diacritics(&cleaned) {
        cleaned = strip_diacritics(&cleaned);
    }
    let mut words: Vec<String> = Vec::new();
    for token in cleaned.split_whitespace() {
        let core = token.trim_matches(|c: char| !c.is_alphanumeric());
        let letters = core.chars().filter(|c| c.is_alphabetic()).count();
        let dotted = core.len() >= 3 && core.split('.').all(|p| p.chars().count() == 1);
        let word: String = if dotted {
            core.split('.').collect()
        } else if letters > 0 && core.chars().any(|c| c.is_ascii_digit() || is_leet_symbol(c)) {
            core.chars().map(|c| unleet(c.to_ascii_lowercase())).filter(|c| c.is_alphanumeric()).collect()
        } else {
            token.to_owned()
        };
        words.push(shorten_runs(&word));
    }
    let mut joined: Vec<String> = Vec::new();
    let mut run = String::new();
    let mut run_len = 0;
    for w in words {
        if w.chars().count() == 1 && w.chars().all(char::is_alphabetic) {
            run.push_str(&w);
            run_len += 1;
            continue;
        }
        flush_letters(&mut joined, &mut run, &mut run_len);
        joined.push(w);
    }
    flush_letters(&mut joined, &mut run, &mut run_len);
    let out = joined.join(" ");
    (out.to_lowercase() != text.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()).then_some(out)
}

fn flush_letters(out: &mut Vec<String>, run: &mut String, run_len: &mut usize) {
    if *run_len >= 3 {
        out.push(std::mem::take(run));
    } else {
        out.extend(run.chars().map(String::from));
        run.clear();
    }
    *run_len = 0;
}

fn shorten_runs(word: &str) -> String {
    let chars: Vec<char> = word.chars().collect();
    let mut out = String::with_capacity(word.len());
    let mut i = 0;
    while i < chars.len() {
        let mut j = i;
        while j < chars.len() && chars[j] == chars[i] {
            j += 1;
        }
        let n = if j - i >= 3 && chars[i].is_alphabetic() { 1 } else { j - i };
        out.extend(std::iter::repeat_n(chars[i], n));
        i = j;
    }
    out
}

/// The folded form as one string with a space before and after every word, so that
/// substring matches of space-padded terms are whole-word matches.
#[must_use]
pub fn folded_line(text: &str) -> String {
    let mut line = String::from(" ");
    for w in fold(text) {
        line.push_str(&w);
        line.push(' ');
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evasions_fold_to_the_same_words() {
        let target = folded_line("build a bomb");
        for evasion in [
            "BUILD A BOMB",
            "bu1ld a b0mb", // a lone digit stays a number: "4" is not "a"
            "build a b o m b",
            "build a b.o.m.b",
            "build   a   bommmb",
            "bu\u{200B}ild a bo\u{200D}mb",
            "búîld à bómb",
            "ｂｕｉｌｄ a ｂｏｍｂ",
            "build a bоmb", // Cyrillic о
            "build a 🅑🅞🅜🅑",
            "build a Ⓑⓞⓜⓑ",
            "bûīłđ å bømƀ",
        ] {
            assert_eq!(folded_line(evasion), target, "{evasion:?}");
        }
    }

    #[test]
    fn ordinary_text_keeps_its_words() {
        assert_eq!(fold("Kill the process, it's 2024!"), ["kil", "the", "proces", "it", "s", "2024"]);
        assert_eq!(fold("I am a cat"), ["i", "am", "a", "cat"]);
        assert!(fold("").is_empty());
        assert!(fold("🦀🦀🦀 \u{0000} \u{FFFF}").iter().all(|w| !w.is_empty()));
    }

    proptest::proptest! {
        #[test]
        fn folding_any_text_yields_clean_lowercase_words(text in "\\PC{0,200}") {
            for word in fold(&text) {
                proptest::prop_assert!(!word.is_empty());
                proptest::prop_assert!(!word.chars().any(char::is_whitespace));
                proptest::prop_assert!(!word.chars().any(|c| c.is_ascii_uppercase()), "{word}");
            }
        }
    }

    #[test]
    fn unmask_undoes_disguises_and_leaves_plain_text_alone() {
        assert_eq!(super::unmask("im gonna k1ll u").as_deref(), Some("im gonna kill u"));
        assert_eq!(super::unmask("best way to k.i.l.l m.y.s.e.l.f?").as_deref(), Some("best way to kill myself"));
        assert_eq!(super::unmask("k i l l them all").as_deref(), Some("kill them all"));
        assert_eq!(super::unmask("diiiie").as_deref(), Some("die"));
        assert_eq!(super::unmask("łøøkíng før pîçs øf këÿs").as_deref(), Some("looking for pics of keys"));
        assert_eq!(super::unmask("çhérçhë phötös dë vâçânçës").as_deref(), Some("cherche photos de vacances"));
        for plain in [
            "mon grand-père a débarqué en Normandie en 44",
            "kill the process",
            "I have 2 cats",
            "a b",
            "j'ai réservé une table près de la fenêtre",
            "Grüße aus Köln",
            "Łódź",
        ] {
            assert_eq!(super::unmask(plain), None, "{plain}");
        }
    }
}
