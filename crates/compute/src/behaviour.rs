//! How a provider treats the jobs it runs: honestly, or like one of the cheats replay
//! verification exists to catch. The cheats are reusable fixtures (the agent's hidden
//! `--misbehave` flag, the end-to-end tests, the simulator).

use crate::exec::{Execution, Limits, Outcome};

/// A provider's conduct.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Behaviour {
    /// Runs every job and commits what it computed.
    #[default]
    Honest,
    /// A lazy computer: commits an output it did not compute (the right length, wrong bytes).
    WrongOutput,
    /// Computes honestly but claims more fuel than it used, to be paid more.
    InflateFuel,
}

impl Behaviour {
    /// Parses `honest`, `wrong-output` or `inflate-fuel`.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "honest" => Ok(Self::Honest),
            "wrong-output" => Ok(Self::WrongOutput),
            "inflate-fuel" => Ok(Self::InflateFuel),
            other => Err(format!(
                "unknown behaviour `{other}` (honest, wrong-output, inflate-fuel)"
            )),
        }
    }

    /// What this provider claims for an execution.
    pub fn claim(self, honest: Execution, limits: Limits) -> Execution {
        match self {
            Self::Honest => honest,
            Self::WrongOutput => {
                let outcome = match honest.outcome {
                    Outcome::Output { bytes } => Outcome::Output {
                        bytes: bytes.iter().map(|b| b.wrapping_add(0x55)).collect(),
                    },
                    _ => Outcome::Output { bytes: vec![0; 16] },
                };
                Execution { outcome, ..honest }
            }
            Self::InflateFuel => {
                let padded = honest
                    .fuel_used
                    .saturating_add(limits.fuel.saturating_sub(honest.fuel_used) / 2 + 1);
                Execution {
                    fuel_used: padded.min(limits.fuel),
                    ..honest
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cheats_change_what_is_claimed_and_honesty_does_not() {
        let limits = Limits {
            fuel: 100,
            memory_bytes: 1 << 20,
        };
        let ex = Execution {
            outcome: Outcome::Output { bytes: vec![1, 2, 3] },
            fuel_used: 40,
        };
        assert_eq!(Behaviour::Honest.claim(ex.clone(), limits), ex);
        let wrong = Behaviour::WrongOutput.claim(ex.clone(), limits);
        assert_eq!(
            (wrong.fuel_used, wrong.outcome.clone()),
            (
                40,
                Outcome::Output {
                    bytes: vec![0x56, 0x57, 0x58]
                }
            )
        );
        let inflated = Behaviour::InflateFuel.claim(ex.clone(), limits);
        assert_eq!((inflated.fuel_used, inflated.outcome), (71, ex.outcome));
        assert_eq!(Behaviour::parse("inflate-fuel"), Ok(Behaviour::InflateFuel));
        assert!(Behaviour::parse("lazy").is_err());
    }
}
