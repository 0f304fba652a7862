//! The storage client's network side: choosing providers for a file's pieces, moving pieces to
//! and from providers over HTTP (streamed from and to disk, every downloaded byte checked against
//! its commitment, every window paid by a signed egress order), and rebuilding lost pieces for
//! repair. The CLI drives these and signs the deal transactions; it lends the orders its key.

mod follow;
mod orders;
mod placement;
mod repair;
mod transfer;

pub use follow::{FeedSender, FollowReader, PieceFeed};
pub use orders::{OrderSigner, PieceOrders, DOWNLOAD_WINDOW_BYTES};
pub use placement::{coding_for, coding_of, place, Candidate, Placement, PlacementError};
pub use repair::rebuild_piece;
pub use transfer::{
    commit_piece, download_piece, stage_piece_stream, transfer_http, upload_piece, upload_piece_stream, PieceRef,
    TransferError, TRANSFER_IDLE_TIMEOUT,
};
