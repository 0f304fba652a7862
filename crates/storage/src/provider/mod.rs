//! The storage provider: pieces on disk and the HTTP server clients and auditors talk to.

mod challenge;
pub mod disk;
mod download;
pub mod egress;
mod server;
mod staging;
mod upload;

pub use disk::{PieceId, PieceStore};
pub use egress::EgressBook;
pub use server::{Limits, Provider, Refusal};
pub use staging::{MAX_STAGED_PER_CLIENT, STAGE_SHARE_DIVISOR, STAGE_TTL};
