//! espeak-ng phoneme names → [`Viseme`]s, for English (voices `en`, `en-us`, `en-gb`…)
//! and French (`fr`).
//!
//! The names are espeak-ng's own ASCII mnemonics, as its phoneme events and
//! `espeak-ng -x` report them (`espeak-ng -q -x -v en "hello"` prints `h@l'oU`: the
//! events are `h`, `@`, `l`, `oU`; stress marks like `'` and `,` never come as events).
//! The tables below cover every vowel and consonant of espeak-ng 1.51's `en`, `en-us`
//! and `fr` phoneme tables (read from `espeak-ng-data/phontab`). Pauses (`_`, `_:`,
//! `_!`, `_|`…) are silence. A mnemonic is the same sound in both languages except
//! where [`Language`] says otherwise: French schwa (`@`, `@-`) is rounded (like ø), and
//! `t#` is a pause in French but a flapped t in English.
//!
//! Anything unknown — another language's phoneme, a newer espeak-ng — goes through
//! [`viseme_for`]: known after stripping modifier characters (`t2` → `t`), otherwise
//! [`FALLBACK`], never a panic.

use serde::{Deserialize, Serialize};

use super::{TrackError, Viseme, VisemeTrack};

/// The viseme for a phoneme nobody knows: [`Viseme::E`], a half-open relaxed mouth — the
/// least wrong guess for an unknown vowel, and unobtrusive for an unknown consonant.
pub const FALLBACK: Viseme = Viseme::E;

/// A language whose espeak-ng phonemes map to visemes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Language {
    /// English, any espeak-ng English voice (`en`, `en-us`, `en-gb-x-rp`…).
    English,
    /// French (`fr`, `fr-be`, `fr-ch`).
    French,
}

impl Language {
    /// The language of an espeak-ng voice name such as `"en-us"` or `"fr+f3"` (the part
    /// before `-` or `+`), if it is one we map.
    #[must_use]
    pub fn from_voice(voice: &str) -> Option<Self> {
        let base = voice.split(['-', '+', '_']).next().unwrap_or(voice);
        if base.eq_ignore_ascii_case("en") {
            Some(Self::English)
        } else if base.eq_ignore_ascii_case("fr") {
            Some(Self::French)
        } else {
            None
        }
    }

    /// The espeak-ng voice we synthesise this language with.
    #[must_use]
    pub const fn espeak_voice(self) -> &'static str {
        match self {
            Self::English => "en-us",
            Self::French => "fr",
        }
    }
}

/// One phoneme event: espeak-ng's phoneme name and when it starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhonemeEvent {
    /// Start, seconds from the start of the audio.
    pub start_s: f32,
    /// espeak-ng's mnemonic (`"oU"`, `"tS"`, `"_:"`).
    pub phoneme: String,
}

/// The viseme of an espeak-ng phoneme in `language`, or `None` if the name is unknown.
#[must_use]
pub fn lookup(language: Language, phoneme: &str) -> Option<Viseme> {
    let special = match language {
        Language::French => french(phoneme),
        Language::English => None,
    };
    special.or_else(|| shared(phoneme)).or_else(|| is_pause(phoneme).then_some(Viseme::Sil))
}

/// The viseme of an espeak-ng phoneme in `language`, always: [`lookup`], else the
/// longest known prefix after stripping trailing modifier characters (`#`, `-`, `/`,
/// `.`, `;`, `[`, `^`, `"`, `:`, digits), else [`FALLBACK`].
#[must_use]
pub fn viseme_for(language: Language, phoneme: &str) -> Viseme {
    if let Some(viseme) = lookup(language, phoneme) {
        return viseme;
    }
    let mut name = phoneme;
    while let Some(shorter) = name.strip_suffix(|c: char| "#-/.;[^\":0123456789".contains(c)) {
        if shorter.is_empty() {
            break;
        }
        if let Some(viseme) = lookup(language, shorter) {
            return viseme;
        }
        name = shorter;
    }
    FALLBACK
}

/// A [`VisemeTrack`] from espeak-ng phoneme events (in time order) of `language`: each
/// phoneme's viseme from its start to the next start, the last one until `end_s` (the
/// end of the audio).
///
/// # Errors
/// [`TrackError`] when the events are out of order or a time is not finite.
pub fn track_from_phonemes(events: &[PhonemeEvent], language: Language, end_s: f32) -> Result<VisemeTrack, TrackError> {
    VisemeTrack::from_starts(events.iter().map(|e| (e.start_s, viseme_for(language, &e.phoneme))), end_s)
}

