//! Transaction gossip: a transaction submitted to any validator reaches every mempool, so
//! whoever leads the next view can include it.
//!
//! Validators are fully connected, so one hop suffices: a node sends what its clients submit to
//! all peers and admits what peers send without passing it on. A transaction is admitted under
//! the same mempool rules as a client's; signatures are checked when a block is built or
//! verified, like for client submissions.

use commonware_p2p::{Receiver, Recipients, Sender};
use commonware_runtime::{Handle, Spawner};
use futures::{FutureExt as _, StreamExt as _};
use trellis_chain::Node;
use trellis_ledger::{tx::MAX_TX_BYTES, Transaction};
use trellis_primitives::codec::Encode as _;

/// Largest gossip message: one transaction.
pub const MAX_TX_MESSAGE: usize = MAX_TX_BYTES;

/// Runs gossip for `node` on `channel` until aborted or the network closes.
pub fn start<E, S, R>(context: E, node: Node, channel: (S, R)) -> Handle<()>
where
    E: Spawner,
    S: Sender<PublicKey = commonware_cryptography::ed25519::PublicKey>,
    R: Receiver<PublicKey = commonware_cryptography::ed25519::PublicKey>,
{
    let (mut sender, mut receiver) = channel;
    context.spawn(move |_| async move {
        let mut submitted = tokio_stream::wrappers::BroadcastStream::new(node.subscribe_admitted()).fuse();
        loop {
            futures::select! {
                tx = submitted.next() => match tx {
                    Some(Ok(tx)) => {
                        sender.send(Recipients::All, tx.to_bytes(), false);
                    }
                    Some(Err(lagged)) => tracing::warn!(%lagged, "gossip fell behind; some transactions only reach blocks this node proposes"),
                    None => return,
                },
                message = receiver.recv().fuse() => match message {
                    Ok((peer, bytes)) => admit(&node, &peer, bytes.as_ref()),
                    Err(error) => {
                        tracing::info!(%error, "gossip channel closed");
                        return;
                    }
                },
            }
        }
    })
}

fn admit(node: &Node, peer: &commonware_cryptography::ed25519::PublicKey, bytes: &[u8]) {
    match Transaction::decode_untrusted(bytes) {
        Ok(tx) => {
            if let Err(error) = node.submit_gossiped(tx) {
                tracing::trace!(%peer, %error, "gossiped transaction not admitted");
            }
        }
        Err(error) => tracing::debug!(%peer, %error, "undecodable gossip"),
    }
}
