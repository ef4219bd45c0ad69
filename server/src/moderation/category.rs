//! What moderation scores and decides on.

use serde::{Deserialize, Serialize};

/// A moderation category. The first ten are the classifier's outputs (OpenAI
/// omni-moderation names); the last three are only ever found by the pre-filter or a
/// remote backend and, like CSAM and terrorism, are blocked in every mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Category {
    /// Sexual content between adults.
    #[serde(rename = "sexual")]
    Sexual,
    /// Sexual content involving minors (CSAM) — zero tolerance.
    #[serde(rename = "sexual/minors")]
    SexualMinors,
    /// Hate speech.
    #[serde(rename = "hate")]
    Hate,
    /// Hate with threats.
    #[serde(rename = "hate/threatening")]
    HateThreatening,
    /// Harassment.
    #[serde(rename = "harassment")]
    Harassment,
    /// Violence.
    #[serde(rename = "violence")]
    Violence,
    /// Gore, graphic violence.
    #[serde(rename = "violence/graphic")]
    ViolenceGraphic,
    /// Self-harm.
    #[serde(rename = "self-harm")]
    SelfHarm,
    /// Illegal drugs.
    #[serde(rename = "illicit/drugs")]
    IllicitDrugs,
    /// Terrorism and violent extremism.
    #[serde(rename = "terrorism/extremism")]
    Terrorism,
    /// Human trafficking.
    #[serde(rename = "human-trafficking")]
    HumanTrafficking,
    /// Non-consensual intimate imagery.
    #[serde(rename = "non-consensual-imagery")]
    NonConsensualImagery,
    /// Malicious deepfakes of real people.
    #[serde(rename = "malicious-deepfake")]
    MaliciousDeepfake,
}

impl Category {
    /// Every category.
    pub const ALL: [Self; 13] = [
        Self::Sexual,
        Self::SexualMinors,
        Self::Hate,
        Self::HateThreatening,
        Self::Harassment,
        Self::Violence,
        Self::ViolenceGraphic,
        Self::SelfHarm,
        Self::IllicitDrugs,
        Self::Terrorism,
        Self::HumanTrafficking,
        Self::NonConsensualImagery,
        Self::MaliciousDeepfake,
    ];

    /// The wire and lexicon spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sexual => "sexual",
            Self::SexualMinors => "sexual/minors",
            Self::Hate => "hate",
            Self::HateThreatening => "hate/threatening",
            Self::Harassment => "harassment",
            Self::Violence => "violence",
            Self::ViolenceGraphic => "violence/graphic",
            Self::SelfHarm => "self-harm",
            Self::IllicitDrugs => "illicit/drugs",
            Self::Terrorism => "terrorism/extremism",
            Self::HumanTrafficking => "human-trafficking",
            Self::NonConsensualImagery => "non-consensual-imagery",
            Self::MaliciousDeepfake => "malicious-deepfake",
        }
    }

    /// Parses the spelling of [`Self::as_str`].
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Blocked in every mode, with account suspension and an authority report.
    #[must_use]
    pub fn always_blocked(self) -> bool {
        matches!(
            self,
            Self::SexualMinors
                | Self::Terrorism
                | Self::HumanTrafficking
                | Self::NonConsensualImagery
                | Self::MaliciousDeepfake
        )
    }
}