/// Pauses and boundaries: `_`, `_:`, `_!`, `_|`, `_::`, `_;_`, `_^_`, `_X1`, `||`, and
/// espeak-ng's silent `1`.
fn is_pause(phoneme: &str) -> bool {
    phoneme.starts_with('_') || phoneme == "||" || phoneme == "1"
}

/// Where French mnemonics differ from English ones.
fn french(phoneme: &str) -> Option<Viseme> {
    Some(match phoneme {
        // French schwa ("le", "je") is pronounced with rounded lips, close to ø.
        "@" | "@-" => Viseme::Oh,
        // A pause-type phoneme in espeak-ng's French table.
        "t#" => Viseme::Sil,
        _ => return None,
    })
}

/// The mnemonics shared by espeak-ng's English and French tables (and its base tables).
fn shared(phoneme: &str) -> Option<Viseme> {
    use Viseme as V;
    Some(match phoneme {
        // Bilabials (B = β).
        "p" | "b" | "m" | "p2" | "m-" | "B" => V::PP,
        // Labiodentals.
        "f" | "v" | "v#" => V::FF,
        // Dentals θ, ð.
        "T" | "D" => V::TH,
        // Alveolar and dental stops, flaps (t#, *), the glottal stop.
        "t" | "d" | "t#" | "t2" | "t3" | "d#" | "t[" | "d[" | "*" | "?" => V::DD,
        // Velars, palatals, uvulars, glottal fricative.
        "k" | "g" | "c" | "J" | "q" | "x" | "X" | "C" | "Q" | "Q^" | "Q\"" | "h" | "#X1" => V::Kk,
        // Postalveolars.
        "tS" | "dZ" | "S" | "Z" | "tS;" | "dZ;" | "S;" | "Z;" => V::CH,
        // Sibilants.
        "s" | "z" | "z#" | "z/2" | "z2" | "z3" | "ts" | "s;" | "z;" | "s." | "z." => V::SS,
        // Nasals and laterals (incl. the syllabic and palatal ones, dark syllabic l).
        "n" | "N" | "n-" | "N-" | "n^" | "n." | "n2" | "J^" | "l" | "l-" | "l/" | "l/2" | "l/3" | "l^" | "l."
        | "l#" | "L" | "L/" | "@L" => V::Nn,
        // Rhotics (English ɹ, French ʁ, trills and taps) and r-coloured vowels.
        "r" | "r-" | "r/" | "r." | "r/2" | "r2" | "R" | "R2" | "R3" | "r\"" | "**" | "IR" | "VR" => V::RR,
        // Open vowels and the diphthongs that start open; French a, ɑ̃.
        "a" | "a#" | "a2" | "aa" | "a-" | "a#2" | "A:" | "A@" | "A#" | "A~" | "V" | "0" | "0#" | "02" | "aI"
        | "aI@" | "aI3" | "aU" | "aU@" => V::Aa,
        // Mid front and central vowels; French e, ɛ, ɛ̃ and their unstressed forms.
        "e" | "e:" | "e#" | "e@" | "eI" | "e-" | "E" | "E#" | "E2" | "E-" | "E~" | "3" | "3:" | "@" | "@-" | "@2"
        | "@5" | "@#" => V::E,
        // Close front vowels and the palatal glide.
        "i" | "i:" | "i@" | "i@3" | "I" | "I#" | "I2" | "I2#" | "j" | "j/" | "j." | ";" => V::Ih,
        // Mid rounded vowels; French o, ɔ, ɔ̃, ø, œ, œ̃.
        "o" | "o:" | "o@" | "oU" | "oU#" | "O" | "O:" | "O@" | "O2" | "OI" | "O~" | "Y" | "W" | "W2" | "W~" => V::Oh,
        // Close rounded vowels and the labial glide; French y.
        "u" | "u:" | "U" | "U@" | "w" | "w#" | "w/" | "w2" | "y" | "y-" => V::Ou,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lip_sync::Viseme::*;

    fn visemes(language: Language, phonemes: &str) -> Vec<Viseme> {
        phonemes.split(' ').map(|p| viseme_for(language, p)).collect()
    }

    /// Vowels and consonants of espeak-ng 1.51's `en` and `en-us` phoneme tables.
    const ENGLISH: &str = "* ** 0 0# 02 3 3: ; ? @ @# @- @2 @5 @L A# A: A@ A~ B C D E E# E2 I I# I2 I2# IR J J^ L L/ \
        N N- O O2 O: O@ OI O~ Q Q\" Q^ R R2 R3 S S; T U U@ V VR X Z Z; a a# a#2 a2 aI aI3 aI@ aU aU@ aa b c d d# dZ \
        dZ; d[ e e# e: e@ eI f g h i i: i@ i@3 j k l l# l- l. l/ l/2 l/3 l^ m m- n n- n. n^ o o: o@ oU oU# p q r r\" \
        r- r. r/ s s. s; t t# t2 tS tS; t[ u u: v v# w w# x z z# z. z/2 z;";
    /// Vowels and consonants of espeak-ng 1.51's `fr` phoneme table.
    const FRENCH: &str = "* ** ; ? @ @- A~ B C D E E- E~ I I2 J J^ L L/ N N- O O~ Q Q\" Q^ R R2 R3 S S; T V W W2 W~ \
        X Y Z Z; a a# a- b c d dZ dZ; d[ e e- f g h i j j. j/ k l l# l- l. l/ l/2 l/3 l^ m m- n n- n. n2 n^ o oU p \
        p2 q r r\" r- r. r/ r/2 r2 s s. s; t t2 t3 tS tS; t[ u u: v v# w w/ x y y- z z. z2 z3 z;";

    #[test]
    fn every_espeak_phoneme_of_both_languages_is_known() {
        for (language, inventory) in [(Language::English, ENGLISH), (Language::French, FRENCH)] {
            for phoneme in inventory.split_whitespace() {
                assert!(lookup(language, phoneme).is_some(), "{language:?} {phoneme}");
            }
        }
        for pause in ["_", "_:", "_!", "_|", "_::", "_;_", "_^_", "_X1", "||", "1"] {
            assert_eq!(lookup(Language::English, pause), Some(Sil));
        }
    }

    // Phoneme events printed by native/espeak_timeline (espeak-ng 1.51, rate 175, pitch 50).

    #[test]
    fn english_sentences_observed_from_espeak() {
        // "Hello world"
        assert_eq!(visemes(Language::English, "h @ l oU w 3: l d _: _"), [Kk, E, Nn, Oh, Ou, E, Nn, DD, Sil, Sil]);
        // "Thank you very much, she chose the yellow shoes." (voice en)
        assert_eq!(
            visemes(Language::English, "T a N k j u: v E r i m V tS _: _ S i: tS oU z D @ j E l oU S u: z _: _"),
            [
                TH, Aa, Nn, Kk, Ih, Ou, FF, E, RR, Ih, PP, Aa, CH, Sil, Sil, CH, Ih, CH, Oh, SS, TH, E, Ih, E, Nn, Oh,
                CH, Ou, SS, Sil, Sil
            ]
        );
        // "Peter Piper picked a peck of pickled peppers."
        assert_eq!(
            visemes(Language::English, "p i: t 3 p aI p 3 p I k t a# p E k 0 v p I k @L d p E p 3 z _: _"),
            [
                PP, Ih, DD, E, PP, Aa, PP, E, PP, Ih, Kk, DD, Aa, PP, E, Kk, Aa, FF, PP, Ih, Kk, Nn, DD, PP, E, PP, E,
                SS, Sil, Sil
            ]
        );
        // en-us: "I am your companion." (end of "Good morning, … companion.")
        assert_eq!(
            visemes(Language::English, "aI a# m j U@ k @ m p a n i@ n _: _"),
            [Aa, Aa, PP, Ih, Ou, Kk, E, PP, PP, Aa, Nn, Ih, Nn, Sil, Sil]
        );
        assert_eq!(visemes(Language::English, "D @2"), [TH, E], "en-us writes the weak 'the' as @2");
    }

    #[test]
    fn french_sentences_observed_from_espeak() {
        // "bonjour"
        assert_eq!(visemes(Language::French, "b O~ Z u r _: _"), [PP, Oh, CH, Ou, RR, Sil, Sil]);
        // "Bonjour, je m'appelle Nexus et j'aime les chats."
        assert_eq!(
            visemes(Language::French, "Z @- m a p E l n E k s y e Z E m l e- S a _: _"),
            [CH, Oh, PP, Aa, PP, E, Nn, Nn, E, Kk, SS, Ou, E, CH, E, PP, Nn, E, CH, Aa, Sil, Sil]
        );
        // "Un bon vin blanc, le cœur, les feuilles, une fille heureuse."
        assert_eq!(
            visemes(Language::French, "W~ b O~ v E~ b l A~ _: _ l @- k W r _: _ l e- f W j _: _ y n f i j Y r Y z"),
            [
                Oh, PP, Oh, FF, E, PP, Nn, Aa, Sil, Sil, Nn, Oh, Kk, Oh, RR, Sil, Sil, Nn, E, FF, Oh, Ih, Sil, Sil, Ou,
                Nn, FF, Ih, Ih, Oh, RR, Oh, SS
            ]
        );
        // "Oui, huit, nuit" — the utterance starts with a short pause `_|`.
        assert_eq!(visemes(Language::French, "_| w i _: _ _| y i t"), [Sil, Ou, Ih, Sil, Sil, Sil, Ou, Ih, DD]);
        // "Je voudrais un croissant": the liaison z is `z2`.
        assert_eq!(
            visemes(Language::French, "Z @- v u d r E z2 W~ k r w a s A~"),
            [CH, Oh, FF, Ou, DD, RR, E, SS, Oh, Kk, RR, Ou, Aa, SS, Aa]
        );
    }

    #[test]
    fn languages_differ_where_espeak_means_different_sounds() {
        assert_eq!(viseme_for(Language::English, "@"), E);
        assert_eq!(viseme_for(Language::French, "@"), Oh);
        assert_eq!(viseme_for(Language::English, "t#"), DD);
        assert_eq!(viseme_for(Language::French, "t#"), Sil);
    }

    #[test]
    fn unknown_phonemes_fall_back_without_panicking() {
        assert_eq!(lookup(Language::English, "t9"), None);
        assert_eq!(viseme_for(Language::English, "t9"), DD, "modifier stripped");
        assert_eq!(viseme_for(Language::French, "oU##"), Oh);
        assert_eq!(viseme_for(Language::English, "ʘ"), FALLBACK);
        assert_eq!(viseme_for(Language::English, ""), FALLBACK);
        assert_eq!(viseme_for(Language::English, "::"), FALLBACK);
        assert_eq!(viseme_for(Language::French, "_foo"), Sil);
    }

    #[test]
    fn voices_name_their_language() {
        assert_eq!(Language::from_voice("en"), Some(Language::English));
        assert_eq!(Language::from_voice("en-us"), Some(Language::English));
        assert_eq!(Language::from_voice("en+f3"), Some(Language::English));
        assert_eq!(Language::from_voice("fr"), Some(Language::French));
        assert_eq!(Language::from_voice("FR-be"), Some(Language::French));
        assert_eq!(Language::from_voice("de"), None);
        assert_eq!(Language::from_voice(""), None);
        for language in [Language::English, Language::French] {
            assert_eq!(Language::from_voice(language.espeak_voice()), Some(language));
        }
    }

    #[test]
    fn track_from_observed_hello_world() {
        // Event times (ms) printed by espeak_timeline for "Hello world," (voice en).
        let events: Vec<PhonemeEvent> = [
            (11, "h"),
            (62, "@"),
            (123, "l"),
            (196, "oU"),
            (316, "w"),
            (441, "3:"),
            (666, "l"),
            (690, "d"),
            (727, "_:"),
            (877, "_"),
        ]
        .into_iter()
        .map(|(ms, phoneme)| PhonemeEvent { start_s: ms as f32 / 1000.0, phoneme: phoneme.to_owned() })
        .collect();
        let track = track_from_phonemes(&events, Language::English, 0.877).unwrap();
        assert_eq!(track.viseme_at(0.005), Sil);
        assert_eq!(track.viseme_at(0.011), Kk);
        assert_eq!(track.viseme_at(0.2), Oh);
        assert_eq!(track.viseme_at(0.5), E);
        assert_eq!(track.viseme_at(0.8), Sil);
        assert_eq!(track.end_s(), 0.877);
        let mut reversed = events.clone();
        reversed.reverse();
        assert!(track_from_phonemes(&reversed, Language::English, 0.877).is_err());
    }
}
