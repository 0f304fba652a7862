//! Signing egress orders as a download goes: one serial per piece download, one order per
//! window, each allowing the bytes received so far plus the next window (see
//! [`trellis_ledger::EgressOrder`]).

use std::sync::Arc;
use trellis_ledger::{EgressOrder, MAX_ORDER_EPOCHS};
use trellis_primitives::{AccountAddress, Credits, DeviceAddress, Encode, Epoch, Hash, Keypair};

/// Bytes one order adds: what a client risks paying for and not receiving (a provider that
/// stalls after an order), and what a provider risks serving unpaid (a client that stops
/// signing). 16 MiB is about a tenth of a second on a fast link, and one signature per window
/// costs nothing beside it.
pub const DOWNLOAD_WINDOW_BYTES: u64 = 16 << 20;

/// Who signs orders, for which chain, valid until when.
#[derive(Clone)]
pub struct OrderSigner {
    key: Arc<Keypair>,
    chain_id: String,
    expires: Epoch,
}

impl std::fmt::Debug for OrderSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OrderSigner({}, {})", self.key.public(), self.chain_id)
    }
}

impl OrderSigner {
    /// Orders signed with `key` on `chain_id`, valid for as long as the ledger allows from the
    /// `current` epoch less one (so a provider can claim them after the download). The epoch
    /// of margin is for providers whose view of the chain lags this client's by an epoch
    /// boundary: they judge "too far ahead" by their own view.
    pub fn new(key: Arc<Keypair>, chain_id: &str, current: Epoch) -> Self {
        OrderSigner {
            key,
            chain_id: chain_id.to_string(),
            expires: Epoch(current.0.saturating_add(MAX_ORDER_EPOCHS - 1)),
        }
    }

    /// The account that pays.
    pub fn client(&self) -> AccountAddress {
        self.key.public().into()
    }

    /// Orders for one download of a piece of `deal` from `provider` at `price` per GiB, under a
    /// fresh random serial.
    pub fn for_piece(&self, deal: Hash, provider: DeviceAddress, price: Credits) -> PieceOrders {
        PieceOrders {
            signer: self.clone(),
            template: EgressOrder {
                deal,
                client: self.client(),
                provider,
                serial: rand::random(),
                bytes: 0,
                price_per_gib: price,
                expires: self.expires,
            },
        }
    }
}

/// The orders of one piece download.
#[derive(Debug, Clone)]
pub struct PieceOrders {
    signer: OrderSigner,
    template: EgressOrder,
}

impl PieceOrders {
    /// The same download's orders under a fresh serial: the provider claims a serial once no
    /// window has been asked for a while, and refuses more windows under it after that.
    pub fn renewed(&self) -> PieceOrders {
        PieceOrders {
            signer: self.signer.clone(),
            template: EgressOrder {
                serial: rand::random(),
                ..self.template
            },
        }
    }

    /// The header value allowing `cumulative` bytes in all under this download's serial.
    pub fn header(&self, cumulative: u64) -> String {
        let order = EgressOrder {
            bytes: cumulative,
            ..self.template
        };
        hex::encode(order.sign(&self.signer.chain_id, &self.signer.key).to_bytes())
    }
}
